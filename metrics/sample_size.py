"""How many samples a metric needs: its spread and its ranking of configurations against the sample size.

Features are computed once (real ``[R, d]``; one ``[M_c, d]`` per configuration: distortion strengths, a grid's
runs); subsets are drawn from them. For each N in 16, 32, 64, ... (at most half of the smallest side, so repeated
draws without replacement still differ) and each of ``repeats`` draws: every configuration's value on N fake
against N real rows. Reported per (metric, N):

* ``rel_std``: the median over configurations of std/|mean| across the draws (the median, because a configuration
  whose value is near 0, e.g. KVD of the undistorted one, has an unbounded ratio);
* ``tau``: the mean over draws of Kendall's τ between the configurations' order at N and their order at the
  largest N (mean values);
* ``rank_deficient`` (Fréchet distances): N ≤ d, so the N-sample covariance has rank ≤ N − 1 < d. The distance is
  then still defined (both covariances are PSD) but it measures the Gaussians of a degenerate subspace: it is
  dominated by the trace terms, grows as N falls and cannot be compared with the full-size number.

``n_stable`` is the smallest N from which on ``rel_std`` ≤ 2 % and ``tau`` ≥ 0.9 (None if no N qualifies).
``METRIC_FUNCTIONS`` holds the feature-level definitions: ``fd`` (the Fréchet distance, unbiased covariance),
``kvd`` (``metrics.kvd.polynomial_mmd2``) and ``prdc`` (``metrics.prdc.prdc``: rows ``prdc_precision``, ...).
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .kvd import polynomial_mmd2
from .prdc import prdc
from .stats import frechet_distance


def fd(fake: np.ndarray, real: np.ndarray) -> float:
    """Fréchet distance of two feature sets (1/(N−1) covariances), warnings of a rank-deficient fit silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return frechet_distance(
            fake.mean(0), np.cov(fake, rowvar=False), real.mean(0), np.cov(real, rowvar=False), device="cpu"
        )


def prdc_scores(fake: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Precision, recall (k = 3), density, coverage (k = 5): one k-NN pass gives the four."""
    return prdc(real, fake)


METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float | dict[str, float]]] = {
    "fd": fd,
    "kvd": polynomial_mmd2,
    "prdc": prdc_scores,
}


def default_sizes(available: int, start: int = 16) -> list[int]:
    """16, 32, 64, ... up to half of ``available``."""
    sizes, n = [], start
    while n <= available // 2:
        sizes.append(n)
        n *= 2
    if not sizes:
        raise ValueError(f"the sample-size study needs at least {2 * start} samples per side, have {available}")
    return sizes


def _kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    tau = kendalltau(a, b).statistic
    return float(tau) if np.isfinite(tau) else 0.0


def study(
    real: np.ndarray,
    fakes: Mapping[str, np.ndarray],
    metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], Any]] | None = None,
    *,
    sizes: list[int] | None = None,
    repeats: int = 5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (metric, N): ``mean`` per configuration, ``rel_std``, ``tau``, ``rank_deficient``.

    ``metrics``: name -> fn(fake_rows, real_rows) returning a number, or a dict of numbers (rows ``<name>_<key>``)."""
    metrics = dict(metrics or METRIC_FUNCTIONS)
    if len(fakes) < 2:
        raise ValueError(f"the sample-size study ranks configurations: give at least 2, got {len(fakes)}")
    real = np.asarray(real, np.float64)
    fakes = {name: np.asarray(f, np.float64) for name, f in fakes.items()}
    sizes = sizes or default_sizes(min([len(real)] + [len(f) for f in fakes.values()]))
    rng = np.random.RandomState(seed)
    draws = {  # the same index draws for every metric: differences between metrics are not sampling noise
        (n, r): (
            rng.choice(len(real), n, replace=False),
            {c: rng.choice(len(f), n, replace=False) for c, f in fakes.items()},
        )
        for n in sizes
        for r in range(repeats)
    }
    values: dict[str, dict[int, np.ndarray]] = {}  # key -> N -> [repeats, configs]
    for metric, fn in metrics.items():
        for n in sizes:
            for r in range(repeats):
                real_rows, fake_rows = draws[n, r]
                for j, (c, f) in enumerate(fakes.items()):
                    out = fn(f[fake_rows[c]], real[real_rows])
                    for key, value in out.items() if isinstance(out, Mapping) else [(None, out)]:
                        name = metric if key is None else f"{metric}_{key}"
                        grid = values.setdefault(name, {}).setdefault(n, np.zeros((repeats, len(fakes))))
                        grid[r, j] = value
    rows = []
    for name, by_n in values.items():
        final = by_n[sizes[-1]].mean(0)
        for n in sizes:
            v = by_n[n]
            mean, std = v.mean(0), (v.std(0, ddof=1) if repeats > 1 else np.zeros(v.shape[1]))
            rel = np.where(std == 0, 0.0, std / np.where(mean == 0, np.nan, np.abs(mean)))
            rows.append(
                {
                    "metric": name,
                    "n": n,
                    "rel_std": float(np.nanmedian(np.where(np.isnan(rel), np.inf, rel))),
                    "tau": float(np.mean([_kendall_tau(v[r], final) for r in range(repeats)])),
                    "rank_deficient": name == "fd" and n <= real.shape[1],
                    "mean": {c: float(m) for c, m in zip(fakes, mean)},
                }
            )
    return rows


def n_stable(rows: list[dict[str, Any]], *, max_rel_std: float = 0.02, min_tau: float = 0.9) -> dict[str, int | None]:
    """Per metric: the smallest N from which on (every larger N too) rel_std ≤ ``max_rel_std`` and tau ≥ ``min_tau``."""
    out: dict[str, int | None] = {}
    for metric in dict.fromkeys(r["metric"] for r in rows):
        mine = sorted((r for r in rows if r["metric"] == metric), key=lambda r: r["n"])
        stable = None
        for r in reversed(mine):
            if r["rel_std"] <= max_rel_std and r["tau"] >= min_tau:
                stable = r["n"]
            else:
                break
        out[metric] = stable
    return out


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """The curves as CSV: metric, n, rel_std, tau, rank_deficient, then one mean column per configuration."""
    path = Path(path)
    configs = list(rows[0]["mean"]) if rows else []
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "n", "rel_std", "tau", "rank_deficient", *[f"mean[{c}]" for c in configs]])
        for r in rows:
            w.writerow([r["metric"], r["n"], r["rel_std"], r["tau"], int(r["rank_deficient"]), *r["mean"].values()])
    return path


def plot(rows: list[dict[str, Any]], path: str | Path, *, max_rel_std: float = 0.02, min_tau: float = 0.9) -> Path:
    """rel_std and tau against N, one line per metric (log-2 N axis), with the two thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for metric in dict.fromkeys(r["metric"] for r in rows):
        mine = sorted((r for r in rows if r["metric"] == metric), key=lambda r: r["n"])
        ns = [r["n"] for r in mine]
        a.plot(ns, [r["rel_std"] for r in mine], marker="o", label=metric)
        b.plot(ns, [r["tau"] for r in mine], marker="o", label=metric)
    for ax, y, title in (
        (a, max_rel_std, "relative std (max over configurations)"),
        (b, min_tau, "Kendall τ vs largest N"),
    ):
        ax.axhline(y, color="gray", linestyle="--")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (samples per side)")
        ax.set_title(title)
    a.set_yscale("log")
    b.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
