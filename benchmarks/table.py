"""``sgvb table``: run folders -> a tidy CSV, a per-configuration comparison CSV and Markdown.

    sgvb table runs/grid/quickstart -o results.csv [--select final|best:fvd64_16f[:max]] [--markdown results.md]

Tables are generated *from* the records (``run.json``, ``status.json``, ``config.yaml``,
``metric-*.jsonl``), never the reverse. Failed and partial runs are kept: a failed run without
metrics still gets one row saying so.

* Tidy CSV (``-o``): one row per run x checkpoint (kimg) x metric key, with the component names,
  the configuration keys that differ between the runs, the run status and every protocol field of
  the metric record (so numbers measured differently are never silently compared). ``selected``
  marks the rows that ``--select`` picked.
* Comparison CSV (``<stem>_comparison.csv``): one row per configuration -- runs whose configs are
  equal except for ``seed`` (and run-local keys such as ``run_dir``) -- and per metric key its
  mean, std, n and a seeded 95% percentile-bootstrap interval of the mean (NaN for n = 1).
  A key measured with stand-in (untrained) detectors is labelled ``<key>[stand-in]``; it is never
  averaged with the same key measured with real detectors.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.training.run_folder import atomic_write_text, group_hash  # the one run identity and writer

RUN_MARKERS = ("run.json", "status.json")
# Keys that differ between runs of one configuration without changing what is trained (where and how a
# run executes, and the seed): left out when runs are grouped into configurations.
RUN_LOCAL_KEYS = ("seed", "run_dir", "resume", "nproc", "device", "cpu_threads", "progress", "cache_dir")
COMPONENT_ORDER = ("generator", "positional_encoding", "discriminator", "sampler", "loss", "augmentation", "dataset")
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
}
STAND_IN_MARK = "[stand-in]"
STAND_IN_NOTE = (
    f"{STAND_IN_MARK}: measured with untrained stand-in detectors of the same architectures (pretrained "
    "weights were not available offline); these numbers compare only with each other."
)


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
    run.config = _flatten(_read_config(config_file))
    for file in sorted(path.glob("metric-*.jsonl")):
        run.records.extend(_read_jsonl(file))
    hydra_choices = _flatten(_read_config(path / ".hydra" / "hydra.yaml"))
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


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            # A run killed mid-append can leave a truncated last line; keep everything else.
            warnings.warn(f"skipping unreadable line {number} of {path}: {exc}", stacklevel=2)
            continue
        if isinstance(record, dict):
            records.append(record)
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


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}{index}."))
        return out if out or not prefix else {prefix[:-1]: "[]"}
    return {prefix[:-1]: value} if prefix else {}


# ----------------------------------------------------------------------------------------------
# Run-level descriptions


def _component_names(run: Run) -> dict[str, str]:
    """kind -> registry name, from ``run.json`` components, falling back to ``config.yaml``."""
    names: dict[str, str] = {}
    for kind, entry in (run.info.get("components") or {}).items():
        entries = entry if isinstance(entry, list) else [entry]
        parts = [str(e.get("name")) if isinstance(e, dict) else str(e) for e in entries if e]
        if parts:
            names[kind] = "+".join(parts)
    for kind in COMPONENT_ORDER:
        if kind not in names and f"{kind}._name_" in run.config:
            names[kind] = str(run.config[f"{kind}._name_"])
    if "positional_encoding" not in names:
        # built inside the generator (``generator.positional_encoding=acyclic``): a name or a spec
        pe = run.config.get("generator.positional_encoding", run.config.get("generator.positional_encoding._name_"))
        if pe is None:
            kwargs = ((run.info.get("components") or {}).get("generator") or {})
            kwargs = kwargs.get("kwargs", {}) if isinstance(kwargs, dict) else {}
            pe = kwargs.get("positional_encoding")
            pe = pe.get("_name_") if isinstance(pe, dict) else pe
        if pe is not None:
            names["positional_encoding"] = str(pe)
    if "dataset" not in names and run.info.get("dataset") is not None:
        dataset = run.info["dataset"]
        names["dataset"] = str(dataset.get("name", dataset) if isinstance(dataset, dict) else dataset)
    return names


def _run_columns(run: Run) -> dict[str, Any]:
    info, config = run.info, run.config
    columns: dict[str, Any] = {"run": run.name, "run_dir": str(run.path), "status": run.status, "error": run.error}
    if run.choices.get("model"):  # a paper preset (+model=digan_small) names the whole configuration
        columns["model"] = run.choices["model"]
    columns.update(_component_names(run))
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
# Tables


def _record_kimg(record: dict[str, Any]) -> float:
    kimg = record.get("kimg")
    if kimg is None and record.get("checkpoint"):
        match = re.search(r"ckpt-(\d+)\.pt$", str(record["checkpoint"]))
        kimg = int(match.group(1)) if match else None
    try:
        return float(kimg) if kimg is not None else math.nan
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
        "kimg": _record_kimg(record),
        "checkpoint": record.get("checkpoint"),
        "metric": metric,
    }
    rows = []
    for key, value in results.items():
        row = dict(base, key=str(key), headline=key == headline, value=_to_float(value))
        for name, column in PROTOCOL_COLUMNS.items():
            row[column] = protocol.get(name)
        row["stand_in"] = bool(protocol.get("stand_in", False))
        row["wall_time_s"] = record.get("wall_time_s")
        row["timestamp"] = record.get("timestamp")
        # files a metric wrote next to its JSONL (curves, plots), as absolute paths
        artifacts = record.get("artifacts") or {}
        row["artifacts"] = json.dumps({k: str(run_dir / v) for k, v in artifacts.items()}) if artifacts else None
        rows.append(row)
    return rows


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


def metric_label(key: str, stand_in: bool, mode: Any) -> str:
    """Column label of a metric key in the comparison: the key plus markers for how it was measured."""
    label = str(key)
    if mode not in (None, "", "default") and not (isinstance(mode, float) and math.isnan(mode)):
        label += f"[{mode}]"
    if stand_in:
        label += STAND_IN_MARK
    return label


def tidy_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run x checkpoint x metric key (one row with empty metric for a run without records)."""
    varying = varying_config_keys(runs)
    rows = []
    for run in runs:
        columns = _run_columns(run)
        columns.update({key: _cell(run.config.get(key)) for key in varying})
        record_rows = [r for record in run.records for r in _record_rows(record, run.path)]
        if not record_rows:
            rows.append(dict(columns, kimg=math.nan, headline=False, value=math.nan, stand_in=False))
        for row in record_rows:
            rows.append({**columns, **row})
    df = pd.DataFrame(rows)
    for column in ("metric", "key", "checkpoint", *PROTOCOL_COLUMNS.values(), "wall_time_s", "timestamp", "artifacts"):
        if column not in df:
            df[column] = None
    df["label"] = [
        metric_label(k, s, m) if isinstance(k, str) else None for k, s, m in zip(df["key"], df["stand_in"], df["mode"])
    ]
    # A metric evaluated twice at one checkpoint with one protocol: keep the later record.
    signature = ["run_dir", "kimg", "metric", "key", *PROTOCOL_COLUMNS.values()]
    has_key = df["key"].notna()
    dupes = df[has_key].astype({c: str for c in signature}).duplicated(subset=signature, keep="last")
    df = df.drop(index=dupes[dupes].index).reset_index(drop=True)
    components = [c for c in COMPONENT_ORDER if c in df] + sorted(
        c for c in {k for run in runs for k in _component_names(run)} if c not in COMPONENT_ORDER
    )
    order = ["run", "status", "error", "model", *components, "resolution", "seed", "precision", *varying,
             "kimg", "checkpoint", "metric", "key", "label", "headline", "value", "selected",
             *PROTOCOL_COLUMNS.values(), "wall_time_s", "timestamp", "artifacts", "config_hash", "group", "package_version", "run_dir"]
    df["selected"] = False
    return df[[c for c in order if c in df]]


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


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, num_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean (seeded, so tables are reproducible); NaN for fewer than 2 values."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if len(x) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(num_resamples, len(x)))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def comparison_table(tidy: pd.DataFrame, *, seed: int = 0, num_resamples: int = 10_000) -> pd.DataFrame:
    """One row per configuration (runs grouped by ``group``) with mean/std/n/CI per metric label of the selected rows."""
    descriptor = [c for c in tidy.columns if c not in _NON_DESCRIPTOR]
    selected = tidy[tidy["selected"] & tidy["key"].notna()]
    labels = list(dict.fromkeys(selected["label"]))
    rows = []
    for group, runs in tidy.groupby("group", sort=False):
        per_run = runs.drop_duplicates("run_dir")
        first = per_run.iloc[0]
        row: dict[str, Any] = {c: first[c] for c in descriptor}
        row["config"] = group
        row["runs"] = len(per_run)
        row["seeds"] = ",".join(str(_int_or(s)) for s in per_run["seed"] if s is not None and not _isnan(s))
        states = per_run["status"].value_counts()
        row["status"] = ", ".join(f"{n} {state}" for state, n in states.items())
        errors = [e for e in dict.fromkeys(per_run["error"]) if isinstance(e, str) and e]
        row["error"] = " | ".join(errors) if errors else None
        chosen = selected[selected["group"] == group]
        row["kimg"] = ",".join(str(_int_or(k)) for k in sorted(set(chosen["kimg"].dropna())))
        row["stand_in"] = bool(chosen["stand_in"].any()) if len(chosen) else False
        for label in labels:
            values = chosen.loc[chosen["label"] == label].groupby("run_dir", sort=False)["value"].last().dropna().to_numpy()
            low, high = bootstrap_ci(values, seed=seed, num_resamples=num_resamples)
            row[f"{label}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{label}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            row[f"{label}_n"] = len(values)
            row[f"{label}_ci95_low"] = low
            row[f"{label}_ci95_high"] = high
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["labels"] = labels
    df.attrs["headline_labels"] = list(dict.fromkeys(selected.loc[selected["headline"].astype(bool), "label"])) or labels
    return df


_NON_DESCRIPTOR = {
    "run", "status", "error", "seed", "kimg", "checkpoint", "metric", "key", "label", "headline", "value", "selected",
    *PROTOCOL_COLUMNS.values(), "wall_time_s", "timestamp", "artifacts", "config_hash", "group", "run_dir",
}


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _int_or(value: Any) -> Any:
    try:
        return int(value) if float(value).is_integer() else value
    except (TypeError, ValueError):
        return value


# ----------------------------------------------------------------------------------------------
# Rendering


def _text(value: Any) -> str:
    if value is None or _isnan(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 32.0 -> 32: pandas turns int columns with gaps into floats
    return str(value)


def _first_line(text: str, width: int) -> str:
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= width and len(lines) <= 1 else line[: width - 3].rstrip() + "..."


def _fmt(x: float) -> str:
    return "nan" if _isnan(x) else f"{x:.4g}"


def _summary_cell(row: pd.Series, label: str) -> str:
    n = int(row.get(f"{label}_n", 0) or 0)
    if n == 0:
        return "-"
    mean, std = row[f"{label}_mean"], row[f"{label}_std"]
    if abs(std) < 1e-9 * max(1.0, abs(mean)):
        std = 0.0  # float round-off of identical values
    if n == 1:
        return f"{_fmt(mean)} (n=1)"
    return f"{_fmt(mean)} ± {_fmt(std)} [{_fmt(row[f'{label}_ci95_low'])}, {_fmt(row[f'{label}_ci95_high'])}] (n={n})"


_ALWAYS_SHOWN = ("config", "runs", "seeds", "status", "kimg")


def _determines(key: pd.Series, values: pd.Series) -> bool:
    """True when ``values`` is a function of ``key`` (e.g. a model-specific config key, given the model column)."""
    return bool(values.groupby(key.to_numpy()).nunique(dropna=False).max() <= 1)


def display_frame(comparison: pd.DataFrame, *, all_keys: bool = False, error_width: int = 60) -> tuple[pd.DataFrame, dict[str, str]]:
    """The comparison as strings, and the configuration columns equal in every row (shown once, not per row).

    Shown per row: configuration columns that differ between rows (a config key repeating a component
    column is dropped), run counts and status, then ``mean ± std [CI] (n)`` per metric label.
    """
    labels = comparison.attrs.get("labels" if all_keys else "headline_labels", [])
    stat_columns = {f"{label}_{s}" for label in comparison.attrs.get("labels", []) for s in ("mean", "std", "n", "ci95_low", "ci95_high")}
    text = {
        c: comparison[c].map(_text)
        for c in comparison.columns if c not in stat_columns and c not in ("package_version", "stand_in")
    }
    shown: list[str] = []
    common: dict[str, str] = {}
    for column, values in text.items():
        if column in _ALWAYS_SHOWN or (column == "error" and values.str.len().any()):
            shown.append(column)
        elif column == "error" or not values.str.len().any():
            continue  # no errors, or a config key that only some models have
        elif len(values) > 1 and values.nunique() == 1:
            common[column] = values.iloc[0]
        elif not any(_determines(text[other], values) for other in shown if other not in _ALWAYS_SHOWN):
            shown.append(column)
    out = pd.DataFrame({c: text[c] for c in shown})
    if "error" in out:
        out["error"] = out["error"].map(lambda e: _first_line(e, error_width))
    for label in labels:
        out[label] = [_summary_cell(row, label) for _, row in comparison.iterrows()]
    return out, common


def format_text(comparison: pd.DataFrame) -> str:
    """An aligned plain-text table (what ``sgvb table`` prints)."""
    frame, common = display_frame(comparison)
    header = list(frame.columns)
    cells = [header] + frame.values.tolist()
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if common:
        lines.insert(0, "all rows: " + ", ".join(f"{k}={v}" for k, v in common.items()))
    if bool(comparison.get("stand_in", pd.Series(dtype=bool)).any()):
        lines += ["", f"WARNING {STAND_IN_NOTE}"]
    return "\n".join(lines)


def format_markdown(comparison: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of the comparison (headline metric keys; the CSV has every key)."""
    frame, common = display_frame(comparison, error_width=200)

    def esc(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [f"All rows: {', '.join(f'`{k}={v}`' for k, v in common.items())}", ""] if common else []
    lines += ["| " + " | ".join(esc(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in frame.values.tolist()]
    if bool(comparison.get("stand_in", pd.Series(dtype=bool)).any()):
        lines += ["", STAND_IN_NOTE]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Files


def comparison_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}_comparison{output.suffix or '.csv'}")


def build_tables(dirs: Sequence[str | os.PathLike], *, select: str = "final") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every run folder under ``dirs`` and return (tidy, comparison)."""
    parse_select(select)  # a bad --select fails before any reading
    run_dirs = find_run_dirs(dirs)
    if not run_dirs:
        raise TableError(f"no run folders (with {' or '.join(RUN_MARKERS)}) found under: {', '.join(map(str, dirs))}")
    runs = [read_run(path) for path in run_dirs]
    tidy = select_checkpoints(tidy_table(runs), select)
    return tidy, comparison_table(tidy)


def write_tables(
    dirs: Sequence[str | os.PathLike],
    *,
    output: str | os.PathLike | None = None,
    markdown: str | os.PathLike | None = None,
    select: str = "final",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``build_tables`` plus the files: ``output`` (tidy CSV), ``<stem>_comparison.csv`` and optional Markdown."""
    tidy, comparison = build_tables(dirs, select=select)
    if output is not None:
        atomic_write_text(output, tidy.to_csv(index=False))
        atomic_write_text(comparison_path(output), comparison.to_csv(index=False))
    if markdown is not None:
        atomic_write_text(markdown, format_markdown(comparison))
    return tidy, comparison


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sgvb table",
        description="Aggregate run folders (finished, failed or partial) into a tidy CSV and a per-configuration comparison.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run folders, or folders searched recursively for them")
    parser.add_argument("-o", "--output", help="tidy CSV path; the comparison goes to <stem>_comparison.csv next to it")
    parser.add_argument("--select", default="final", help="checkpoint per run: 'final' (default), 'best:<key>' (lowest) or 'best:<key>:max'")
    parser.add_argument("--markdown", help="also write the comparison as a Markdown table here")
    args = parser.parse_args(argv)
    try:
        tidy, comparison = write_tables(args.dirs, output=args.output, markdown=args.markdown, select=args.select)
    except TableError as exc:
        print(f"sgvb table: {exc}", file=sys.stderr)
        return 2
    print(format_text(comparison))
    if args.output:
        print(f"\nwrote {args.output} ({len(tidy)} rows) and {comparison_path(args.output)} ({len(comparison)} configurations)")
    if args.markdown:
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
