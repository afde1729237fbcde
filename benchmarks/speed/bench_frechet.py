"""Fréchet distance speed: the default method against the official ``scipy.linalg.sqrtm`` formula, in one process.

    python -m benchmarks.speed.bench_frechet [--dim 2048] [--num 4096] [--repeats 3] [--subsets 8]

Post-ReLU correlated synthetic features, N per side. Timed (median of ``--repeats``), all on the same inputs:

* ``sqrtm``: ``frechet_distance_scipy`` (StyleGAN-V's formula; scipy's BLAS threads as the caller has them);
* ``before``: the previous default (OpenBLAS ``dtrmm`` x2 + ``eigvalsh(driver="evd")``, the real factor cached),
  kept here to measure the change;
* ``ours first``: ``frechet_distance`` with an empty factor cache (the real side's Cholesky factor included);
* ``ours repeated``: the factor cached (every later evaluation against the same real statistics);
* ``subsets``: ``--subsets`` generated subsets of N/2 rows against one real side (what the sample-size study
  draws): the real factor is made once and shared, each subset costs one congruence and one eigenvalue problem.

Prints the load average before and after (ratios are only comparable between equally loaded runs: state it), the
CPU, core count, BLAS threads and versions, and the relative difference of every value to sqrtm's.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np


def features(num: int, dim: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(0).normal(size=(dim, dim)) / np.sqrt(dim)
    return np.maximum(rng.normal(size=(num, dim)) @ mix + shift, 0)


def median_time(fn, repeats: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def before(m1, c1, m2, c2, factor) -> float:
    """The previous default's per-evaluation work (OpenBLAS triangular products, LAPACK ``syevd``), factor given."""
    from scipy.linalg import blas, eigvalsh

    from metrics.stats import _fixed_blas_threads

    with _fixed_blas_threads(c1.shape[0]):
        m = blas.dtrmm(1.0, factor, blas.dtrmm(1.0, factor, c1, side=1, lower=1), side=0, lower=1, trans_a=1)
        eig = eigvalsh((m + m.T) / 2, driver="evd", check_finite=False)
    diff = m1 - m2
    return float(diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * np.sqrt(np.clip(eig, 0, None)).sum())


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--num", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--subsets", type=int, default=8)
    p.add_argument("--no-scipy", action="store_true", help="skip sqrtm (10+ s per call at 2048-d)")
    args = p.parse_args(argv)

    import scipy
    import torch

    from metrics import stats
    from metrics.stats import frechet_distance, frechet_distance_scipy

    load_before = os.getloadavg()
    a, b = features(args.num, args.dim, 1), features(args.num, args.dim, 2, shift=0.05)
    m1, c1, m2, c2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    frechet_distance(m1[:8], c1[:8, :8], m2[:8], c2[:8, :8])  # warm-up: thread pools, libraries

    def first():
        stats._FACTORS.clear()
        return frechet_distance(m1, c1, m2, c2)

    t_first, v_first = median_time(first, args.repeats)
    t_again, v_again = median_time(lambda: frechet_distance(m1, c1, m2, c2), args.repeats)
    factor = stats.real_factor(c2).factor
    t_before, v_before = median_time(lambda: before(m1, c1, m2, c2, factor), args.repeats)
    half = args.num // 2
    subsets = [features(half, args.dim, 10 + k) for k in range(args.subsets)]
    subset_stats = [(s.mean(0), np.cov(s, rowvar=False)) for s in subsets]
    stats._FACTORS.clear()
    t0 = time.perf_counter()
    for mu, cov in subset_stats:
        frechet_distance(mu, cov, m2, c2)
    t_subsets = time.perf_counter() - t0
    t_ref, v_ref = (
        (None, None) if args.no_scipy else median_time(lambda: frechet_distance_scipy(m1, c1, m2, c2), args.repeats)
    )
    load_after = os.getloadavg()

    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores; Fréchet BLAS threads {stats.blas_threads(args.dim)}; "
        f"torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}"
    )
    print(f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min)")
    print(f"d = {args.dim}, N = {args.num} per side, median of {args.repeats}:")
    rows = [
        ("ours, first (real factor made)", t_first, v_first),
        ("ours, repeated (real factor cached)", t_again, v_again),
        ("before: dtrmm x2 + syevd (factor cached)", t_before, v_before),
    ]
    if t_ref is not None:
        rows.append(("official scipy.linalg.sqrtm", t_ref, v_ref))
    for name, t, v in rows:
        ratio = f"  {t / t_ref:.3f}x sqrtm" if t_ref else ""
        diff = f"  rel.diff to sqrtm {abs(v - v_ref) / abs(v_ref):.1e}" if t_ref else ""
        print(f"  {name:<42} {t:8.3f} s{ratio}{diff}")
    print(
        f"  {args.subsets} subsets of {half} rows vs one real side (factor made once, shared): {t_subsets:.3f} s, "
        f"{t_subsets / args.subsets:.3f} s per subset"
    )


if __name__ == "__main__":
    main()
