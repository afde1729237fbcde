"""The comparison as text (what ``sgvb table`` prints), Markdown and LaTeX.

Text is long form (one line per configuration and metric key, with n, the interval and the per-seed
values). Markdown and LaTeX are what goes into a paper: one row per configuration, one column per
headline metric key (and protocol), ``mean ± std`` rounded to the std's second significant digit,
the best mean per column in bold (lower or higher from the metric's registration), stand-in columns
and short counts marked and explained under the table.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from benchmarks.tables.labels import SHORT_COUNT_NOTE, STAND_IN_MARK, STAND_IN_NOTE, cell_text, is_nan, range_text

__all__ = ["format_mean_std", "paper_frame", "to_latex", "to_markdown", "to_text"]


def _digits(std: float) -> int:
    """Decimals that keep two significant digits of ``std`` (negative: round to tens, hundreds...)."""
    if not std or math.isnan(std) or math.isinf(std):
        return 0
    return 1 - int(math.floor(math.log10(abs(std))))


def format_mean_std(mean: float, std: float, n: int, *, pm: str = " ± ") -> str:
    """``42.0 ± 2.8``: the std to two significant digits and the mean to the same decimal; ``42.07`` for n = 1."""
    if n == 0 or math.isnan(mean):
        return "-"
    if n == 1 or math.isnan(std):
        return f"{mean:.4g}"
    if abs(std) < 1e-9 * max(1.0, abs(mean)):
        std = 0.0  # float round-off of identical values
    d = _digits(std) if std else 2
    if d < 0:
        return f"{round(mean, d):.0f}{pm}{round(std, d):.0f}"
    return f"{mean:.{d}f}{pm}{std:.{d}f}"


def _is_true(flag: Any) -> bool:
    """True for a set flag; False for False, None and NaN (a row without a metric)."""
    return bool(flag) and not is_nan(flag)


def _fmt(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def to_text(comparison: pd.DataFrame) -> str:
    """An aligned long-form table: axes, key, n, mean ± std, interval (method), per-seed values[, diff and p]."""
    axes = comparison.attrs.get("axes", [])
    scored = comparison[comparison["key"].apply(lambda k: isinstance(k, str))]
    several = bool(len(scored)) and bool((scored.groupby("key")["protocol_id"].nunique() > 1).any())
    studied = "n_stable" in comparison  # `sgvb table --n-stable`
    header = [*axes, "key", *(["protocol"] if several else []), "n", "mean ± std", "95% interval", "values", "status"]
    header += ["N_stable"] if studied else []
    with_baseline = "diff" in comparison
    if with_baseline:
        header += ["diff", "p", "test"]
    cells = [header]
    for _, row in comparison.iterrows():
        key = row["key"] if isinstance(row["key"], str) else "-"
        if isinstance(row["key"], str):
            key += STAND_IN_MARK if row["stand_in"] else ""
            key += " (short)" if row["short_count"] else ""
        n = int(row["n"] or 0)
        interval = (
            f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}] ({row['ci_method']}"
            + (f", cut to {range_text(row['_range'])})" if _is_true(row.get("_ci_cut")) else ")")
            if isinstance(row.get("ci_method"), str) and row["ci_method"]
            else ""  # n < 2, or a failed run's row (NaN)
        )
        protocol = [row["protocol_id"] if isinstance(row.get("protocol_id"), str) else "-"] if several else []
        line = [
            *(cell_text(row[a]) for a in axes),
            key,
            *protocol,
            str(n),
            format_mean_std(row["mean"], row["std"], n),
            interval,
            seed_values_text(row["values"]),
            row["status"] or "",
        ]
        if studied:
            line.append("" if row.get("n_stable") is None or str(row["n_stable"]) == "<NA>" else str(row["n_stable"]))
        if with_baseline:
            line += [_fmt(row["diff"]), _fmt(row["p_value"]), row["test"] or ""]
        cells.append([str(c) for c in line])
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    protocols = [] if several else _protocol_notes(comparison)  # the protocol is always visible
    return "\n".join(lines + protocols + [f"WARNING {note}" for note in _notes(comparison)])


MAX_SEEDS_SHOWN = 6  # the console lists per-seed values up to this many seeds, then summarises them


def seed_values_text(values: str, max_shown: int = MAX_SEEDS_SHOWN) -> str:
    """The console's per-seed cell: ``0:13.35;1:17.21`` as it is, or with many seeds ``100 seeds: min 12.1 (seed 4),
    max 19.8 (seed 17); each in the CSV``."""
    if not isinstance(values, str):
        return ""  # no value (a failed run's row)
    pairs = [item.split(":", 1) for item in values.split(";") if ":" in item]
    if len(pairs) <= max_shown:
        return values
    numbers = [(float(v), seed) for seed, v in pairs]
    low, high = min(numbers), max(numbers)
    return f"{len(pairs)} seeds: min {low[0]:.4g} (seed {low[1]}), max {high[0]:.4g} (seed {high[1]}); each in the CSV"


def protocol_marks(comparison: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``(key, protocol id) -> mark``: "" where a key has one protocol, ``(1)``, ``(2)``, ... where it has several
    (the column header carries the mark, the footnote the protocol)."""
    scored = comparison[comparison["key"].apply(lambda k: isinstance(k, str))]
    multi = scored.groupby("key")["protocol_id"].nunique()
    marks, count = {}, 0
    for key, pid in dict.fromkeys(zip(scored["key"], scored["protocol_id"])):
        if multi[key] > 1:
            count += 1
            marks[(key, pid)] = f"({count})"
        else:
            marks[(key, pid)] = ""
    return marks


def _protocol_notes(comparison: pd.DataFrame) -> list[str]:
    marks = protocol_marks(comparison)
    single = [f"{key}: {pid}" for (key, pid), mark in marks.items() if not mark]
    lines = [f"Protocols: {'; '.join(single)}."] if single else []
    return lines + [f"{mark} {key}: protocol {pid}." for (key, pid), mark in marks.items() if mark]


def _notes(comparison: pd.DataFrame) -> list[str]:
    notes = []
    if comparison["stand_in"].fillna(False).astype(bool).any():
        notes.append(STAND_IN_NOTE)
    if comparison["short_count"].fillna(False).astype(bool).any():
        notes.append(SHORT_COUNT_NOTE)
    return notes


def paper_frame(comparison: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cell text, bold mask): one row per configuration, one column per headline key and protocol."""
    axes = comparison.attrs.get("axes", [])
    scored = comparison[comparison["key"].apply(lambda k: isinstance(k, str))]
    marks = protocol_marks(comparison)
    configs = list(dict.fromkeys(comparison["config"]))
    first = comparison.drop_duplicates("config").set_index("config")
    text = pd.DataFrame({a: [cell_text(first.at[c, a]) for c in configs] for a in axes}, index=configs)
    bold = pd.DataFrame(False, index=configs, columns=list(text.columns))
    for (key, pid), part in scored.groupby(["key", "protocol_id"], sort=False):
        stand_in = bool(part["stand_in"].iloc[0])
        column = key + (f" {STAND_IN_MARK}" if stand_in else "")
        arrow = "↓" if part["direction"].iloc[0] == "lower" else "↑"
        column = f"{column} {arrow}" + (f" {marks[(key, pid)]}" if marks[(key, pid)] else "")  # protocol: footnote
        part = part.set_index("config")
        show_n = part["n"].nunique() > 1
        cells = []
        for c in configs:
            if c not in part.index:
                cells.append("-")
                continue
            r = part.loc[c]
            cell = format_mean_std(r["mean"], r["std"], int(r["n"])) + (f" (n={int(r['n'])})" if show_n else "")
            cells.append(cell + ("*" if r["short_count"] else ""))
        text[column] = cells
        means = part["mean"].dropna()
        best = (means.idxmin() if part["direction"].iloc[0] == "lower" else means.idxmax()) if len(means) > 1 else None
        bold[column] = [c == best for c in configs]
    if not axes:
        text.insert(0, "configuration", configs)
        bold.insert(0, "configuration", False)
    return text, bold


def _caption(comparison: pd.DataFrame) -> list[str]:
    ns = sorted({int(n) for n in comparison["n"].dropna() if n})
    lines = [
        f"mean ± std over seeds (n = {', '.join(map(str, ns)) or '0'}); ↓ lower / ↑ higher is better; best in bold."
    ]
    lines += [("* " + note) if note is SHORT_COUNT_NOTE else note for note in _notes(comparison)]
    return lines + _protocol_notes(comparison)


def to_markdown(comparison: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table for a paper draft or a README."""
    text, bold = paper_frame(comparison)

    def esc(value: Any) -> str:  # '*' (the short-count mark) is literal, not emphasis
        return str(value).replace("|", "\\|").replace("*", "\\*").replace("\n", " ")

    lines = ["| " + " | ".join(esc(c) for c in text.columns) + " |", "|" + "---|" * len(text.columns)]
    for i in text.index:
        cells = [f"**{esc(v)}**" if bold.at[i, c] else esc(v) for c, v in text.loc[i].items()]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [esc(line) for line in _caption(comparison)]  # one paragraph each: a '* note' is not a list item
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(value: str) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(value))
    return out.replace("±", r"$\pm$").replace("↓", r"$\downarrow$").replace("↑", r"$\uparrow$")


def to_latex(comparison: pd.DataFrame) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), ready to ``\\input``; notes as comments."""
    text, bold = paper_frame(comparison)
    axes = len(comparison.attrs.get("axes", [])) or 1
    spec = "l" * axes + "r" * (len(text.columns) - axes)
    lines = [f"% {line}" for line in _caption(comparison)]
    lines += [
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in text.columns) + r" \\",
        r"\midrule",
    ]
    for i in text.index:
        cells = [
            rf"\textbf{{{_latex_escape(v)}}}" if bold.at[i, c] else _latex_escape(v) for c, v in text.loc[i].items()
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
