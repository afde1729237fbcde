"""``sgvb table``: run folders -> long-form CSV tables, Markdown, LaTeX and plots.

    sgvb table runs/grid/quickstart -o results.csv [--select final|best:fvd64_16f[:max]]
               [--baseline generator.positional_encoding=acyclic] [--markdown results.md] [--latex results.tex]
               [--plots results/plots] [--wide] [--protocol latest|<protocol id>]

Tables are generated *from* the records (``run.json``, ``status.json``, ``config.yaml`` through
``benchmarks.records.run_records``; ``metric-*.jsonl`` through ``metrics.records``), never the reverse.
Failed and partial runs are kept: a failed run without metrics still gets one row saying so.

* Tidy CSV (``-o``): one row per run x evaluation (kimg) x metric key, with the configuration's
  choices, the configuration keys that differ between the runs, the run status and every protocol
  field of the metric record (``benchmarks.tables.tidy``). ``selected`` marks the rows that ``--select``
  picked (``benchmarks.tables.selection``).
* Comparison CSV (``<stem>_comparison.csv``): one row per (configuration, headline metric key,
  protocol): only the ablation axes that vary, the protocol id, detector, stand-in flag, n, mean, std,
  the interval and its method (``benchmarks.tables.stats``), the per-seed values (``0:13.35;1:17.21``),
  kimg and status; with ``--baseline`` also the difference to the baseline and a test's p-value
  (``benchmarks.tables.comparison``). Sub-scores (every non-headline key) go to ``<stem>_subscores.csv``
  with the same columns; ``--wide`` adds ``<stem>_wide.csv``, one row per configuration.
* Text (printed), Markdown and LaTeX: ``benchmarks.tables.export``; plots: ``benchmarks.tables.plots``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.errors import one_line_errors
from benchmarks.tables import TableError
from benchmarks.tables import export as table_export
from benchmarks.tables import plots as table_plots
from benchmarks.tables.comparison import comparison_tables, wide_table
from benchmarks.tables.runs import RUN_MARKERS, find_run_dirs, read_run
from benchmarks.tables.sample_size import add_n_stable, read_n_stable
from benchmarks.tables.selection import parse_select, select_checkpoints
from benchmarks.tables.tidy import tidy_table
from registry.files import atomic_write_text

__all__ = ["Tables", "TableError", "build_tables", "comparison_path", "main", "sibling_path", "write_tables"]


@dataclass
class Tables:
    tidy: pd.DataFrame
    comparison: pd.DataFrame  # headline keys
    subscores: pd.DataFrame  # every other key


def build_tables(
    dirs: Sequence[str | os.PathLike],
    *,
    select: str = "final",
    baseline: str | None = None,
    protocol: Sequence[str] | str | None = None,
    n_stable: str | os.PathLike | None = None,
) -> Tables:
    """Read every run folder under ``dirs`` and return the tidy table, the comparison and the sub-scores.
    ``protocol``: ``latest`` or protocol ids (``select_protocols``): which protocol of a metric the comparison uses.
    ``n_stable``: a ``sgvb sample-size`` ``n_stable.json``: its N_stable goes beside each key it covers."""
    parse_select(select)  # a bad --select fails before any reading
    study = read_n_stable(n_stable) if n_stable is not None else None  # a bad file fails before any reading too
    run_dirs = find_run_dirs(dirs)
    if not run_dirs:
        raise TableError(f"no run folders (with {' or '.join(RUN_MARKERS)}) found under: {', '.join(map(str, dirs))}")
    runs = [read_run(path) for path in run_dirs]
    tidy = select_protocols(select_checkpoints(tidy_table(runs), select), protocol)
    comparison, subscores = comparison_tables(tidy, baseline=baseline)
    if study is not None:
        comparison, subscores = add_n_stable(comparison, study), add_n_stable(subscores, study)
    return Tables(tidy, comparison, subscores)


def select_protocols(tidy: pd.DataFrame, protocol: Sequence[str] | str | None) -> pd.DataFrame:
    """Keep, for each metric, the records of one protocol: ``latest`` = the protocol of the metric's newest record;
    a protocol id (repeatable) = that protocol for its metric (other metrics keep all theirs). Rows without a metric
    (failed runs) stay. ``selected`` is cleared on the rows left out; the tidy CSV keeps every row."""
    if not protocol:
        return tidy
    wanted = [protocol] if isinstance(protocol, str) else list(protocol)
    scored = tidy[tidy["key"].notna() & tidy["protocol_id"].notna()]
    known = list(dict.fromkeys(scored["protocol_id"]))
    keep: dict[str, str] = {}  # metric -> protocol id
    for spec in wanted:
        if spec == "latest":
            newest = scored.sort_values("timestamp", kind="stable").groupby("metric", sort=False).tail(1)
            keep.update({m: pid for m, pid in zip(newest["metric"], newest["protocol_id"]) if m not in keep})
            continue
        match = scored[scored["protocol_id"] == spec]
        if match.empty:
            raise TableError(
                f"--protocol {spec}: no record has this protocol id; ids found: {', '.join(known) or 'none'} "
                "(or --protocol latest)"
            )
        keep[str(match["metric"].iloc[0])] = spec
    out = tidy.copy()
    other = out["metric"].isin(list(keep)) & (out["protocol_id"] != out["metric"].map(keep))
    out.loc[other, "selected"] = False
    return out


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
    protocol: Sequence[str] | str | None = None,
    n_stable: str | os.PathLike | None = None,
) -> Tables:
    """``build_tables`` plus the files: tidy CSV at ``output`` with ``_comparison``/``_subscores``(/``_wide``)
    CSVs next to it, Markdown, LaTeX and plots (``benchmarks.tables.plots``)."""
    tables = build_tables(dirs, select=select, baseline=baseline, protocol=protocol, n_stable=n_stable)
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
        table_plots.write_plots(tables.tidy, tables.comparison, Path(plots))
    return tables


@contextlib.contextmanager
def warnings_as_lines(prog: str) -> Iterator[None]:
    """A table's warnings (protocols kept apart, a seed counted once, a torn record line) as one line each on stderr,
    ``sgvb table: warning: ...``, not Python's ``file.py:70: UserWarning:`` and the source line that raised it."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001 - warnings' signature
        print(f"{prog}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sgvb table",
        description="Aggregate run folders (finished, failed or partial) into long-form CSV tables, Markdown, "
        "LaTeX and plots.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run folders, or folders searched recursively for them")
    parser.add_argument(
        "-o", "--output", help="tidy CSV path; <stem>_comparison.csv and <stem>_subscores.csv go next to it"
    )
    parser.add_argument(
        "--select",
        default="final",
        help="checkpoint per run: 'final' (default), 'best:<key>' (lowest) or 'best:<key>:max'",
    )
    parser.add_argument(
        "--baseline", metavar="AXIS=VALUE", help="add the difference to this configuration and a t-test's p-value"
    )
    parser.add_argument("--markdown", help="also write the comparison as a Markdown table here")
    parser.add_argument(
        "--latex", help="also write the comparison as a LaTeX (booktabs) tabular here, ready to \\input"
    )
    parser.add_argument(
        "--plots", metavar="DIR", help="also write plots (metric vs kimg, bars with error bars) here, PNG and PDF"
    )
    parser.add_argument("--wide", action="store_true", help="also write <stem>_wide.csv: one row per configuration")
    parser.add_argument(
        "--protocol",
        action="append",
        metavar="latest|ID",
        help="compare one protocol per metric: 'latest' (its newest record's) or a protocol id from the comparison "
        "CSV's protocol_id column (repeatable); default: every protocol, kept apart",
    )
    parser.add_argument(
        "--n-stable",
        metavar="N_STABLE_JSON",
        help="a `sgvb sample-size` n_stable.json: each key it covers gets its N_stable (the fewest videos for a value "
        "within 2%% std and a ranking with Kendall tau >= 0.9) beside it",
    )
    args = parser.parse_args(argv)
    with (
        warnings_as_lines("sgvb table"),
        one_line_errors("table", known=(TableError, OSError, ValueError), exit_on_error=False) as failure,
    ):
        tables = write_tables(
            args.dirs,
            output=args.output,
            markdown=args.markdown,
            latex=args.latex,
            plots=args.plots,
            select=args.select,
            baseline=args.baseline,
            wide=args.wide,
            protocol=args.protocol,
            n_stable=args.n_stable,
        )
    if failure:
        return failure.status
    print(table_export.to_text(tables.comparison))
    if args.output:
        print(
            f"\nwrote {args.output} ({len(tables.tidy)} rows), "
            f"{comparison_path(args.output)} ({len(tables.comparison)} rows), "
            f"{sibling_path(args.output, 'subscores')} ({len(tables.subscores)} rows)"
        )
    for name in ("markdown", "latex", "plots"):
        if getattr(args, name):
            print(f"wrote {getattr(args, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
