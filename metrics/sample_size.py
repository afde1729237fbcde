"""How many samples a metric needs: its spread and its ranking of configurations against the sample size.

Features are computed once (real ``[R, d]``; one ``[M_c, d]`` per configuration: distortion strengths, a grid's
runs); subsets are drawn from them. For each N in 16, 32, 64, ... (at most half of the smallest side, so repeated
draws without replacement still differ) and each of ``repeats`` draws: every configuration's value on N fake
against N real rows. Reported per (metric, N):

* ``rel_std``: the median over configurations of std/|mean| across the draws (the median, because a configuration
  whose value is near 0, e.g. KVD of the undistorted one, has an unbounded ratio);
* ``tau``: the mean over draws of Kendall's τ between the configurations' order at N and their order at the
  largest N (mean values);
* ``rank_deficient`` and ``rank`` (Gaussian metrics, FVD/FID): N ≤ d, so the N-sample covariance has rank ≤ N − 1
  < d (``rank``: the mean numerical rank of the real subsets' covariance). The distance is then still defined (both
  covariances are PSD) but it compares Gaussians on a degenerate subspace: it is biased upward, grows as N falls
  and cannot be compared with the full-size number (``metrics.stats.RANK_NOTE``).

``n_stable`` is the smallest N from which on ``rel_std`` ≤ 2 % and ``tau`` ≥ 0.9 (None if no N qualifies).

A metric joins the study by registering how to get its features and its estimator on two feature sets
(``register_study_features``, ``register_study_metric``): e.g. JEDi as
``register_study_features("vjepa_16f", FeatureSpec("vjepa_ssv2", 16))`` and
``register_study_metric("jedi", features="vjepa_16f", estimator=jedi_of_features)``. ``benchmarks/audit/
sample_size.py`` computes each registered feature set once per side through the detector cache and runs
``study`` on it; ``sgvb sample-size`` is its command.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .kid import kernel_distance
from .kvd import polynomial_mmd2
from .prdc import prdc
from .stats import frechet_distance_features

Estimator = Callable[[np.ndarray, np.ndarray], "float | dict[str, float]"]


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """How one row per item is made: ``detector`` (a ``metrics.detectors`` spec) on clips of ``num_frames`` frames,
    or on single frames (``num_frames=None``: ``frames_per_clip`` frames spread over each clip)."""

    detector: Any
    num_frames: int | None = 16

    @property
    def video(self) -> bool:
        return self.num_frames is not None


@dataclasses.dataclass(frozen=True)
class StudyMetric:
    """A metric as the study sees it: the feature set it reads, its estimator ``fn(fake_rows, real_rows)`` (a number,
    or a dict: rows ``<name>_<key>``), whether it fits Gaussians (rank deficiency reported) and a regular expression
    of the record result keys it stands for (so a table can put N_stable beside them)."""

    features: str
    estimator: Estimator
    gaussian: bool = False
    results: str = ""


STUDY_FEATURES: dict[str, FeatureSpec] = {}
STUDY_METRICS: dict[str, StudyMetric] = {}


def register_study_features(name: str, spec: FeatureSpec) -> FeatureSpec:
    STUDY_FEATURES[name] = spec
    return spec


def register_study_metric(
    name: str, *, features: str, estimator: Estimator, gaussian: bool = False, results: str = ""
) -> StudyMetric:
    if features not in STUDY_FEATURES:
        raise ValueError(
            f"study metric '{name}': unknown feature set '{features}'; register it with register_study_features "
            f"(known: {', '.join(STUDY_FEATURES)})"
        )
    metric = STUDY_METRICS[name] = StudyMetric(features, estimator, gaussian, results)
    return metric


def study_metric(name: str) -> StudyMetric:
    if name not in STUDY_METRICS:
        raise ValueError(f"metrics: unknown study metric '{name}'; choose among {', '.join(STUDY_METRICS)}")
    return STUDY_METRICS[name]


def fd(fake: np.ndarray, real: np.ndarray) -> float:
    """Fréchet distance of two feature sets (1/(N−1) covariances; exact at any rank, ``frechet_distance_features``)."""
    return frechet_distance_features(fake, real)


def kid_estimate(fake: np.ndarray, real: np.ndarray) -> float:
    """KID's estimator (``metrics.kid.kernel_distance``) on the whole draw: one subset of all N rows per side (KID
    itself uses subsets of min(N, 1000), so at N ≤ 1000 every one of its subsets is this set)."""
    n = min(len(fake), len(real))
    return kernel_distance(fake, real, num_subsets=1, max_subset_size=n, seed=0)


def prdc_scores(fake: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Precision, recall (k = 3), density, coverage (k = 5): one k-NN pass gives the four."""
    return prdc(real, fake)


register_study_features("i3d_16f", FeatureSpec("i3d", 16))
register_study_features("inception_frames", FeatureSpec("inception", None))
register_study_metric("fvd", features="i3d_16f", estimator=fd, gaussian=True, results=r"fvd\d+k?_\d+f(_subsample\d+f)?")
register_study_metric("fid", features="inception_frames", estimator=fd, gaussian=True, results=r"fid\d+k?(_full)?")
register_study_metric("kid", features="inception_frames", estimator=kid_estimate, results=r"kid\d+k?_full")
register_study_metric("kvd", features="i3d_16f", estimator=polynomial_mmd2, results=r"kvd\d+k?_\d+f")
register_study_metric("prdc", features="i3d_16f", estimator=prdc_scores, results=r"prdc\d+k?_\d+f")

# The plain feature-level definitions (name -> estimator), for ``study`` on features the caller already has.
METRIC_FUNCTIONS: dict[str, Estimator] = {"fd": fd, "kvd": polynomial_mmd2, "prdc": prdc_scores}


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


def _covariance_rank(rows: np.ndarray) -> int:
    """Rank of the covariance of ``rows`` [N, d] = rank of the centred rows (an N×N problem when N < d)."""
    centred = rows - rows.mean(0)
    small = centred @ centred.T if centred.shape[0] < centred.shape[1] else centred.T @ centred
    w = np.linalg.eigvalsh(small)
    return int((w > max(small.shape) * np.finfo(np.float64).eps * max(float(w.max()), 1e-300)).sum())


def study(
    real: np.ndarray,
    fakes: Mapping[str, np.ndarray],
    metrics: Mapping[str, StudyMetric | Estimator] | None = None,
    *,
    sizes: list[int] | None = None,
    repeats: int = 5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (metric, N): ``mean`` per configuration, ``rel_std``, ``tau``, ``rank_deficient``, ``rank``.

    ``metrics``: name -> ``StudyMetric`` or a bare estimator fn(fake_rows, real_rows) returning a number or a dict of
    numbers (rows ``<name>_<key>``); a bare estimator named ``fd`` counts as Gaussian. Every metric sees the same
    index draws (differences between metrics are not sampling noise), and each draw's real rows are shared by all
    configurations."""
    metrics = dict(metrics or METRIC_FUNCTIONS)
    if len(fakes) < 2:
        raise ValueError(f"the sample-size study ranks configurations: give at least 2, got {len(fakes)}")
    if repeats < 2:
        raise ValueError(f"repeats: the spread over draws needs at least 2, got {repeats}")
    real = np.asarray(real, np.float64)
    fakes = {name: np.asarray(f, np.float64) for name, f in fakes.items()}
    available = min([len(real)] + [len(f) for f in fakes.values()])
    sizes = sorted(sizes or default_sizes(available))
    if sizes[0] < 2 or sizes[-1] > available:
        raise ValueError(f"sizes: each N must be in [2, {available}] (the smallest side), got {sizes}")
    rng = np.random.RandomState(seed)
    draws = {
        (n, r): (
            rng.choice(len(real), n, replace=False),
            {c: rng.choice(len(f), n, replace=False) for c, f in fakes.items()},
        )
        for n in sizes
        for r in range(repeats)
    }
    dim = real.shape[1]
    gaussian = {name: (m.gaussian if isinstance(m, StudyMetric) else name == "fd") for name, m in metrics.items()}
    values: dict[str, dict[int, np.ndarray]] = {}  # key -> N -> [repeats, configs]
    family: dict[str, str] = {}
    with threadpool_limits(limits=1, user_api="blas"):  # small products: threads cost more than they gain
        ranks = {n: float(np.mean([_covariance_rank(real[draws[n, r][0]]) for r in range(repeats)])) for n in sizes}
        _fill(values, family, metrics, fakes, real, draws, sizes, repeats)
    rows = []
    for name, by_n in values.items():
        final = by_n[sizes[-1]].mean(0)
        for n in sizes:
            v = by_n[n]
            mean, std = v.mean(0), v.std(0, ddof=1)
            rel = np.where(std == 0, 0.0, std / np.where(mean == 0, np.nan, np.abs(mean)))
            is_gaussian = gaussian[family[name]]
            rows.append(
                {
                    "metric": name,
                    "n": n,
                    "rel_std": float(np.nanmedian(np.where(np.isnan(rel), np.inf, rel))),
                    "tau": float(np.mean([_kendall_tau(v[r], final) for r in range(repeats)])),
                    "rank_deficient": bool(is_gaussian and ranks[n] < dim),
                    "rank": ranks[n] if is_gaussian else None,
                    "dim": dim,
                    "mean": {c: float(m) for c, m in zip(fakes, mean)},
                }
            )
    return rows


def _fill(values, family, metrics, fakes, real, draws, sizes, repeats) -> None:
    """values[key][N][r, j] = metric on draw r of configuration j at N (``family``: key -> its metric)."""
    for metric, spec in metrics.items():
        fn = spec.estimator if isinstance(spec, StudyMetric) else spec
        for n in sizes:
            for r in range(repeats):
                real_rows, fake_rows = draws[n, r]
                real_n = real[real_rows]  # one real subset per draw, shared by every configuration
                for j, (c, f) in enumerate(fakes.items()):
                    out = fn(f[fake_rows[c]], real_n)
                    for key, value in out.items() if isinstance(out, Mapping) else [(None, out)]:
                        name = metric if key is None else f"{metric}_{key}"
                        family[name] = metric
                        grid = values.setdefault(name, {}).setdefault(n, np.zeros((repeats, len(fakes))))
                        grid[r, j] = value


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
    """The curves as CSV: metric, n, rel_std, tau, rank_deficient, rank, dim, then one mean column per configuration
    (rows of several feature sets may hold different configurations: the union, empty where absent)."""
    path = Path(path)
    configs = list(dict.fromkeys(c for r in rows for c in r["mean"]))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "n", "rel_std", "tau", "rank_deficient", "rank", "dim", *[f"mean[{c}]" for c in configs]])
        for r in rows:
            rank = r.get("rank")
            w.writerow(
                [
                    r["metric"],
                    r["n"],
                    r["rel_std"],
                    r["tau"],
                    int(r["rank_deficient"]),
                    "" if rank is None else rank,
                    r.get("dim", ""),
                    *[r["mean"].get(c, "") for c in configs],
                ]
            )
    return path


def result_keys_pattern(metric: str) -> str:
    """The record result keys a study row stands for: a registered metric's ``results``, with the row's key
    (``prdc_coverage`` -> ``prdc..._coverage``); '' when unknown."""
    base = next(
        (m for m in sorted(STUDY_METRICS, key=len, reverse=True) if metric in (m,) or metric.startswith(m + "_")), None
    )
    if base is None or not STUDY_METRICS[base].results:
        return ""
    key = metric[len(base) + 1 :]
    return f"^{STUDY_METRICS[base].results}" + (f"_{re.escape(key)}$" if key else "$")


def plot(rows: list[dict[str, Any]], path: str | Path, *, max_rel_std: float = 0.02, min_tau: float = 0.9) -> Path:
    """rel_std and tau against N, one line per metric (log-2 N axis), with the two thresholds; rank-deficient points
    of Gaussian metrics hollow."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for metric in dict.fromkeys(r["metric"] for r in rows):
        mine = sorted((r for r in rows if r["metric"] == metric), key=lambda r: r["n"])
        ns = [r["n"] for r in mine]
        (line,) = a.plot(ns, [max(r["rel_std"], 1e-6) for r in mine], marker="o", label=metric)
        b.plot(ns, [r["tau"] for r in mine], marker="o", color=line.get_color(), label=metric)
        short = [r for r in mine if r["rank_deficient"]]
        if short:
            a.plot(
                [r["n"] for r in short],
                [max(r["rel_std"], 1e-6) for r in short],
                "o",
                mfc="white",
                color=line.get_color(),
            )
    for ax, y, title in (
        (a, max_rel_std, "relative std over draws (median over configurations)"),
        (b, min_tau, "Kendall τ of the configurations vs the largest N"),
    ):
        ax.axhline(y, color="gray", linestyle="--")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (samples per side)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    a.set_yscale("log")
    b.set_ylim(-1.05, 1.05)
    b.legend(fontsize=7, ncol=2)
    if any(r["rank_deficient"] for r in rows):
        a.text(0.01, 0.01, "hollow: covariance rank < d (N ≤ d)", transform=a.transAxes, fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
