"""Plots of a comparison (matplotlib, PNG and PDF): each headline metric against kimg, and a bar chart.

<dir>/<key>_vs_kimg.{png,pdf}   one line per configuration: mean over its seeds at each kimg,
                                band = the range of the seeds' values
<dir>/<key>_bars.{png,pdf}      one bar per configuration at the selected checkpoint, error bar =
                                the interval of the table (t or BCa), or ± std where there is none
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmarks.tables.labels import STAND_IN_MARK, cell_text
from registry.files import atomic_open

__all__ = ["config_labels", "write_plots"]


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


def write_plots(tidy: pd.DataFrame, comparison: pd.DataFrame, directory: Path) -> list[Path]:
    """Both plots for every headline key (per protocol); returns the files written."""
    plt = _pyplot()
    labels = config_labels(comparison)
    scored = comparison[comparison["key"].apply(lambda k: isinstance(k, str))]
    written: list[Path] = []
    for (key, pid), part in scored.groupby(["key", "protocol_id"], sort=False):
        title = key + (f" {STAND_IN_MARK}" if part["stand_in"].any() else "")
        better = "lower" if part["direction"].iloc[0] == "lower" else "higher"
        stem = _safe(key if scored[scored["key"] == key]["protocol_id"].nunique() == 1 else f"{key}@{pid}")
        rows = tidy[(tidy["key"] == key) & (tidy["protocol_id"] == pid) & tidy["value"].notna() & tidy["kimg"].notna()]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for config in part["config"]:
            runs = rows[rows["group"] == config]
            if runs.empty:
                continue
            by_kimg = runs.groupby("kimg")["value"].agg(["mean", "min", "max"]).sort_index()
            (line,) = ax.plot(by_kimg.index, by_kimg["mean"], marker="o", label=labels.get(config, config))
            ax.fill_between(by_kimg.index, by_kimg["min"], by_kimg["max"], color=line.get_color(), alpha=0.2)
        ax.set(xlabel="kimg", ylabel=f"{key} ({better} is better)", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        written += _save(fig, directory / f"{stem}_vs_kimg")
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(part) + 2), 4))
        means = part["mean"].to_numpy()
        low = [
            m - lo if not math.isnan(lo) else (s if not math.isnan(s) else 0)
            for m, lo, s in zip(means, part["ci_low"], part["std"])
        ]
        high = [
            hi - m if not math.isnan(hi) else (s if not math.isnan(s) else 0)
            for m, hi, s in zip(means, part["ci_high"], part["std"])
        ]
        ax.bar(range(len(part)), means, yerr=[low, high], capsize=4, color="tab:blue", alpha=0.8)
        ax.set_xticks(
            range(len(part)), [f"{labels.get(c, c)}\n(n={n})" for c, n in zip(part["config"], part["n"])], fontsize=8
        )
        ax.set(ylabel=f"{key} ({better} is better)", title=title)
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        written += _save(fig, directory / f"{stem}_bars")
        plt.close(fig)
    return written
