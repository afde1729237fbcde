"""The results folder of a grid: tables, one sample GIF per job, metric plots and a consistency comparison plot.

    results/<grid>/
      results.csv              tidy: run x evaluation x metric key (benchmarks.tables.table)
      results_comparison.csv   one row per configuration x headline key: n, mean, std, interval, per-seed values
      results_subscores.csv    the same for sub-scores (consistency short/long/loop/drift ...)
      results.md, results.tex  the comparison as Markdown and LaTeX (booktabs)
      samples/<job>.gif        each job's latest sample grid, enlarged (nearest pixel) to at least 256 px
      plots/<key>_vs_kimg.{png,pdf}, plots/<key>_bars.{png,pdf}   (benchmarks.tables.plots)
      plots/<job>--<metric>.png   each metric's own plot at the selected checkpoint (e.g. consistency curves)
    <job> is what differs between the grid's jobs (``model=digan_small,seed=1``; ``grid.job_labels``), not the
    job's folder name, which also carries every shared override.
      consistency.png          self-similarity profiles of every configuration (mean over seeds) against real videos

Everything is generated from the run folders, so deleting this folder loses nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.tables import plots as table_plots
from benchmarks.tables import table
from registry.files import atomic_open


def write_results(
    run_dirs: Sequence[Path], results_dir: Path, *, labels: dict[Path, str], select: str = "final"
) -> table.Tables:
    """Tables, samples and plots for ``run_dirs`` (``labels``: run folder -> file-name label)."""
    results_dir = Path(results_dir)
    tables = table.write_tables(
        run_dirs,
        output=results_dir / "results.csv",
        markdown=results_dir / "results.md",
        latex=results_dir / "results.tex",
        plots=results_dir / "plots",
        select=select,
    )
    tidy, comparison = tables.tidy, tables.comparison
    for run_dir in run_dirs:
        label = labels.get(Path(run_dir), Path(run_dir).name)
        gifs = sorted((Path(run_dir) / "samples").glob("*.gif"), key=lambda p: (p.stat().st_mtime, p.name))
        if gifs:
            upscaled_gif(gifs[-1], results_dir / "samples" / f"{label}.gif")
    chosen = tidy[tidy["selected"] & tidy["artifacts"].notna()].drop_duplicates(["run_dir", "metric", "artifacts"])
    for _, row in chosen.iterrows():
        plot = json.loads(row["artifacts"]).get("plot")
        if plot and Path(plot).is_file():
            label = labels.get(Path(row["run_dir"]), Path(row["run_dir"]).name)
            _copy(Path(plot), results_dir / "plots" / f"{label}--{row['metric']}.png")
    plot_consistency(tidy, comparison, results_dir / "consistency.png")
    return tables


def plot_consistency(tidy: pd.DataFrame, comparison: pd.DataFrame, path: Path) -> Path | None:
    """One self-similarity profile c(Δ) per configuration (mean over its runs) and the real videos' profile.

    Reads the per-lag curves the consistency metric saved (``lags``, ``lag_gen``, ``lag_real``) at each run's
    selected checkpoint; nothing is drawn when no run has them.
    """
    rows = tidy[
        tidy["selected"]
        & tidy["headline"].astype(bool)
        & tidy["metric"].astype(str).str.startswith("consistency")
        & tidy["artifacts"].notna()
    ]
    curves: dict[str, list[dict[str, np.ndarray]]] = {}
    for _, row in rows.iterrows():
        npz = json.loads(row["artifacts"]).get("curves")
        if npz and Path(npz).is_file():
            with np.load(npz) as data:
                if {"lags", "lag_gen", "lag_real"} <= set(data.files):
                    curves.setdefault(row["group"], []).append({k: data[k] for k in ("lags", "lag_gen", "lag_real")})
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    axis_name, names = table_plots.axis_values(comparison)  # values in the legend, the axis names as its title
    names = names if axis_name else table_plots.config_labels(comparison)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    real = None
    for group, runs in curves.items():
        lags = runs[0]["lags"][1:]
        gen = np.mean([r["lag_gen"][1:] for r in runs if len(r["lag_gen"]) == len(lags) + 1], axis=0)
        ax.plot(lags, gen, label=f"{names.get(group, group)} (n={len(runs)})")
        real = real if real is not None else (lags, runs[0]["lag_real"][1:])
    ax.plot(*real, "k--", label="real videos")
    stand_in = bool(rows["stand_in"].any())
    ax.set(
        xscale="log",
        xlabel="lag Δ (frames)",
        ylabel="mean cos(f_t, f_t+Δ)",
        title="self-similarity over time" + (" [stand-in detector]" if stand_in else ""),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=axis_name or None, title_fontsize=8)
    fig.tight_layout()
    with atomic_open(path) as handle:
        fig.savefig(handle, dpi=100, format="png")
    plt.close(fig)
    return path


MIN_GIF_SIZE = 256  # a tiny model's 32x32 sample grid is enlarged to be seen on a slide


def upscaled_gif(src: Path, dst: Path, min_size: int = MIN_GIF_SIZE) -> Path:
    """Copy a GIF, enlarged by a whole factor (nearest pixel: no new detail) until its shorter side is >= min_size;
    frame timing and looping kept. An unreadable GIF is copied as it is."""
    import math

    from PIL import Image, ImageSequence

    try:
        with Image.open(src) as image:
            factor = max(1, math.ceil(min_size / max(1, min(image.size))))
            if factor == 1:
                return _copy(src, dst)
            frames = [
                f.convert("RGB").resize((f.width * factor, f.height * factor), Image.NEAREST)
                for f in ImageSequence.Iterator(image)
            ]
            durations = [f.info.get("duration", image.info.get("duration", 40)) for f in ImageSequence.Iterator(image)]
            loop = image.info.get("loop", 0)
    except OSError:
        return _copy(src, dst)
    with atomic_open(dst) as handle:
        frames[0].save(handle, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=loop)
    return dst


def _copy(src: Path, dst: Path) -> Path:
    with atomic_open(dst) as handle, open(src, "rb") as source:
        shutil.copyfileobj(source, handle)
    return dst
