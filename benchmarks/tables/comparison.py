"""Comparisons: one row per (configuration, metric key, protocol) of the selected checkpoints, over seeds.

Runs are seeds of one configuration when their configs are equal except for the seed and run-local keys
(``group``). Numbers are averaged only within one protocol id, one detector kind (stand-in or not) and one
value per seed: everything else is kept apart, with a warning saying what. Each row holds the ablation axes
that vary, n, mean, std, the interval of ``benchmarks.tables.stats`` (cut to the metric's declared
``value_range``) and the per-seed values; ``--baseline`` adds the difference to a baseline configuration and a
test's p-value; ``wide_table`` pivots to one row per configuration.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from benchmarks.tables import TableError
from benchmarks.tables import stats as table_stats
from benchmarks.tables.labels import STAND_IN_MARK, cell_text, int_or_same
from benchmarks.tables.tidy import RECORD_COLUMNS

__all__ = [
    "BASELINE_COLUMNS",
    "STAT_COLUMNS",
    "add_baseline",
    "comparison_tables",
    "configuration_axes",
    "metric_direction",
    "metric_range",
    "parse_baseline",
    "wide_table",
]

# the comparison's columns after the ablation axes, in order
STAT_COLUMNS = [
    "metric",
    "key",
    "protocol_id",
    "detector",
    "stand_in",
    "direction",
    "n",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "ci_method",
    "values",
    "kimg",
    "status",
    "error",
    "short_count",
]
BASELINE_COLUMNS = ["baseline", "diff", "p_value", "test"]
# tidy columns that never tell configurations apart
NON_AXIS = {"run", "status", "error", "seed", "config_hash", "group", "package_version", "run_dir", *RECORD_COLUMNS}


@functools.lru_cache(maxsize=None)
def _registered(metric: str) -> Any:
    """The metric built from its name (its registration), or None, with a warning, when it is not known here."""
    try:
        from metrics.base import build_metric

        return build_metric(metric)
    except Exception as exc:  # noqa: BLE001 - a metric from a plugin that is not installed here
        warnings.warn(
            f"metric '{metric}' is not known here ({exc}); treating lower as better, its range as unbounded",
            stacklevel=3,
        )
        return None


def metric_direction(metric: str) -> str:
    """'lower' or 'higher' (is better), from the metric's registration (``Metric.direction``)."""
    registered = _registered(metric)
    return "lower" if registered is None else str(registered.direction)


def metric_range(metric: str, key: str) -> tuple[float | None, float | None]:
    """The values the result key ``key`` of ``metric`` can take, from its registration (``Metric.value_range``)."""
    registered = _registered(metric)
    return (None, None) if registered is None else registered.range_of(key)


def configuration_axes(tidy: pd.DataFrame) -> list[str]:
    """The run-level columns that tell configurations apart (choices and config keys that vary), without
    a column whose values follow from another axis (a model preset's own keys, given the preset)."""
    per_config = tidy.drop_duplicates("group")
    candidates = [c for c in tidy.columns if c not in NON_AXIS]
    axes: list[str] = []
    for column in candidates:
        values = per_config[column].map(cell_text)
        if values.nunique() < 2:
            continue
        if not any(_determines(per_config[axis].map(cell_text), values) for axis in axes):
            axes.append(column)
    return axes


def _determines(key: pd.Series, values: pd.Series) -> bool:
    """True when ``values`` is a function of ``key`` (e.g. a model-specific config key, given the model column)."""
    return bool(values.groupby(key.to_numpy()).nunique(dropna=False).max() <= 1)


def _one_value_per_seed(rows: pd.DataFrame, where: str) -> pd.DataFrame:
    """The rows of runs with distinct seeds: a seed found in two run folders of one configuration counts once."""
    per_run = rows.drop_duplicates("run_dir")
    dup = per_run[per_run["seed"].notna() & per_run.duplicated("seed", keep="first")]
    if len(dup):
        kept = per_run.drop_duplicates("seed", keep="first").set_index("seed")["run"]
        which = "; ".join(f"{r} ignored, {kept[s]} kept" for s, r in zip(dup["seed"], dup["run"]))
        warnings.warn(
            f"{where}: seed(s) {', '.join(str(int_or_same(s)) for s in dup['seed'])} appear in more than one "
            f"run folder; counted once ({which})",
            stacklevel=3,
        )
        rows = rows[~rows["run_dir"].isin(dup["run_dir"])]
    return rows


def comparison_tables(
    tidy: pd.DataFrame, *, baseline: str | None = None, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparison, sub-scores): one row per (configuration, metric key, protocol) of the selected rows, headline
    keys in the first table and every other key in the second; a configuration without rows in one gets n = 0.

    Rows of one configuration and key but another protocol id or detector kind are kept apart (with a
    warning); ``baseline`` (``AXIS=VALUE``) adds the difference to the configuration that has VALUE on
    AXIS and the same values on every other axis. Seeds and protocols are sorted out once for both tables.
    """
    axes = configuration_axes(tidy)
    selected = tidy[tidy["selected"] & tidy["key"].notna()]
    rows: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    apart: dict[str, set[str]] = {}  # key -> protocols kept apart somewhere (one summary warning at the end)
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
            apart.setdefault(key, set()).update(kept)
        for headline in (True, False):
            mine = [(k, part) for k, part in parts if bool(part["headline"].iloc[0]) == headline]
            if not mine:
                rows[headline].append({**describe, "status": status, "n": 0})
            for (metric, key, pid, stand_in), part in mine:
                by_seed = part.groupby("run_dir", sort=False).agg(seed=("seed", "first"), value=("value", "last"))
                by_seed = by_seed[by_seed["value"].notna()]
                values = {int_or_same(s): v for s, v in zip(by_seed["seed"], by_seed["value"])}
                bounds = metric_range(metric, key)
                interval = table_stats.mean_interval(list(values.values()), seed=seed, bounds=bounds)
                n = len(values)
                rows[headline].append(
                    {
                        **describe,
                        "metric": metric,
                        "key": key,
                        "protocol_id": pid,
                        "detector": part["detector"].iloc[0],
                        "stand_in": bool(stand_in),
                        "direction": metric_direction(metric),
                        "n": n,
                        "mean": float(pd.Series(list(values.values())).mean()) if n else math.nan,
                        "std": float(pd.Series(list(values.values())).std(ddof=1)) if n > 1 else math.nan,
                        "ci_low": interval.low,
                        "ci_high": interval.high,
                        "ci_method": interval.method,
                        "values": ";".join(f"{s}:{v:.6g}" for s, v in values.items()),
                        "kimg": ",".join(str(int_or_same(k)) for k in sorted(set(part["kimg"].dropna()))),
                        "status": status,
                        "short_count": bool(part["short_count"].astype(bool).any()),
                        "_by_seed": values,
                        "_range": bounds,
                        "_ci_cut": interval.cut,
                    }
                )
    if apart:
        headline = sorted(k for k in apart if k in set(selected.loc[selected["headline"].astype(bool), "key"]))
        shown = headline or sorted(apart)
        protocols = sorted({p for k in shown for p in apart[k]})
        warnings.warn(
            f"{len(apart)} metric key(s) ({', '.join(shown[:4])}{', ...' if len(shown) > 4 else ''}) were measured "
            f"under several protocols, kept apart in separate rows ({'; '.join(protocols[:4])}"
            f"{'; ...' if len(protocols) > 4 else ''}); compare one with --protocol latest or --protocol <id>",
            stacklevel=2,
        )
    return _comparison_frame(rows[True], axes, baseline), _comparison_frame(rows[False], axes, baseline)


def _comparison_frame(rows: list[dict[str, Any]], axes: list[str], baseline: str | None) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    private = ["_by_seed", "_range", "_ci_cut"]  # for the views, not the CSVs
    for column in ["config", *axes, *STAT_COLUMNS, *private]:
        if column not in df:
            df[column] = None
    df = df[["config", *axes, *STAT_COLUMNS, *private]]
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
        raise TableError(
            f"--baseline '{spec}' is not understood; use AXIS=VALUE, e.g. generator.positional_encoding=acyclic"
        )
    matches = [a for a in axes if a == axis] or [a for a in axes if a.split(".")[-1] == axis]
    if len(matches) != 1:
        raise TableError(
            f"--baseline {spec}: '{axis}' is {'ambiguous' if matches else 'not an axis'} here; "
            f"axes that vary: {', '.join(axes) or 'none'}"
        )
    return matches[0], value


def add_baseline(df: pd.DataFrame, axes: Sequence[str], spec: str) -> pd.DataFrame:
    """Columns ``baseline``, ``diff`` (mean - baseline mean), ``p_value`` and ``test`` (``table_stats.compare``)."""
    axis, value = parse_baseline(spec, axes)
    others = [a for a in axes if a != axis]
    text = df[list(axes)].map(cell_text) if len(axes) else pd.DataFrame(index=df.index)
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
        first = {"config": row["config"], **{a: row[a] for a in axes}, "status": row["status"]}
        out = rows.setdefault(row["config"], first)
        if isinstance(row["key"], str):
            name = row["key"] if multi.get(row["key"], 1) == 1 else f"{row['key']}@{row['protocol_id']}"
            out.update({f"{name}_mean": row["mean"], f"{name}_std": row["std"], f"{name}_n": row["n"]})
    return pd.DataFrame(list(rows.values()))
