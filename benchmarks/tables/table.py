"""``sgvb table``: run folders -> long-form CSV tables, Markdown, LaTeX and plots.

    sgvb table runs/grid/quickstart -o results.csv [--select final|best:fvd64_16f[:max]]
               [--baseline generator.positional_encoding=acyclic] [--markdown results.md] [--latex results.tex]
               [--plots results/plots] [--wide]

Tables are generated *from* the records (``run.json``, ``status.json``, ``config.yaml``,
``metric-*.jsonl``), never the reverse. Failed and partial runs are kept: a failed run without
metrics still gets one row saying so.

* Tidy CSV (``-o``): one row per run x evaluation (kimg) x metric key, with the configuration's
  choices, the configuration keys that differ between the runs, the run status and every protocol
  field of the metric record. ``selected`` marks the rows that ``--select`` picked.
* Comparison CSV (``<stem>_comparison.csv``): one row per (configuration, headline metric key,
  protocol): only the ablation axes that vary, the protocol id, detector, stand-in flag, n, mean, std,
  the interval and its method (``benchmarks.tables.stats``), the per-seed values (``0:13.35;1:17.21``),
  kimg and status; with ``--baseline`` also the difference to the baseline and a test's p-value.
  Sub-scores (every non-headline key) go to ``<stem>_subscores.csv`` with the same columns;
  ``--wide`` adds ``<stem>_wide.csv``, one row per configuration.

Runs are seeds of one configuration when their configs are equal except for the seed and run-local
keys. Numbers are averaged only within one protocol id, one detector kind (stand-in or not) and one
value per seed: everything else is kept apart, with a warning saying what.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.tables import stats as table_stats
from benchmarks.records.run_folder import RUN_LOCAL_KEYS, flatten, group_hash  # the one run identity
from registry.files import atomic_write_text

RUN_MARKERS = ("run.json", "status.json")
# Keys that differ between runs of one configuration without changing what is trained (where and how a
# run executes, and the seed): left out when runs are grouped into configurations.
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
STAND_IN_MARK = "[stand-in]"
STAND_IN_NOTE = (
    f"{STAND_IN_MARK}: measured with untrained stand-in detectors of the same architectures (pretrained "
    "weights were not available offline); these numbers compare only with each other."
)
SHORT_COUNT_NOTE = "short: computed on fewer items than the metric's name states (see num_real / num_fake)."
# the comparison's columns after the ablation axes, in order
STAT_COLUMNS = ["metric", "key", "protocol_id", "detector", "stand_in", "direction", "n", "mean", "std",
                "ci_low", "ci_high", "ci_method", "values", "kimg", "status", "error", "short_count"]
BASELINE_COLUMNS = ["baseline", "diff", "p_value", "test"]


class TableError(ValueError):
    """Bad input for a table: no runs found, an unknown selection, an unreadable record."""


# ----------------------------------------------------------------------------------------------
# Reading run folders


@dataclass
class Run:
    """What a run folder says about itself; every part may be missing for failed or partial runs."""

    path: Path
    status: str = "unknown"
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # run.json
    config: dict[str, Any] = field(default_factory=dict)  # config.yaml, flattened to dotted keys
    records: list[dict[str, Any]] = field(default_factory=list)  # metric-*.jsonl lines
    choices: dict[str, str] = field(default_factory=dict)  # Hydra config-group choices (e.g. model preset)

    @property
    def name(self) -> str:
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


def find_run_dirs(dirs: Iterable[str | os.PathLike]) -> list[Path]:
    """Run folders (holding ``run.json`` or ``status.json``) at or below each of ``dirs``, without duplicates.

    In the order of ``dirs`` (so ``sgvb grid`` lists its jobs in grid order), sorted by name below each.
    """
    found: dict[Path, None] = {}
    for root in dirs:
        root = Path(root)
        if not root.is_dir():
            raise TableError(f"'{root}' is not a directory (expected a run folder or a folder holding run folders)")
        below = []
        for current, subdirs, files in os.walk(root):
            if any(marker in files for marker in RUN_MARKERS):
                below.append(Path(current).resolve())
                subdirs[:] = []  # a run folder's own sub-folders hold no runs
            else:
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found.update(dict.fromkeys(sorted(below)))
    return list(found)


def read_run(path: Path) -> Run:
    run = Run(path=Path(path))
    run.info = _read_json(path / "run.json") or {}
    status = _read_json(path / "status.json")
    if status:
        run.status = str(status.get("state") or "unknown")
        run.error = status.get("error") or None
    # The harness writes config.yaml; a job that failed before that still has Hydra's copy.
    config_file = path / "config.yaml" if (path / "config.yaml").is_file() else path / ".hydra" / "config.yaml"
    run.config = flatten(_read_config(config_file))
    for file in sorted(path.glob("metric-*.jsonl")):
        run.records.extend(read_jsonl(file))
    hydra_choices = flatten(_read_config(path / ".hydra" / "hydra.yaml"))
    prefix = "hydra.runtime.choices."
    run.choices = {k[len(prefix):]: str(v) for k, v in hydra_choices.items() if k.startswith(prefix) and v is not None and "hydra/" not in k}
    return run


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        warnings.warn(f"skipping unreadable {path}: {exc}", stacklevel=2)
        return None
    if not isinstance(data, dict):
        warnings.warn(f"skipping {path}: expected a JSON object, got {type(data).__name__}", stacklevel=2)
        return None
    return data


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a metric file. A run killed mid-append leaves a torn line, and the next append
    continues on that same line: the valid record after the torn part is recovered, the torn part skipped."""
    decoder = json.JSONDecoder()
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        pos, torn = 0, False
        while pos < len(line):
            start = line.find("{", pos)
            if start < 0:
                torn = torn or bool(line[pos:].strip())
                break
            torn = torn or bool(line[pos:start].strip())
            try:
                record, end = decoder.raw_decode(line, start)
            except json.JSONDecodeError:
                torn, pos = True, start + 1
                continue
            if isinstance(record, dict):
                records.append(record)
            pos = end
        if torn:
            warnings.warn(f"skipping unreadable part of line {number} of {path} (a torn write)", stacklevel=2)
    return records


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    try:
        conf = OmegaConf.load(path)
        try:
            data = OmegaConf.to_container(conf, resolve=True)
        except Exception:  # an interpolation that cannot resolve outside the run: keep it as written
            data = OmegaConf.to_container(conf, resolve=False)
    except Exception as exc:
        warnings.warn(f"skipping unreadable {path}: {exc}", stacklevel=2)
        return {}
    return data if isinstance(data, dict) else {}


# ----------------------------------------------------------------------------------------------
# Run-level descriptions


def _choice_columns(run: Run) -> dict[str, str]:
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


def _run_columns(run: Run) -> dict[str, Any]:
    info, config = run.info, run.config
    columns: dict[str, Any] = {"run": run.name, "run_dir": str(run.path), "status": run.status, "error": run.error}
    columns.update(_choice_columns(run))
    columns["resolution"] = info.get("resolution", config.get("dataset.resolution"))
    columns["seed"] = info.get("seed", config.get("seed"))
    columns["precision"] = info.get("precision", config.get("precision"))
    columns["config_hash"] = info.get("config_hash")
    columns["group"] = group_hash(config) if config else (info.get("config_hash") or run.name)
    columns["package_version"] = info.get("package_version")
    return columns


def varying_config_keys(runs: Sequence[Run]) -> list[str]:
    """Config keys whose values differ between the runs (the ablation axes), except run-local keys and ``_name_`` keys."""
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
# Metric records


@functools.lru_cache(maxsize=None)
def metric_direction(metric: str) -> str:
    """'lower' or 'higher' (is better), from the metric's registration (``Metric.direction``)."""
    try:
        from metrics.base import build_metric

        return str(build_metric(metric).direction)
    except Exception as exc:  # a metric from a plugin that is not installed here
        warnings.warn(f"metric '{metric}' is not known here ({exc}); treating lower as better", stacklevel=2)
        return "lower"


def protocol_id(record: dict[str, Any]) -> str:
    """The record's protocol id; records written before protocol ids get one derived from their protocol fields."""
    stored = record.get("protocol_id") or (record.get("protocol") or {}).get("protocol_id")
    if stored:
        return str(stored)
    protocol = record.get("protocol") or {}
    fields = {name: protocol.get(name) for name in PROTOCOL_COLUMNS if name != "seed"}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{record.get('metric', '?')}-{digest}"


def short_count(record: dict[str, Any]) -> bool:
    """True when the record says it used fewer items than its metric's name states (``protocol.counts``)."""
    protocol = record.get("protocol") or {}
    counts = protocol.get("counts") or {}
    fewer = any(isinstance(c, dict) and c.get("used", 0) < c.get("requested", 0) for c in counts.values())
    return bool(fewer or protocol.get("fewer_than_name"))


def _record_kimg(record: dict[str, Any]) -> float:
    try:
        return float(record["kimg"]) if record.get("kimg") is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _record_rows(record: dict[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    metric = str(record.get("metric", "?"))
    results = record.get("results") or {}
    if not results and record.get("value") is not None:
        results = {metric: record["value"]}
    headline = metric if metric in results else next(
        (k for k, v in results.items() if _same_number(v, record.get("value"))), None
    )
    protocol = record.get("protocol") or {}
    base = {
        "kimg": _record_kimg(record), "checkpoint": record.get("checkpoint"), "metric": metric,
        **{column: protocol.get(name) for name, column in PROTOCOL_COLUMNS.items()},
        "stand_in": bool(protocol.get("stand_in", False)), "protocol_id": protocol_id(record),
        "short_count": short_count(record), "value_std": _to_float(record.get("value_std")), "wall_time_s": record.get("wall_time_s"), "timestamp": record.get("timestamp"),
    }
    # files a metric wrote next to its JSONL (curves, plots), as absolute paths
    artifacts = record.get("artifacts") or {}
    base["artifacts"] = json.dumps({k: str(run_dir / v) for k, v in artifacts.items()}) if artifacts else None
    return [dict(base, key=str(key), headline=key == headline, value=_to_float(value)) for key, value in results.items()]


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


# ----------------------------------------------------------------------------------------------
# Tables


_RECORD_COLUMNS = ["kimg", "checkpoint", "metric", "key", "headline", "value", "value_std", "selected", "protocol_id",
                   *PROTOCOL_COLUMNS.values(), "short_count", "wall_time_s", "timestamp", "artifacts"]
_RUN_TAIL = ["config_hash", "group", "package_version", "run_dir"]


def tidy_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run x evaluation x metric key (one row with empty metric for a run without records)."""
    varying = varying_config_keys(runs)
    rows = []
    choice_names: dict[str, None] = {}
    for run in runs:
        columns = _run_columns(run)
        choice_names.update(dict.fromkeys(_choice_columns(run)))
        columns.update({key: _cell(run.config.get(key)) for key in varying})
        record_rows = [r for record in run.records for r in _record_rows(record, run.path)]
        if not record_rows:
            rows.append(dict(columns, kimg=math.nan, headline=False, value=math.nan, stand_in=False, short_count=False))
        for row in record_rows:
            rows.append({**columns, **row})
    df = pd.DataFrame(rows)
    for column in _RECORD_COLUMNS:
        if column not in df:
            df[column] = None
    # A metric evaluated twice at one checkpoint with one protocol: keep the later record.
    signature = ["run_dir", "kimg", "metric", "key", "protocol_id"]
    has_key = df["key"].notna()
    dupes = df[has_key].astype({c: str for c in signature}).duplicated(subset=signature, keep="last")
    df = df.drop(index=dupes[dupes].index).reset_index(drop=True)
    df["selected"] = False
    order = ["run", "status", "error", *choice_names, "resolution", "seed", "precision", *varying, *_RECORD_COLUMNS, *_RUN_TAIL]
    return df[[c for c in dict.fromkeys(order) if c in df]]


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def parse_select(select: str) -> tuple[str, str | None, bool]:
    """``final`` | ``best:<key>`` (lowest) | ``best:<key>:max`` (highest) -> (mode, key, maximise)."""
    if select == "final":
        return "final", None, False
    parts = select.split(":")
    if parts[0] == "best" and len(parts) in (2, 3) and parts[1] and (len(parts) == 2 or parts[2] in ("min", "max")):
        return "best", parts[1], len(parts) == 3 and parts[2] == "max"
    raise TableError(f"--select '{select}' is not understood; use 'final', 'best:<metric key>' or 'best:<metric key>:max'")


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
        raise TableError(f"--select best:{key}: no run has metric key '{key}'; keys found: {', '.join(known) or 'none'}")
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
        at = rows.index[rows["kimg"].isna()] if _isnan(chosen) else rows.index[rows["kimg"] == chosen]
        tidy.loc[at, "selected"] = True
    if missing:
        warnings.warn(f"--select best:{key}: {len(missing)} run(s) have no '{key}'; using their final checkpoint: "
                      + ", ".join(missing), stacklevel=2)
    return tidy


def configuration_axes(tidy: pd.DataFrame) -> list[str]:
    """The run-level columns that tell configurations apart (choices and config keys that vary), without
    a column whose values follow from another axis (a model preset's own keys, given the preset)."""
    per_config = tidy.drop_duplicates("group")
    candidates = [c for c in tidy.columns if c not in _NON_AXIS]
    axes: list[str] = []
    for column in candidates:
        values = per_config[column].map(_text)
        if values.nunique() < 2:
            continue
        if not any(_determines(per_config[axis].map(_text), values) for axis in axes):
            axes.append(column)
    return axes


_NON_AXIS = {"run", "status", "error", "seed", "config_hash", "group", "package_version", "run_dir", *_RECORD_COLUMNS}


def _determines(key: pd.Series, values: pd.Series) -> bool:
    """True when ``values`` is a function of ``key`` (e.g. a model-specific config key, given the model column)."""
    return bool(values.groupby(key.to_numpy()).nunique(dropna=False).max() <= 1)


def _one_value_per_seed(rows: pd.DataFrame, where: str) -> pd.DataFrame:
    """The rows of runs with distinct seeds: a seed found in two run folders of one configuration counts once."""
    per_run = rows.drop_duplicates("run_dir")
    dup = per_run[per_run["seed"].notna() & per_run.duplicated("seed", keep="first")]
    if len(dup):
        kept = per_run.drop_duplicates("seed", keep="first").set_index("seed")["run"]
        warnings.warn(f"{where}: seed(s) {', '.join(str(_int_or(s)) for s in dup['seed'])} appear in more than one "
                      f"run folder; counted once ({'; '.join(f'{r} ignored, {kept[s]} kept' for s, r in zip(dup['seed'], dup['run']))})",
                      stacklevel=3)
        rows = rows[~rows["run_dir"].isin(dup["run_dir"])]
    return rows


def comparison_tables(tidy: pd.DataFrame, *, baseline: str | None = None, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparison, sub-scores): one row per (configuration, metric key, protocol) of the selected rows, headline
    keys in the first table and every other key in the second; a configuration without rows in one gets n = 0.

    Rows of one configuration and key but another protocol id or detector kind are kept apart (with a
    warning); ``baseline`` (``AXIS=VALUE``) adds the difference to the configuration that has VALUE on
    AXIS and the same values on every other axis. Seeds and protocols are sorted out once for both tables.
    """
    axes = configuration_axes(tidy)
    selected = tidy[tidy["selected"] & tidy["key"].notna()]
    rows: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for group, runs in tidy.groupby("group", sort=False):
        runs = _one_value_per_seed(runs, f"configuration {group}")
        per_run = runs.drop_duplicates("run_dir")
        describe = {"config": group, **{axis: per_run.iloc[0][axis] for axis in axes}}
        states = per_run["status"].value_counts()
        status = ", ".join(f"{n} {state}" for state, n in states.items())
        errors = [e for e in dict.fromkeys(per_run["error"]) if isinstance(e, str) and e]
        describe["error"] = " | ".join(errors) if errors else None
        chosen = selected[selected["run_dir"].isin(per_run["run_dir"])]
        parts = list(chosen.groupby(["metric", "key", "protocol_id", "stand_in"], sort=False))
        for key, kept in _kept_apart(parts).items():
            warnings.warn(f"configuration {group}: '{key}' was measured under {len(kept)} protocols, kept apart: "
                          + ", ".join(kept), stacklevel=2)
        for headline in (True, False):
            mine = [(k, part) for k, part in parts if bool(part["headline"].iloc[0]) == headline]
            if not mine:
                rows[headline].append({**describe, "status": status, "n": 0})
            for (metric, key, pid, stand_in), part in mine:
                by_seed = part.groupby("run_dir", sort=False).agg(seed=("seed", "first"), value=("value", "last"))
                by_seed = by_seed[by_seed["value"].notna()]
                values = {_int_or(s): v for s, v in zip(by_seed["seed"], by_seed["value"])}
                interval = table_stats.mean_interval(list(values.values()), seed=seed)
                n = len(values)
                rows[headline].append({
                    **describe, "metric": metric, "key": key, "protocol_id": pid, "detector": part["detector"].iloc[0],
                    "stand_in": bool(stand_in), "direction": metric_direction(metric), "n": n,
                    "mean": float(pd.Series(list(values.values())).mean()) if n else math.nan,
                    "std": float(pd.Series(list(values.values())).std(ddof=1)) if n > 1 else math.nan,
                    "ci_low": interval.low, "ci_high": interval.high, "ci_method": interval.method,
                    "values": ";".join(f"{s}:{v:.6g}" for s, v in values.items()),
                    "kimg": ",".join(str(_int_or(k)) for k in sorted(set(part["kimg"].dropna()))),
                    "status": status, "short_count": bool(part["short_count"].astype(bool).any()),
                    "_by_seed": values,
                })
    return _comparison_frame(rows[True], axes, baseline), _comparison_frame(rows[False], axes, baseline)


def _comparison_frame(rows: list[dict[str, Any]], axes: list[str], baseline: str | None) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for column in ["config", *axes, *STAT_COLUMNS, "_by_seed"]:
        if column not in df:
            df[column] = None
    df = df[["config", *axes, *STAT_COLUMNS, "_by_seed"]]
    if baseline:
        df = add_baseline(df, axes, baseline)
    df.attrs["axes"] = axes
    return df


def _kept_apart(parts: list) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for (metric, key, pid, stand_in), _ in parts:
        seen.setdefault(key, []).append(pid + (f" {STAND_IN_MARK}" if stand_in else ""))
    return {key: pids for key, pids in seen.items() if len(pids) > 1}


def parse_baseline(spec: str, axes: Sequence[str]) -> tuple[str, str]:
    """``AXIS=VALUE`` -> (axis column, value); AXIS may be the last part of a dotted key (``positional_encoding``)."""
    axis, sep, value = spec.partition("=")
    if not sep or not axis or not value:
        raise TableError(f"--baseline '{spec}' is not understood; use AXIS=VALUE, e.g. generator.positional_encoding=acyclic")
    matches = [a for a in axes if a == axis] or [a for a in axes if a.split(".")[-1] == axis]
    if len(matches) != 1:
        raise TableError(f"--baseline {spec}: '{axis}' is {'ambiguous' if matches else 'not an axis'} here; "
                         f"axes that vary: {', '.join(axes) or 'none'}")
    return matches[0], value


def add_baseline(df: pd.DataFrame, axes: Sequence[str], spec: str) -> pd.DataFrame:
    """Columns ``baseline``, ``diff`` (mean - baseline mean), ``p_value`` and ``test`` (``table_stats.compare``)."""
    axis, value = parse_baseline(spec, axes)
    others = [a for a in axes if a != axis]
    text = df[list(axes)].map(_text) if len(axes) else pd.DataFrame(index=df.index)
    is_base = text[axis] == value
    if not is_base.any():
        found = sorted(set(text[axis]))
        raise TableError(f"--baseline {spec}: no configuration has {axis}={value}; values found: {', '.join(found)}")
    df = df.copy()
    for column in BASELINE_COLUMNS:
        df[column] = None
    for i in df.index:
        match = is_base & (df["key"] == df.at[i, "key"]) & (df["protocol_id"] == df.at[i, "protocol_id"])
        for other in others:
            match &= text[other] == text.at[i, other]
        if not match.any() or df.at[i, "_by_seed"] is None:
            continue
        j = match[match].index[0]
        result = table_stats.compare(df.at[i, "_by_seed"], df.at[j, "_by_seed"])
        df.loc[i, BASELINE_COLUMNS] = [df.at[j, "config"], result.diff, result.p_value, result.test]
    return df


def wide_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration, ``<key>_{mean,std,n}`` columns; a key measured under several protocols gets
    ``<key>@<protocol id>`` (names never depend on the detector)."""
    axes = comparison.attrs.get("axes", [])
    scored = comparison[comparison["key"].notna()]
    multi = scored.groupby("key")["protocol_id"].nunique()
    rows: dict[str, dict[str, Any]] = {}
    for _, row in comparison.iterrows():
        out = rows.setdefault(row["config"], {"config": row["config"], **{a: row[a] for a in axes}, "status": row["status"]})
        if isinstance(row["key"], str):
            name = row["key"] if multi.get(row["key"], 1) == 1 else f"{row['key']}@{row['protocol_id']}"
            out.update({f"{name}_mean": row["mean"], f"{name}_std": row["std"], f"{name}_n": row["n"]})
    return pd.DataFrame(list(rows.values()))


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _int_or(value: Any) -> Any:
    try:
        return int(value) if float(value).is_integer() else value
    except (TypeError, ValueError):
        return value


def _text(value: Any) -> str:
    if value is None or _isnan(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 32.0 -> 32: pandas turns int columns with gaps into floats
    return str(value)


# ----------------------------------------------------------------------------------------------
# Files


@dataclass
class Tables:
    tidy: pd.DataFrame
    comparison: pd.DataFrame  # headline keys
    subscores: pd.DataFrame  # every other key


def build_tables(dirs: Sequence[str | os.PathLike], *, select: str = "final", baseline: str | None = None) -> Tables:
    """Read every run folder under ``dirs`` and return the tidy table, the comparison and the sub-scores."""
    parse_select(select)  # a bad --select fails before any reading
    run_dirs = find_run_dirs(dirs)
    if not run_dirs:
        raise TableError(f"no run folders (with {' or '.join(RUN_MARKERS)}) found under: {', '.join(map(str, dirs))}")
    runs = [read_run(path) for path in run_dirs]
    tidy = select_checkpoints(tidy_table(runs), select)
    return Tables(tidy, *comparison_tables(tidy, baseline=baseline))


def sibling_path(output: str | os.PathLike, suffix: str) -> Path:
    """``results.csv`` -> ``results_<suffix>.csv``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_{suffix}{output.suffix or '.csv'}")


def comparison_path(output: str | os.PathLike) -> Path:
    return sibling_path(output, "comparison")


def _csv(frame: pd.DataFrame) -> str:
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")]).to_csv(index=False)


def write_tables(
    dirs: Sequence[str | os.PathLike],
    *,
    output: str | os.PathLike | None = None,
    markdown: str | os.PathLike | None = None,
    latex: str | os.PathLike | None = None,
    plots: str | os.PathLike | None = None,
    select: str = "final",
    baseline: str | None = None,
    wide: bool = False,
) -> Tables:
    """``build_tables`` plus the files: tidy CSV at ``output`` with ``_comparison``/``_subscores``(/``_wide``)
    CSVs next to it, Markdown, LaTeX and plots (``benchmarks.tables.plots``)."""
    from benchmarks.tables import export as table_export

    tables = build_tables(dirs, select=select, baseline=baseline)
    if output is not None:
        atomic_write_text(output, _csv(tables.tidy))
        atomic_write_text(comparison_path(output), _csv(tables.comparison))
        atomic_write_text(sibling_path(output, "subscores"), _csv(tables.subscores))
        if wide:
            atomic_write_text(sibling_path(output, "wide"), _csv(wide_table(tables.comparison)))
    if markdown is not None:
        atomic_write_text(markdown, table_export.to_markdown(tables.comparison))
    if latex is not None:
        atomic_write_text(latex, table_export.to_latex(tables.comparison))
    if plots is not None:
        from benchmarks.tables import plots as table_plots

        table_plots.write_plots(tables.tidy, tables.comparison, Path(plots))
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sgvb table",
        description="Aggregate run folders (finished, failed or partial) into long-form CSV tables, Markdown, LaTeX and plots.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run folders, or folders searched recursively for them")
    parser.add_argument("-o", "--output", help="tidy CSV path; <stem>_comparison.csv and <stem>_subscores.csv go next to it")
    parser.add_argument("--select", default="final", help="checkpoint per run: 'final' (default), 'best:<key>' (lowest) or 'best:<key>:max'")
    parser.add_argument("--baseline", metavar="AXIS=VALUE", help="add the difference to this configuration and a t-test's p-value")
    parser.add_argument("--markdown", help="also write the comparison as a Markdown table here")
    parser.add_argument("--latex", help="also write the comparison as a LaTeX (booktabs) tabular here, ready to \\input")
    parser.add_argument("--plots", metavar="DIR", help="also write plots (metric vs kimg, bars with error bars) here, PNG and PDF")
    parser.add_argument("--wide", action="store_true", help="also write <stem>_wide.csv: one row per configuration")
    args = parser.parse_args(argv)
    from benchmarks.tables import export as table_export

    try:
        tables = write_tables(args.dirs, output=args.output, markdown=args.markdown, latex=args.latex, plots=args.plots,
                              select=args.select, baseline=args.baseline, wide=args.wide)
    except TableError as exc:
        print(f"sgvb table: {exc}", file=sys.stderr)
        return 2
    print(table_export.to_text(tables.comparison))
    if args.output:
        print(f"\nwrote {args.output} ({len(tables.tidy)} rows), {comparison_path(args.output)} ({len(tables.comparison)} rows), "
              f"{sibling_path(args.output, 'subscores')} ({len(tables.subscores)} rows)")
    for name in ("markdown", "latex", "plots"):
        if getattr(args, name):
            print(f"wrote {getattr(args, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
