"""Which checkpoint of each run a table reports: the last one, or the best by a metric key (``--select``)."""

from __future__ import annotations

import math
import warnings

import pandas as pd

from benchmarks.tables import TableError
from benchmarks.tables.labels import is_nan

__all__ = ["parse_select", "select_checkpoints"]


def parse_select(select: str) -> tuple[str, str | None, bool]:
    """``final`` | ``best:<key>`` (lowest) | ``best:<key>:max`` (highest) -> (mode, key, maximise)."""
    if select == "final":
        return "final", None, False
    parts = select.split(":")
    if parts[0] == "best" and len(parts) in (2, 3) and parts[1] and (len(parts) == 2 or parts[2] in ("min", "max")):
        return "best", parts[1], len(parts) == 3 and parts[2] == "max"
    raise TableError(
        f"--select '{select}' is not understood; use 'final', 'best:<metric key>' or 'best:<metric key>:max'"
    )


def select_checkpoints(tidy: pd.DataFrame, select: str = "final") -> pd.DataFrame:
    """Mark (``selected`` column) the rows of one checkpoint per run: the last one, or the best by a metric key.

    ``best:<key>`` matches a result key or a metric name (its headline key); lower is better unless ``:max``.
    A run without that key falls back to its final checkpoint, with a warning.
    """
    mode, key, maximise = parse_select(select)
    tidy = tidy.copy()
    tidy["selected"] = False
    if mode == "best" and not ((tidy["key"] == key) | ((tidy["metric"] == key) & tidy["headline"])).any():
        known = sorted(set(tidy["key"].dropna()))
        raise TableError(
            f"--select best:{key}: no run has metric key '{key}'; keys found: {', '.join(known) or 'none'}"
        )
    missing = []
    for _, rows in tidy[tidy["key"].notna()].groupby("run_dir", sort=False):
        kimgs = rows["kimg"]
        chosen = kimgs.max() if kimgs.notna().any() else math.nan
        if mode == "best":
            scored = rows[((rows["key"] == key) | ((rows["metric"] == key) & rows["headline"])) & rows["value"].notna()]
            if len(scored):
                best = scored["value"].idxmax() if maximise else scored["value"].idxmin()
                chosen = scored.at[best, "kimg"]
            else:
                missing.append(rows["run"].iloc[0])
        at = rows.index[rows["kimg"].isna()] if is_nan(chosen) else rows.index[rows["kimg"] == chosen]
        tidy.loc[at, "selected"] = True
    if missing:
        warnings.warn(
            f"--select best:{key}: {len(missing)} run(s) have no '{key}'; using their final checkpoint: "
            + ", ".join(missing),
            stacklevel=2,
        )
    return tidy
