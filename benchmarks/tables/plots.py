"""Plots of a comparison (matplotlib, PNG and PDF): each headline metric against kimg, and a bar chart.

<dir>/<key>_vs_kimg.{png,pdf}   one line per configuration: mean over its seeds at each kimg,
                                band = the range of the seeds' values; only when a run has >= 2 evaluations
<dir>/<key>_bars.{png,pdf}      one bar per configuration at the selected checkpoint, labelled by its axis
                                values (the axis names on the x label), each seed's value as a dot, error bar =
                                the table's interval (n >= 3: two seeds are shown, their t interval spans
                                ±12.7 x half their distance), named in the legend, cut to the metric's declared
                                range (``Metric.value_range``; the legend says where it was cut), the y axis
                                starting at the range's low end and its high end drawn dotted
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmarks.tables.labels import STAND_IN_MARK, cell_text, range_text
from registry.files import atomic_open

__all__ = ["config_labels", "plot_stems", "write_plots"]


def axis_values(comparison: pd.DataFrame) -> tuple[str, dict[str, str]]:
    """(x label, group hash -> tick label): the axes' names once (``positional_encoding``) and each configuration's
    values (``acyclic``; several axes joined by `` / ``), not ``key=value`` strings."""
    axes = comparison.attrs.get("axes", [])
    first = comparison.drop_duplicates("config")
    if not axes:
        return "", config_labels(comparison)
    name = " / ".join(a.split(".")[-1] for a in axes)
    return name, {row["config"]: " / ".join(cell_text(row[a]) for a in axes)[:40] for _, row in first.iterrows()}


# Two seeds: the 95% t interval is the mean ± 12.7 x half their distance (one degree of freedom), wider than any
# axis worth reading; the two seeds say more, and the interval stays in the table.
MIN_DRAWN_N = 3
TWO_SEEDS_NOTE = "n = 2: the seeds, no interval\n(95% t = mean ± 12.7 × half\ntheir distance; in the table)"
INTERVAL_NAMES = {"t": "95% t interval", "bca": "95% BCa bootstrap interval", "bootstrap": "95% bootstrap interval"}


def config_labels(comparison: pd.DataFrame) -> dict[str, str]:
    """group hash -> what distinguishes the configuration (``positional_encoding=acyclic``)."""
    axes = comparison.attrs.get("axes", [])
    first = comparison.drop_duplicates("config")
    if not axes:
        return {c: "generated" if len(first) == 1 else str(c) for c in first["config"]}
    return {
        row["config"]: ", ".join(f"{a.split('.')[-1]}={cell_text(row[a])}" for a in axes)[:60]
        for _, row in first.iterrows()
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> list[Path]:
    written = []
    for suffix in (".png", ".pdf"):
        with atomic_open(path.with_suffix(suffix)) as handle:
            fig.savefig(handle, format=suffix[1:], dpi=110)
        written.append(path.with_suffix(suffix))
    return written


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)


MAX_STEM = 48  # with "_vs_kimg.png", a plot's file name stays within 60 characters


def plot_stems(scored: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(key, protocol id) -> file stem: the key, and where a key was measured under several protocols, the parts of
    the protocol id that tell them apart (``fvd64_16f-runs3``); past ``MAX_STEM`` characters, or where two would
    collide, shortened and told apart by a hash of the protocol id."""
    import hashlib

    stems: dict[tuple[str, str], str] = {}
    for key, part in scored.groupby("key", sort=False):
        pids = [str(p) for p in dict.fromkeys(part["protocol_id"])]
        common = set.intersection(*(set(p.split("/")) for p in pids))  # one protocol: all in common, no suffix
        for pid in pids:
            stem = _safe("-".join([str(key), *(x for x in pid.split("/") if x not in common)]))
            if len(stem) > MAX_STEM or stem in stems.values():
                stem = f"{stem[: MAX_STEM - 9]}-{hashlib.sha1(pid.encode()).hexdigest()[:8]}"
            stems[(key, pid)] = stem
    return stems


def write_plots(tidy: pd.DataFrame, comparison: pd.DataFrame, directory: Path) -> list[Path]:
    """Both plots for every headline key (per protocol); returns the files written."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    labels = config_labels(comparison)
    axis_name, ticks = axis_values(comparison)
    labels = ticks if axis_name else labels
    scored = comparison[comparison["key"].apply(lambda k: isinstance(k, str))]
    stems = plot_stems(scored)
    written: list[Path] = []
    for (key, pid), part in scored.groupby(["key", "protocol_id"], sort=False):
        title = key + (f" {STAND_IN_MARK}" if part["stand_in"].any() else "")
        if sum(k == key for k, _ in stems) > 1:  # several protocols of this key: say which one
            title += f"\n{pid}"
        better = "lower" if part["direction"].iloc[0] == "lower" else "higher"
        stem = stems[(key, pid)]
        rows = tidy[(tidy["key"] == key) & (tidy["protocol_id"] == pid) & tidy["value"].notna() & tidy["kimg"].notna()]
        if rows.groupby("run_dir")["kimg"].nunique().max() >= 2:  # a curve needs two evaluations
            fig, ax = plt.subplots(figsize=(6.5, 4))
            for config in part["config"]:
                runs = rows[rows["group"] == config]
                if runs.empty:
                    continue
                by_kimg = runs.groupby("kimg")["value"].agg(["mean", "min", "max"]).sort_index()
                (line,) = ax.plot(by_kimg.index, by_kimg["mean"], marker="o", label=labels.get(config, config))
                ax.fill_between(by_kimg.index, by_kimg["min"], by_kimg["max"], color=line.get_color(), alpha=0.2)
            ax.set(xlabel="kimg", ylabel=f"{key} ({better} is better)")
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            handles = ax.get_legend_handles_labels()[0] + [Patch(color="grey", alpha=0.2, label="range of the seeds")]
            ax.legend(handles=handles, fontsize=8, title=axis_name or None, title_fontsize=8)
            fig.tight_layout()
            written += _save(fig, directory / f"{stem}_vs_kimg")
            plt.close(fig)
        written += _bars(plt, part, key, title, better, axis_name, ticks, directory / f"{stem}_bars")
    return written


def _bars(plt, part: pd.DataFrame, key: str, title: str, better: str, axis_name: str, ticks: dict, path: Path):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(part) + 2.5) + 1.6, 4.2))
    means = part["mean"].to_numpy()
    seeds = [list(v.values()) if isinstance(v, dict) else [] for v in part["_by_seed"]]
    bounds = next((b for b in part["_range"] if isinstance(b, tuple)), (None, None))  # one key: one range
    shown, low, high = [], [], []  # an interval per bar of n >= MIN_DRAWN_N seeds; its ends are in range
    for i, (m, lo, hi, n) in enumerate(zip(means, part["ci_low"], part["ci_high"], part["n"])):
        if n >= MIN_DRAWN_N and not (math.isnan(lo) or math.isnan(hi)):
            shown.append(i)
            low.append(m - lo)
            high.append(hi - m)
    x = range(len(part))
    ax.bar(x, means, color="tab:blue", alpha=0.6)
    if shown:
        ax.errorbar(shown, [means[i] for i in shown], yerr=[low, high], fmt="none", ecolor="black", capsize=4, zorder=2)
    for i, values in enumerate(seeds):
        offsets = [(j - (len(values) - 1) / 2) * 0.08 for j in range(len(values))]
        ax.scatter([i + o for o in offsets], values, color="black", s=14, zorder=3)
    ax.set_xticks(list(x), [f"{ticks.get(c, c)}\n(n={n})" for c, n in zip(part["config"], part["n"])], fontsize=8)
    if bounds[0] is not None:
        ax.set_ylim(bottom=bounds[0])
    if bounds[1] is not None:  # a bounded metric: its whole range on the axis, the bound dotted
        ax.axhline(bounds[1], color="grey", linestyle=":", linewidth=1)
        bottom = ax.get_ylim()[0]
        ax.set_ylim(bottom, bounds[1] + 0.04 * (bounds[1] - bottom))
    handles = [
        Patch(color="tab:blue", alpha=0.6, label="mean over seeds"),
        Line2D([], [], marker="o", color="black", linestyle="none", markersize=4, label="one seed"),
    ]
    if shown:
        drawn = part.iloc[shown]
        interval = " / ".join(INTERVAL_NAMES.get(m, m) for m in sorted(set(drawn["ci_method"])))
        cut = bool(drawn["_ci_cut"].fillna(False).astype(bool).any())
        label = interval + (f",\ncut to the range {range_text(bounds)}" if cut else "")
        handles.append(Line2D([], [], color="black", label=label))
    if (part["n"] == 2).any():
        handles.append(Patch(color="none", label=TWO_SEEDS_NOTE))
    if bounds[1] is not None:
        handles.append(Line2D([], [], color="grey", linestyle=":", label=f"largest possible value ({bounds[1]:g})"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set(xlabel=axis_name, ylabel=f"{key} ({better} is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    written = _save(fig, path)
    plt.close(fig)
    return written
