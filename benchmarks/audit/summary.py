"""What a response table says about each metric: monotone response per distortion, and content bias.

Input: the long-form audit table, one row per (metric, distortion, strength) with ``value`` and the
metric's ``noise_floor`` (its value at strength 0, the undistorted test half against the reference half).

  * per (metric, distortion): Spearman rank correlation of value vs strength over all strengths
    including 0 (1 = rises monotonically; undefined, so NaN, when the value never changes), the mean
    response ``mean_{s > 0}(value - floor)`` and the response at the largest strength;
  * per metric: the mean response to spatial and to temporal distortions and their ratio
    ``spatial / temporal`` (the content bias of Ge et al., CVPR 2024: > 1 means the metric moves more
    for per-frame damage than for broken motion, at the strengths chosen). The ratio is in the metric's
    own units over its own units, so metrics compare; it is refused (NaN) when the temporal response is
    not above the floor, where it would have no meaning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

TABLE_COLUMNS = [
    "metric",
    "distortion",
    "family",
    "strength",
    "parameter_name",
    "parameter",
    "value",
    "noise_floor",
    "n",
    "stand_in",
]


def spearman(strengths: np.ndarray, values: np.ndarray) -> float:
    """Rank correlation; NaN when either side is constant (no response has no direction)."""
    strengths, values = np.asarray(strengths, dtype=float), np.asarray(values, dtype=float)
    if len(values) < 2 or np.ptp(values) == 0 or np.ptp(strengths) == 0:
        return float("nan")
    return float(spearmanr(strengths, values).statistic)


def per_distortion(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (metric, distortion), group in table.groupby(["metric", "distortion"], sort=False):
        group = group.sort_values("strength")
        floor = float(group["noise_floor"].iloc[0])
        distorted = group[group["strength"] > 0]
        rows.append(
            {
                "metric": metric,
                "distortion": distortion,
                "family": group["family"].iloc[0],
                "spearman": spearman(group["strength"].to_numpy(), group["value"].to_numpy()),
                "response": float((distorted["value"] - floor).mean()) if len(distorted) else float("nan"),
                "response_at_max": float(group["value"].iloc[-1] - floor),
                "noise_floor": floor,
                "strengths": len(group),
            }
        )
    return pd.DataFrame(rows)


def per_metric(by_distortion: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for metric, group in by_distortion.groupby("metric", sort=False):
        spatial = group.loc[group["family"] == "spatial", "response"]
        temporal = group.loc[group["family"] == "temporal", "response"]
        s = float(spatial.mean()) if len(spatial) else float("nan")
        t = float(temporal.mean()) if len(temporal) else float("nan")
        temporal_rho = group.loc[group["family"] == "temporal", "spearman"]
        rows.append(
            {
                "metric": metric,
                "spatial_response": s,
                "temporal_response": t,
                "spatial_temporal_ratio": s / t if np.isfinite(s) and np.isfinite(t) and t > 0 else float("nan"),
                "temporal_monotone": int((temporal_rho >= 1 - 1e-9).sum()),
                "temporal_distortions": int(len(temporal_rho)),
                "mean_temporal_spearman": float(temporal_rho.mean()) if len(temporal_rho) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def normalised_response(table: pd.DataFrame) -> pd.Series:
    """(value - floor) / the metric's largest |value - floor| over the whole table: every metric on one [-1, 1] axis."""
    delta = table["value"] - table["noise_floor"]
    scale = delta.abs().groupby(table["metric"]).transform("max")
    return delta / scale.where(scale > 0)


def markdown(by_distortion: pd.DataFrame, by_metric: pd.DataFrame) -> str:
    """Two Markdown tables: Spearman per distortion (rows) and metric (columns), then the per-metric summary."""
    metrics = list(dict.fromkeys(by_distortion["metric"]))
    rho = {(r["distortion"], r["metric"]): r["spearman"] for _, r in by_distortion.iterrows()}
    lines = [
        "| family | distortion | " + " | ".join(f"ρ {m}" for m in metrics) + " |",
        "|---|---|" + "---:|" * len(metrics),
    ]
    for _, (family, distortion) in by_distortion[["family", "distortion"]].drop_duplicates().iterrows():
        lines.append(
            f"| {family} | {distortion} | "
            + " | ".join(_fmt(rho.get((distortion, m), float("nan")), 2) for m in metrics)
            + " |"
        )
    lines += [
        "",
        "| metric | spatial response | temporal response | spatial / temporal | temporal monotone (ρ = 1) |",
        "|---|---:|---:|---:|---:|",
    ]
    for _, r in by_metric.iterrows():
        lines.append(
            f"| {r['metric']} | {_fmt(r['spatial_response'], 4)} | {_fmt(r['temporal_response'], 4)} | "
            f"{_fmt(r['spatial_temporal_ratio'], 2)} | {r['temporal_monotone']} / {r['temporal_distortions']} |"
        )
    return "\n".join(lines) + "\n"


def _fmt(value: float, digits: int) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"
