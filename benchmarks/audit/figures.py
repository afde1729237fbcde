"""Response curves: one figure per distortion family, one panel per distortion, one line per metric."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.audit.summary import normalised_response


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
    out = []
    for suffix in (".png", ".pdf"):
        path = stem.with_suffix(suffix)
        fig.savefig(path, dpi=110)
        out.append(path)
    plt.close(fig)
    return out
