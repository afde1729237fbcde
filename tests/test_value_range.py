"""A metric's declared value range (``Metric.value_range``): tables and plots keep intervals inside it, and
declaring it does not change the protocol fingerprint of the metric's code."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
from test_table import make_run

from benchmarks.tables import export as table_export
from benchmarks.tables import plots as table_plots
from benchmarks.tables import stats as table_stats
from benchmarks.tables import table
from metrics.base import build_metric
from metrics.protocol import code_without_docstrings


def test_each_builtin_metric_declares_its_range_per_result_key():
    assert build_metric("fvd64_16f").range_of("fvd64_16f") == (0.0, None)
    assert build_metric("fid50k_full").range_of("fid50k_full") == (0.0, None)
    assert build_metric("kid50k_full").range_of("kid50k_full") == (None, None)  # unbiased: may be < 0
    assert build_metric("kvd2048_16f").range_of("kvd2048_16f") == (None, None)
    inception = build_metric("is50k")
    assert inception.range_of("is50k_mean") == (1.0, None) and inception.range_of("is50k_std") == (0.0, None)
    lvc = build_metric("consistency4_128f")
    assert lvc.range_of("consistency4_128f") == (0.0, 1.0) and lvc.range_of("consistency4_128f_short") == (-1.0, None)
    assert lvc.range_of("consistency4_128f_fd_drift") == (None, None)  # a difference: either sign
    prdc = build_metric("prdc2048_16f")
    assert prdc.range_of("prdc2048_16f_recall") == (0.0, 1.0) and prdc.range_of("prdc2048_16f_density") == (0.0, None)
    assert prdc.range_of("fvd64_16f") == (None, None)  # another metric's key: nothing declared


def test_declaring_a_value_range_leaves_the_fingerprinted_code_unchanged():
    base = textwrap.dedent(
        '''
        class M(Metric):
            """doc"""

            direction = "lower"

            def compute(self):
                return 1
        '''
    )
    declared = base.replace('direction = "lower"\n', 'direction = "lower"\n    value_range = (0.0, 1.0)\n')
    annotated = base.replace('direction = "lower"\n', 'direction = "lower"\n    value_range: tuple = {"": (0, 1)}\n')
    other = base.replace('direction = "lower"\n', 'direction = "lower"\n    num_frames = 16\n')
    assert declared != base
    assert code_without_docstrings(declared) == code_without_docstrings(base) == code_without_docstrings(annotated)
    assert code_without_docstrings(other) != code_without_docstrings(base)  # any other attribute still counts


def test_an_interval_is_cut_to_the_range_and_says_so():
    interval = table_stats.mean_interval([0.95, 0.5], bounds=(0.0, 1.0))
    assert (interval.low, interval.high, interval.method, interval.cut) == (0.0, 1.0, "t", True)
    uncut = table_stats.mean_interval([10.0, 11.0, 12.0], bounds=(0.0, None))
    assert uncut == table_stats.mean_interval([10.0, 11.0, 12.0]) and not uncut.cut
    assert math.isnan(table_stats.mean_interval([0.5], bounds=(0.0, 1.0)).low)  # n = 1: still no interval


@pytest.fixture
def bounded_runs(tmp_path: Path) -> Path:
    """consistency (in [0, 1]) and FVD (>= 0) of two configurations: three and two seeds, far apart."""
    values = {"acyclic": [(0.95, 10.0), (0.5, 40.0), (0.9, 70.0)], "none": [(1.0, 5.0), (0.2, 90.0)]}
    for pe, seeds in values.items():
        for seed, (lvc, fvd) in enumerate(seeds):
            records = (
                (4, "consistency128f", {"consistency128f": lvc, "consistency128f_short": lvc - 1.0}, True),
                (4, "fvd64_16f", {"fvd64_16f": fvd}, True),
                (4, "kid50k_full", {"kid50k_full": fvd / 100 - 0.3}, True),
            )
            make_run(tmp_path / "runs", f"pe={pe},seed={seed}", pe=pe, seed=seed, records=records)
    return tmp_path / "runs"


def test_table_intervals_of_bounded_metrics_stay_in_range(bounded_runs: Path):
    tables = table.build_tables([bounded_runs])
    rows = {(r["generator.positional_encoding"], r["key"]): r for _, r in tables.comparison.iterrows()}
    for pe in ("acyclic", "none"):
        lvc, fvd, kid = rows[(pe, "consistency128f")], rows[(pe, "fvd64_16f")], rows[(pe, "kid50k_full")]
        assert 0.0 <= lvc["ci_low"] and lvc["ci_high"] <= 1.0 and lvc["_ci_cut"]
        assert fvd["ci_low"] == 0.0 and fvd["_ci_cut"]
        assert kid["ci_low"] < 0 and not kid["_ci_cut"]  # unbiased KID may be negative: nothing to cut
    short = tables.subscores.set_index(["generator.positional_encoding", "key"]).loc[("none", "consistency128f_short")]
    assert short["ci_low"] == -1.0  # a sub-score's own range
    text = table_export.to_text(tables.comparison)
    assert "(t, cut to [0, 1])" in text and "(t, cut to [0, ∞))" in text


def test_bar_plots_draw_intervals_in_range_and_only_from_three_seeds(bounded_runs: Path, tmp_path: Path, monkeypatch):
    from matplotlib.collections import LineCollection

    figures = {}
    save = table_plots._save

    def keep(fig, path):
        figures[path.name] = fig.axes[0]
        return save(fig, path)

    monkeypatch.setattr(table_plots, "_save", keep)
    tables = table.build_tables([bounded_runs])
    table_plots.write_plots(tables.tidy, tables.comparison, tmp_path / "plots")
    for name, (low, high) in {"consistency128f_bars": (0.0, 1.0), "fvd64_16f_bars": (0.0, math.inf)}.items():
        ax = figures[name]
        segments = [s for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()]
        assert len(segments) == 1  # one error bar: acyclic (n = 3); none (n = 2) shows its two seeds only
        ys = [y for segment in segments for _, y in segment]
        assert low <= min(ys) and max(ys) <= high
        assert ax.get_ylim()[0] == low and (math.isinf(high) or high < ax.get_ylim()[1] < 1.05 * high)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("cut to the range" in t for t in labels) and any(t.startswith("n = 2: the seeds") for t in labels)
    kid = figures["kid50k_full_bars"]
    assert kid.get_ylim()[0] < -0.2  # unbounded below: the axis follows the data
