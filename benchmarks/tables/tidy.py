"""The long-form ("tidy") table: one row per run x evaluation (kimg) x metric key.

Each row holds the run's columns (status, error, the components it built, the configuration keys that differ
between the runs), the record's columns (kimg, checkpoint, metric, key, value, the protocol id and fields,
stand-in and short-count flags) and ``selected`` (set by ``benchmarks.tables.selection``). A run without
records gets one row saying how it stands. Every later view (comparison, Markdown, plots) reads this table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchmarks.records.run_folder import RUN_LOCAL_KEYS, group_hash  # the one run identity
from benchmarks.tables.runs import Run

if TYPE_CHECKING:
    from metrics.records import MetricRecord

__all__ = ["PROTOCOL_COLUMNS", "RECORD_COLUMNS", "RUN_TAIL", "record_rows", "tidy_table", "varying_config_keys"]

# protocol field in the metric record -> CSV column
PROTOCOL_COLUMNS = {
    "num_real": "num_real",
    "num_fake": "num_fake",
    "frames": "frames",
    "subsample": "subsample",
    "resolution": "eval_resolution",
    "detector": "detector",
    "detector_sha256": "detector_sha256",
    "stand_in": "stand_in",
    "mode": "mode",
    "seed": "eval_seed",
    "num_runs": "num_runs",
}
RECORD_COLUMNS = [
    "kimg",
    "checkpoint",
    "metric",
    "key",
    "headline",
    "value",
    "value_std",
    "selected",
    "protocol_id",
    *PROTOCOL_COLUMNS.values(),
    "short_count",
    "wall_time_s",
    "timestamp",
    "artifacts",
]
RUN_TAIL = ["config_hash", "group", "package_version", "run_dir"]


def tidy_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run x evaluation x metric key (one row with empty metric for a run without records)."""
    varying = varying_config_keys(runs)
    rows = []
    choice_names: dict[str, None] = {}
    for run in runs:
        columns = run_columns(run)
        choice_names.update(dict.fromkeys(choice_columns(run)))
        columns.update({key: _cell(run.config.get(key)) for key in varying})
        rows_of_run = [r for record in run.records for r in record_rows(record, run.path)]
        if not rows_of_run:
            rows.append(dict(columns, kimg=math.nan, headline=False, value=math.nan, stand_in=False, short_count=False))
        for row in rows_of_run:
            rows.append({**columns, **row})
    df = pd.DataFrame(rows)
    for column in RECORD_COLUMNS:
        if column not in df:
            df[column] = None
    # A metric evaluated twice at one checkpoint with one protocol: keep the later record.
    signature = ["run_dir", "kimg", "metric", "key", "protocol_id"]
    has_key = df["key"].notna()
    dupes = df[has_key].astype({c: str for c in signature}).duplicated(subset=signature, keep="last")
    df = df.drop(index=dupes[dupes].index).reset_index(drop=True)
    df["selected"] = False
    order = [
        "run",
        "status",
        "error",
        *choice_names,
        "resolution",
        "seed",
        "precision",
        *varying,
        *RECORD_COLUMNS,
        *RUN_TAIL,
    ]
    return df[[c for c in dict.fromkeys(order) if c in df]]


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


# ----------------------------------------------------------------------------------------------
# Run-level columns


def choice_columns(run: Run) -> dict[str, str]:
    """What the run is made of, generically: each component the run built (``run.json``: kind -> registry
    name), each top-level ``<kind>._name_`` of its config, and each other Hydra config-group choice
    (a preset such as ``model=digan_small`` names the whole configuration)."""
    names: dict[str, str] = {}
    for kind, entry in (run.info.get("components") or {}).items():
        entries = entry if isinstance(entry, list) else [entry]
        parts = [str(e.get("name")) if isinstance(e, dict) else str(e) for e in entries if e]
        if parts:
            names[kind] = "+".join(parts)
    for key, value in run.config.items():
        kind = key[: -len("._name_")] if key.endswith("._name_") else None
        if kind and "." not in kind and kind not in names:
            names[kind] = str(value)
    for group, choice in run.choices.items():
        if group not in names and "/" not in group:
            names[group] = choice
    return names


def run_columns(run: Run) -> dict[str, Any]:
    info, config = run.info, run.config
    columns: dict[str, Any] = {"run": run.name, "run_dir": str(run.path), "status": run.status, "error": run.error}
    columns.update(choice_columns(run))
    columns["resolution"] = info.get("resolution", config.get("dataset.resolution"))
    columns["seed"] = info.get("seed", config.get("seed"))
    columns["precision"] = info.get("precision", config.get("precision"))
    columns["config_hash"] = info.get("config_hash")
    columns["group"] = group_hash(config) if config else (info.get("config_hash") or run.name)
    columns["package_version"] = info.get("package_version")
    return columns


def varying_config_keys(runs: Sequence[Run]) -> list[str]:
    """Config keys whose values differ between the runs (the ablation axes), except run-local and ``_name_`` keys."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.config))
    varying = []
    for key in keys:
        if key in RUN_LOCAL_KEYS or key.startswith("hydra.") or key.endswith("_name_"):
            continue
        values = {json.dumps(run.config.get(key), sort_keys=True, default=str) for run in runs if run.config}
        if len(values) > 1:
            varying.append(key)
    return varying


# ----------------------------------------------------------------------------------------------
# Record-level columns


def record_rows(record: MetricRecord, run_dir: Path) -> list[dict[str, Any]]:
    """The rows of one metric record: one per result key, the headline key marked."""
    metric = record.metric
    results = record.results or {metric: record.value}
    headline = (
        metric if metric in results else next((k for k, v in results.items() if _same_number(v, record.value)), None)
    )
    protocol = record.protocol
    base = {
        "kimg": _to_float(record.kimg) if record.kimg is not None else math.nan,
        "checkpoint": record.checkpoint,
        "metric": metric,
        **{column: protocol.get(name) for name, column in PROTOCOL_COLUMNS.items()},
        "stand_in": record.stand_in,
        "protocol_id": record.protocol_id,
        "short_count": record.short_count,
        "value_std": _to_float(record.value_std),
        "wall_time_s": record.wall_time_s,
        "timestamp": record.timestamp,
    }
    # files a metric wrote next to its JSONL (curves, plots), as absolute paths
    artifacts = record.artifacts or {}
    base["artifacts"] = json.dumps({k: str(run_dir / v) for k, v in artifacts.items()}) if artifacts else None
    return [
        dict(base, key=str(key), headline=key == headline, value=_to_float(value)) for key, value in results.items()
    ]


def _same_number(a: Any, b: Any) -> bool:
    try:
        return a is not None and b is not None and float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
