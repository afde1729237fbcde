"""N_stable beside a metric's value: the reader of ``n_stable.json``, which ``sgvb sample-size`` writes.

The file holds, per study metric (``fvd``, ``fid``, ``kid``, ``kvd``, ``prdc_precision``...), its N_stable (the
smallest N with relative std ≤ 2 % and Kendall τ ≥ 0.9, or null), the largest N tried, where the covariance stops
being rank-deficient, the detector it used and ``result_keys``: a regular expression of the metric-record result keys
it stands for (``^fvd\\d+k?_\\d+f...$``). ``n_stable_for(key, report)`` answers for one result key (``fvd2048_16f``,
``prdc2048_16f_coverage``); ``add_n_stable(table, report)`` adds the ``n_stable`` column to any table with a ``key``
column (the comparison and tidy CSVs of ``sgvb table``). No torch: tables read it without the metrics package.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

FORMAT = "sgvb-sample-size"


def read_n_stable(path: str | os.PathLike) -> dict[str, Any]:
    """The study's ``n_stable.json``; one-line errors for a missing or foreign file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"n_stable: '{p}' does not exist (sgvb sample-size writes <out_dir>/n_stable.json)")
    try:
        report = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"n_stable: '{p}' is not JSON ({exc})") from None
    if not isinstance(report, dict) or report.get("format") != FORMAT or not isinstance(report.get("metrics"), dict):
        raise ValueError(f"n_stable: '{p}' is not an n_stable.json written by `sgvb sample-size`")
    return report


def n_stable_for(key: str, report: dict[str, Any]) -> int | None:
    """N_stable of the study metric whose ``result_keys`` match the record result key ``key`` (None: none does, or
    the study did not reach stability)."""
    for entry in report["metrics"].values():
        pattern = entry.get("result_keys") or ""
        if pattern and re.fullmatch(pattern.lstrip("^").rstrip("$"), key):
            return entry.get("n_stable")
    return None


def add_n_stable(table, report: dict[str, Any]):
    """``table`` (a pandas DataFrame with a ``key`` column) with an ``n_stable`` column beside it."""
    values = [n_stable_for(str(k), report) if isinstance(k, str) else None for k in table["key"]]
    out = table.copy()
    out.insert(list(out.columns).index("key") + 1, "n_stable", pd_nullable(values))
    return out


def pd_nullable(values: list[int | None]):
    import pandas as pd

    return pd.array(values, dtype="Int64")
