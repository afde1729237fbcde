"""Response curves: every metric on one axis (mean response per family), and one figure per distortion family with
one panel per distortion and one line per metric."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.audit.summary import normalised_response


def plot_overview(table: pd.DataFrame, stem: Path, title: str) -> list[Path]:
    """``<stem>.png/pdf``: one axis, one colour per metric; its normalised response averaged over the spatial
    distortions (solid) and over the temporal ones (dashed) against strength. A content-biased metric's solid line
    rises far above its dashed one."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    table = table.assign(response=normalised_response(table))
    mean = table.groupby(["metric", "family", "strength"], sort=False)["response"].mean().reset_index()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    styles = {"spatial": "-", "temporal": "--"}
    for i, metric in enumerate(dict.fromkeys(table["metric"])):
        colour = f"C{i % 10}"
        for family, m in mean[mean["metric"] == metric].groupby("family", sort=False):
            m = m.sort_values("strength")
            ax.plot(
                m["strength"],
                m["response"],
                styles.get(family, ":"),
                marker="o",
                ms=3,
                color=colour,
                label=f"{metric} ({family})",
            )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="strength", ylabel="mean (value − floor) / max", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, stem)


def _save(fig, stem: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    out = []
    for suffix in (".png", ".pdf"):
        path = stem.with_suffix(suffix)
        fig.savefig(path, dpi=110)
        out.append(path)
    plt.close(fig)
    return out


def plot_family(table: pd.DataFrame, family: str, stem: Path, title: str) -> list[Path]:
    """``<stem>.png`` and ``<stem>.pdf``: normalised response (value - floor) / max |value - floor| vs strength."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    table = table.assign(response=normalised_response(table))
    part = table[table["family"] == family]
    distortions = list(dict.fromkeys(part["distortion"]))
    cols = min(5, len(distortions))
    rows = -(-len(distortions) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(4.2, 3.2 * cols), 2.8 * rows + 0.4), squeeze=False, sharey=True, layout="constrained"
    )  # constrained layout keeps the title inside the figure
    for ax, distortion in zip(axes.flat, distortions):
        d = part[part["distortion"] == distortion]
        for metric, m in d.groupby("metric", sort=False):
            m = m.sort_values("strength")
            ax.plot(m["strength"], m["response"], "o-", ms=3, label=metric)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(title=distortion, xlabel="strength")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(distortions) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("(value − floor) / max")
    axes.flat[0].legend(fontsize=7)
    import textwrap

    width = fig.get_size_inches()[0]
    lines = textwrap.wrap(title, width=max(20, int(width * 9)))  # ~9 characters per inch at 10 pt: never clipped
    fig.suptitle("\n".join(lines), fontsize=10)
    return _save(fig, stem)
