"""`sgvb table` on hand-made run folders (contract 4 layout, contract 3 records)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.cli import main as sgvb
from benchmarks.records.run_folder import group_hash
from benchmarks.tables import TableError, table
from benchmarks.tables import comparison as comparison_module
from benchmarks.tables import export as table_export
from benchmarks.tables import plots as table_plots
from benchmarks.tables import stats as table_stats
from metrics.records import MetricRecord, read_metric_records

FVD_PROTOCOL_ID = "fvd64_16f/v1/default/i3d-stand-in/32px"


def make_run(
    root: Path,
    name: str,
    *,
    pe: str = "acyclic",
    seed: int = 0,
    state: str = "done",
    error: str | None = None,
    records: tuple = (),
    extra_config: dict | None = None,
    run_json: bool = True,
    protocol: dict | None = None,
) -> Path:
    """A run folder as the harness writes it; ``records`` = (kimg, metric, {key: value}, stand_in)."""
    run = root / name
    run.mkdir(parents=True)
    config = {
        "seed": seed,
        "run_dir": str(run),
        "resume": "auto",
        "generator": {"_name_": "stylegan_v", "positional_encoding": pe, "channel_base": 64},
        "discriminator": {"_name_": "stylegan_v", "conditioning": "projection"},
        "dataset": {"_name_": "synthetic", "resolution": 32},
        "trainer": {"total_kimg": 4},
        **(extra_config or {}),
    }
    import yaml

    (run / "config.yaml").write_text(yaml.safe_dump(config))
    if run_json:
        (run / "run.json").write_text(
            json.dumps(
                {
                    "package_version": "0.1.0",
                    "seed": seed,
                    "config_hash": f"hash-{name}",
                    "dataset": "synthetic",
                    "resolution": 32,
                    "precision": "fp32",
                    "components": {
                        "generator": {
                            "name": "stylegan_v",
                            "provider": "stylegan-v-bench",
                            "version": "0.1.0",
                            "kwargs": {"positional_encoding": pe},
                        },
                        "discriminator": {
                            "name": "stylegan_v",
                            "provider": "stylegan-v-bench",
                            "version": "0.1.0",
                            "kwargs": {},
                        },
                        "dataset": {
                            "name": "synthetic",
                            "provider": "stylegan-v-bench",
                            "version": "0.1.0",
                            "kwargs": {},
                        },
                    },
                }
            )
        )
    (run / "status.json").write_text(
        json.dumps({"state": state, "error": error, "kimg": 4.0, "updated": "2026-01-01T00:00:00"})
    )
    lines: dict[str, list[str]] = {}
    for kimg, metric, results, stand_in in records:
        record = {
            "metric": metric,
            "value": next(iter(results.values())),
            "results": results,
            "protocol": {
                "num_real": 64,
                "num_fake": 64,
                "frames": 16,
                "subsample": 1,
                "resolution": 32,
                "detector": "i3d[stand-in]" if stand_in else "i3d",
                "detector_sha256": "ab" if stand_in else "cd",
                "stand_in": stand_in,
                "mode": "default",
                "seed": 0,
                "protocol_id": f"{metric}/v1/default/i3d-{'stand-in' if stand_in else 'cd'}/32px",
                "protocol_hash": "0123456789abcdef",
                "protocol_version": 1,
                **(protocol or {}),
            },
            "kimg": kimg,
            "checkpoint": f"checkpoints/ckpt-{int(kimg):06d}.pt",
            "wall_time_s": 1.0,
            "versions": {"sgvb": "0.1.0"},
            "timestamp": "2026-01-01T00:00:00",
        }
        lines.setdefault(metric, []).append(json.dumps(record))
    for metric, metric_lines in lines.items():
        (run / f"metric-{metric}.jsonl").write_text("\n".join(metric_lines) + "\n")
    return run


def fvd(kimg, value, stand_in=True):
    return (kimg, "fvd64_16f", {"fvd64_16f": value}, stand_in)


@pytest.fixture
def grid_runs(tmp_path: Path) -> Path:
    """Two configurations x two seeds, one failed run (no metrics) and one partial run (a truncated last line)."""
    root = tmp_path / "grid"
    make_run(
        root,
        "pe=acyclic,seed=0",
        seed=0,
        records=(
            fvd(2, 50.0),
            fvd(4, 40.0),
            (4, "consistency128f", {"consistency128f": 0.1, "consistency128f_drift": 0.2}, True),
        ),
    )
    make_run(root, "pe=acyclic,seed=1", seed=1, records=(fvd(2, 30.0), fvd(4, 44.0)))  # best is kimg 2
    make_run(root, "pe=none,seed=0", pe="none", seed=0, records=(fvd(2, 90.0), fvd(4, 80.0)))
    make_run(
        root, "pe=none,seed=1", pe="none", seed=1, state="failed", error="RuntimeError: loss D_real is NaN at kimg 1.2"
    )
    partial = make_run(root, "pe=sinusoidal,seed=0", pe="sinusoidal", state="running", records=(fvd(2, 70.0),))
    with open(partial / "metric-fvd64_16f.jsonl", "a") as handle:
        handle.write('{"metric": "fvd64_16f", "value": 6')  # killed mid-append
    return root


PE = "generator.positional_encoding"


def by_config(comparison: pd.DataFrame, key: str = "fvd64_16f") -> pd.DataFrame:
    return comparison[comparison["key"] == key].set_index(PE)


def test_tidy_rows_cover_runs_checkpoints_and_keys(grid_runs: Path):
    with pytest.warns(UserWarning, match="unreadable part of line 2"):
        tables = table.build_tables([grid_runs])
    tidy = tables.tidy
    assert len(tidy) == 4 + 2 + 2 + 1 + 1  # metric keys x checkpoints per run; one row for the failed run
    for column in (
        "generator",
        "discriminator",
        "dataset",
        "resolution",
        "seed",
        "kimg",
        "metric",
        "protocol_id",
        "key",
        "value",
        "num_real",
        "num_fake",
        "frames",
        "subsample",
        "detector",
        "detector_sha256",
        "stand_in",
        "mode",
        "eval_seed",
        "status",
        "config_hash",
        "package_version",
        "short_count",
    ):
        assert column in tidy.columns, column
    # the ablation axis shows up once, as its config key; seed and run_dir are not "varying config" columns
    assert PE in tidy.columns and "run_dir" in tidy.columns and "positional_encoding" not in tidy.columns
    failed = tidy[tidy["status"] == "failed"]
    assert len(failed) == 1 and failed["error"].iloc[0].startswith("RuntimeError: loss D_real is NaN")
    assert failed["key"].isna().all()
    partial = tidy[tidy["status"] == "running"]
    assert partial["value"].tolist() == [70.0]
    assert set(tidy.loc[tidy[PE] == "acyclic", "seed"]) == {0, 1}


def test_a_torn_line_does_not_swallow_the_next_record(tmp_path: Path):
    run = make_run(tmp_path, "a", records=(fvd(2, 50.0),))
    good = json.loads((run / "metric-fvd64_16f.jsonl").read_text().splitlines()[0])
    with open(run / "metric-fvd64_16f.jsonl", "a") as handle:  # killed mid-append, then resumed and appended again
        handle.write(
            '{"metric": "fvd64_16f", "value": 6'
            + json.dumps(dict(good, kimg=4, value=41.0, results={"fvd64_16f": 41.0}))
            + "\n"
        )
    with pytest.warns(UserWarning, match="torn write"):
        records = read_metric_records(run / "metric-fvd64_16f.jsonl")
    assert [r.value for r in records] == [50.0, 41.0]


def test_final_and_best_selection(grid_runs: Path):
    with pytest.warns(UserWarning):
        comparison = table.build_tables([grid_runs], select="final").comparison
    acyclic = by_config(comparison).loc["acyclic"]
    assert acyclic["kimg"] == "4"
    assert acyclic["mean"] == pytest.approx(42.0) and acyclic["n"] == 2
    assert acyclic["std"] == pytest.approx(np.std([40.0, 44.0], ddof=1))
    assert acyclic["values"] == "0:40;1:44"
    with pytest.warns(UserWarning):
        tables = table.build_tables([grid_runs], select="best:fvd64_16f")
    acyclic = by_config(tables.comparison).loc["acyclic"]
    assert acyclic["mean"] == pytest.approx((40.0 + 30.0) / 2)
    assert acyclic["kimg"] == "2,4"
    # the other metric is read at the selected checkpoint of each run
    assert by_config(tables.comparison, "consistency128f").loc["acyclic", "n"] == 1
    with pytest.warns(UserWarning):
        comparison = table.build_tables([grid_runs], select="best:fvd64_16f:max").comparison
    assert by_config(comparison).loc["acyclic", "mean"] == pytest.approx(47.0)


def test_comparison_is_long_form_with_stable_columns(grid_runs: Path):
    with pytest.warns(UserWarning):
        tables = table.build_tables([grid_runs])
    comparison = tables.comparison
    assert list(comparison.columns[:2]) == ["config", PE]  # only the axis that varies
    assert [c for c in comparison.columns if not c.startswith("_")][2:] == comparison_module.STAT_COLUMNS
    assert len([c for c in comparison.columns if not c.startswith("_")]) <= 20  # private columns stay off the CSV
    # sub-scores have their own table; the main one holds headline keys only
    assert "consistency128f_drift" not in set(comparison["key"]) and set(tables.subscores["key"].dropna()) == {
        "consistency128f_drift"
    }
    by_pe = by_config(comparison)
    assert by_pe.loc["acyclic", "protocol_id"].startswith("fvd64_16f")
    assert by_pe.loc["acyclic", "direction"] == "lower" and bool(by_pe.loc["acyclic", "stand_in"])


def test_comparison_groups_seeds_and_keeps_failures(grid_runs: Path):
    with pytest.warns(UserWarning):
        comparison = table.build_tables([grid_runs]).comparison
    assert set(comparison[PE]) == {"acyclic", "none", "sinusoidal"}
    by_pe = by_config(comparison)
    assert by_pe.loc["none", "status"] in ("1 done, 1 failed", "1 failed, 1 done")
    # n = 1 (one finished seed): a mean, no spread, no interval
    assert by_pe.loc["none", "n"] == 1 and by_pe.loc["none", "mean"] == 80.0
    assert math.isnan(by_pe.loc["none", "std"]) and math.isnan(by_pe.loc["none", "ci_low"])
    assert by_pe.loc["none", "ci_method"] == ""
    assert by_pe.loc["sinusoidal", "status"] == "1 running"


@pytest.mark.parametrize("n", [1, 2, 3, 8, 12])
def test_intervals_follow_n_and_match_scipy(n):
    from scipy import stats

    values = np.random.default_rng(n).normal(10.0, 2.0, size=n)
    got = table_stats.mean_interval(values, seed=0)
    if n == 1:
        assert got.method == "" and math.isnan(got.low) and math.isnan(got.high)
    elif n < table_stats.MIN_BOOTSTRAP_N:
        low, high = stats.t.interval(0.95, n - 1, loc=values.mean(), scale=stats.sem(values))
        assert got.method == "t" and (got.low, got.high) == pytest.approx((low, high))
    else:
        ref = stats.bootstrap((values,), np.mean, method="BCa", n_resamples=9999, random_state=np.random.default_rng(0))
        assert got.method == "bca"
        assert (got.low, got.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
        assert got == table_stats.mean_interval(values, seed=0)  # seeded: reproducible
    if n == 2:  # two seeds: far wider than the two values (what a percentile bootstrap would report)
        assert got.low < values.min() - 1 and got.high > values.max() + 1
    assert table_stats.mean_interval([3.0] * max(n, 2)).low == 3.0


def test_baseline_difference_paired_and_welch(tmp_path: Path):
    from scipy import stats

    a, b = [40.0, 44.0, 41.0], [50.0, 51.0, 56.0]
    for seed, (x, y) in enumerate(zip(a, b)):
        make_run(tmp_path, f"acyclic{seed}", seed=seed, records=(fvd(4, x),))
        make_run(tmp_path, f"none{seed}", pe="none", seed=seed, records=(fvd(4, y),))
    make_run(tmp_path, "sin0", pe="sinusoidal", seed=10, records=(fvd(4, 60.0),))
    make_run(tmp_path, "sin1", pe="sinusoidal", seed=11, records=(fvd(4, 62.0),))
    comparison = table.build_tables([tmp_path], baseline="positional_encoding=acyclic").comparison.set_index(PE)
    assert comparison.loc["none", "diff"] == pytest.approx(np.mean(b) - np.mean(a))
    assert comparison.loc["none", "test"] == "paired"
    assert comparison.loc["none", "p_value"] == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert comparison.loc["sinusoidal", "test"] == "welch"
    assert comparison.loc["sinusoidal", "p_value"] == pytest.approx(
        stats.ttest_ind([60.0, 62.0], a, equal_var=False).pvalue
    )
    assert comparison.loc["acyclic", "diff"] == 0
    with pytest.raises(TableError, match="no configuration has generator.positional_encoding=cyclic"):
        table.build_tables([tmp_path], baseline="positional_encoding=cyclic")
    with pytest.raises(TableError, match="'seed' is not an axis"):
        table.build_tables([tmp_path], baseline="seed=0")


def test_direction_comes_from_the_metric_registration():
    from metrics.base import build_metric

    assert comparison_module.metric_direction("fvd2048_16f") == "lower"
    assert build_metric("fvd64_16f").direction == "lower"
    assert comparison_module.metric_direction("consistency128f") == "lower"


def test_different_protocols_stand_ins_and_duplicate_seeds_are_never_averaged(tmp_path: Path):
    make_run(tmp_path, "a", seed=0, records=(fvd(4, 10.0, stand_in=False),))
    make_run(tmp_path, "b", seed=1, records=(fvd(4, 99.0, stand_in=True),))
    make_run(
        tmp_path, "c", seed=2, records=(fvd(4, 20.0, stand_in=False),), protocol={"protocol_id": "fvd64_16f-other"}
    )
    make_run(tmp_path, "d", seed=0, records=(fvd(4, 500.0, stand_in=False),))  # seed 0 again
    with pytest.warns(UserWarning) as caught:
        comparison = table.build_tables([tmp_path]).comparison
    messages = " ".join(str(w.message) for w in caught)
    assert "seed(s) 0 appear in more than one run folder" in messages and "d ignored" in messages
    assert "measured under several protocols, kept apart" in messages and "fvd64_16f-other" in messages
    assert len(comparison) == 3 and sorted(comparison["n"]) == [1, 1, 1]
    assert sorted(comparison["mean"]) == [10.0, 20.0, 99.0]
    text = table_export.to_text(comparison)
    assert "fvd64_16f[stand-in]" in text and "untrained stand-in detectors" in text


def test_short_counts_are_flagged(tmp_path: Path):
    make_run(tmp_path, "a", records=(fvd(4, 10.0),), protocol={"num_fake": 9, "fewer_than_name": True})
    comparison = table.build_tables([tmp_path]).comparison
    assert bool(comparison["short_count"].iloc[0])

    def record(used):
        protocol = {
            "protocol_id": "fvd64_16f/v1",
            "protocol_hash": "0123456789abcdef",
            "protocol_version": 1,
            "stand_in": False,
            "counts": {"fake videos": {"requested": 64, "used": used}},
        }
        return MetricRecord(metric="fvd64_16f", value=1.0, results={"fvd64_16f": 1.0}, protocol=protocol, kimg=4.0)

    assert record(used=9).short_count and not record(used=64).short_count
    assert "(short)" in table_export.to_text(comparison)
    assert "fewer items" in table_export.to_markdown(comparison)


def test_group_hash_ignores_seed_and_run_dir():
    a = {"seed": 0, "run_dir": "/x/a", "generator.positional_encoding": "acyclic"}
    b = {"seed": 1, "run_dir": "/x/b", "generator.positional_encoding": "acyclic"}
    c = {"seed": 1, "run_dir": "/x/b", "generator.positional_encoding": "none"}
    assert group_hash(a) == group_hash(b) != group_hash(c)


def test_mean_std_formatting():
    assert table_export.format_mean_std(42.0, 2.828, 2) == "42.0 ± 2.8"
    assert table_export.format_mean_std(1234.5, 123.4, 3) == "1230 ± 120"
    assert table_export.format_mean_std(0.012345, 0.00123, 3) == "0.0123 ± 0.0012"
    assert table_export.format_mean_std(80.0, math.nan, 1) == "80"
    assert table_export.format_mean_std(3.0, 0.0, 2) == "3.00 ± 0.00"


def test_cli_writes_csvs_markdown_latex_and_plots(grid_runs: Path, tmp_path: Path, capsys):
    out = tmp_path / "out" / "results.csv"
    md, tex, plots = tmp_path / "out" / "results.md", tmp_path / "out" / "results.tex", tmp_path / "out" / "plots"
    args = ["table", str(grid_runs), "-o", str(out), "--markdown", str(md), "--latex", str(tex), "--plots", str(plots)]
    assert sgvb([*args, "--wide"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    # warnings (here: a torn record line) are one line each, not Python's 'file.py:70: UserWarning' and source line
    assert "sgvb table: warning: " in captured.err and "torn write" in captured.err
    assert "UserWarning" not in captured.err and "table.py:" not in captured.err
    assert "fvd64_16f[stand-in]" in printed and "acyclic" in printed and "42.0 ± 2.8" in printed and "(t)" in printed
    tidy = pd.read_csv(out)
    comparison = pd.read_csv(tmp_path / "out" / "results_comparison.csv")
    assert len(tidy) == 10 and len(comparison) == 3 + 1  # 3 configurations x fvd + consistency for acyclic
    assert tidy["selected"].sum() == 3 + 1 + 1 + 1  # the rows of the final checkpoint of each run with metrics
    assert set(pd.read_csv(tmp_path / "out" / "results_subscores.csv")["key"].dropna()) == {"consistency128f_drift"}
    wide = pd.read_csv(tmp_path / "out" / "results_wide.csv")
    assert len(wide) == 3 and "fvd64_16f_mean" in wide.columns
    text = md.read_text()
    lines = text.splitlines()
    assert lines[0].startswith(f"| {PE} |") and set(lines[1]) <= {"|", "-"}
    assert "**42.0 ± 2.8 (n=2)**" in text and "| 80 (n=1) |" in text  # lowest FVD in bold; n shown where it varies
    assert "consistency128f [stand-in]" in text and "untrained stand-in detectors" in text
    latex = tex.read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"\textbf{42.0 $\pm$ 2.8 (n=2)}" in latex
    assert r"generator.positional\_encoding" in latex
    for stem in ("fvd64_16f_vs_kimg", "fvd64_16f_bars"):
        assert (plots / f"{stem}.png").stat().st_size > 0 and (plots / f"{stem}.pdf").stat().st_size > 0
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


def test_a_single_run_folder_works_without_run_json(tmp_path: Path):
    run = make_run(tmp_path, "solo", records=(fvd(1, 5.0),), run_json=False)
    tables = table.build_tables([run])
    assert tables.tidy["generator"].tolist() == ["stylegan_v"]
    assert tables.comparison.iloc[0]["mean"] == 5.0
    assert "generated" in table_plots.config_labels(tables.comparison).values()


def test_bad_input_errors(tmp_path: Path, capsys):
    assert sgvb(["table", str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert sgvb(["table", str(tmp_path / "empty")]) == 2
    assert "no run folders" in capsys.readouterr().err
    make_run(tmp_path / "runs", "a", records=(fvd(1, 5.0),))
    assert sgvb(["table", str(tmp_path / "runs"), "--select", "worst"]) == 2
    assert "--select 'worst'" in capsys.readouterr().err
    assert sgvb(["table", str(tmp_path / "runs"), "--select", "best:fid50k"]) == 2
    assert "keys found: fvd64_16f" in capsys.readouterr().err
    assert sgvb(["table", str(tmp_path / "runs"), "--baseline", "acyclic"]) == 2
    assert "use AXIS=VALUE" in capsys.readouterr().err


def test_best_selection_falls_back_to_final_for_runs_without_the_key(tmp_path: Path):
    make_run(tmp_path, "with", records=(fvd(2, 5.0), fvd(4, 9.0)))
    make_run(
        tmp_path,
        "without",
        seed=1,
        records=(
            (2, "consistency128f", {"consistency128f": 0.5}, True),
            (4, "consistency128f", {"consistency128f": 0.7}, True),
        ),
    )
    with pytest.warns(UserWarning, match=r"1 run\(s\) have no 'fvd64_16f'.*without"):
        tidy = table.build_tables([tmp_path], select="best:fvd64_16f").tidy
    chosen = {
        Path(r).name: k for r, k in zip(tidy.loc[tidy["selected"], "run_dir"], tidy.loc[tidy["selected"], "kimg"])
    }
    assert chosen["with"] == 2 and chosen["without"] == 4


def test_model_presets_name_the_configuration_and_hide_keys_they_determine(tmp_path: Path):
    """Runs made from `+model=<preset>` show one `model` column instead of every model-specific key."""
    root = tmp_path / "models"
    for model, width in (("digan_small", 16), ("mocogan_small", 32)):
        run = make_run(
            root,
            f"model={model}",
            records=(fvd(4, 10.0 + width),),
            extra_config={"generator": {"_name_": model, "width": width}},
        )
        (run / ".hydra").mkdir()
        (run / ".hydra" / "hydra.yaml").write_text(
            f"hydra:\n  runtime:\n    choices:\n      model: {model}\n"
            "      trainer: tiny\n      hydra/launcher: basic\n"
        )
    tables = table.build_tables([root])
    assert sorted(tables.tidy["model"].unique()) == ["digan_small", "mocogan_small"]
    assert comparison_module.configuration_axes(tables.tidy) == ["model"]
    assert "generator.width" not in tables.comparison.columns


@pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")
def test_a_line_without_protocol_appended_to_a_metric_file_is_refused_naming_file_and_line(
    tmp_path, video_detector, capsys
):
    """Issue 21: a hand-appended line that parses as JSON was taken as a record: ``inf`` became the run's headline
    value, the stand-in mark was lost and the table invented a protocol id. The reader refuses it instead."""
    from metrics import evaluate
    from metrics.testing import ArrayVideoDataset, moving_blobs

    run = make_run(tmp_path / "runs", "a")
    real = ArrayVideoDataset([moving_blobs(1, 16, 16, seed=i)[0] for i in range(8)])
    fake = ArrayVideoDataset([moving_blobs(1, 16, 16, seed=100 + i)[0] for i in range(8)])
    written = evaluate(
        "fvd8_16f",
        fake=fake,
        real=real,
        run_dir=run,
        detector_path=video_detector,
        cache_dir=tmp_path / "cache",
        kimg=0.1,
        checkpoint="checkpoints/ckpt-000000.pt",
    )
    metric_file = run / "metric-fvd8_16f.jsonl"
    with open(metric_file, "a") as handle:
        handle.write('{"metric": "fvd8_16f", "value": 1e309, "kimg": 0.1}\n')
    refused = rf"{metric_file}:2: not a metric record, skipped: lacks protocol \(with protocol_id"
    with pytest.warns(UserWarning, match=refused) as caught:
        tables = table.build_tables([run])
    assert sum(str(metric_file) in str(w.message) for w in caught) == 1  # one warning
    tidy = tables.tidy
    assert len(tidy) == 1 and tidy["value"].tolist() == [written["value"]] and math.isfinite(written["value"])
    assert tidy["protocol_id"].tolist() == [written["protocol"]["protocol_id"]]
    assert tables.comparison["mean"].tolist() == [written["value"]]
    assert sgvb(["table", str(run)]) == 0
    captured = capsys.readouterr()
    assert (
        "inf" not in captured.out
        and "sgvb table: warning: " in captured.err
        and ":2: not a metric record" in captured.err
    )


def _add_later_evaluation(run: Path, metric: str, results: dict, suffix: str = "/runs3") -> None:
    """A later ``sgvb eval num_runs=3`` of the final checkpoint: the same kimg, another protocol, a later time."""
    path = run / f"metric-{metric}.jsonl"
    record = json.loads(path.read_text().splitlines()[-1])
    record["results"], record["value"] = results, next(iter(results.values()))
    record["protocol"]["protocol_id"] += suffix
    record["protocol"]["num_runs"] = 3
    record["timestamp"] = "2026-02-01T00:00:00"
    path.write_text(path.read_text() + json.dumps(record) + "\n")


@pytest.fixture
def evaluated_again(tmp_path: Path) -> Path:
    """2 configurations x 2 seeds, each evaluated in training and once more with num_runs=3 (the issue's journey)."""
    for pe in ("acyclic", "none"):
        for seed in (0, 1):
            run = make_run(
                tmp_path,
                f"pe={pe},seed={seed}",
                pe=pe,
                seed=seed,
                records=(
                    fvd(4, 10.0 + seed),
                    (
                        4,
                        "consistency128f",
                        {"consistency128f": 0.5, "consistency128f_a": 0.1, "consistency128f_b": 0.2},
                        True,
                    ),
                ),
            )
            _add_later_evaluation(run, "fvd64_16f", {"fvd64_16f": 20.0 + seed})
            _add_later_evaluation(
                run, "consistency128f", {"consistency128f": 0.6, "consistency128f_a": 0.1, "consistency128f_b": 0.2}
            )
    return tmp_path


def test_extra_evaluations_give_one_warning_protocol_footnotes_and_a_protocol_column(evaluated_again: Path):
    with pytest.warns(UserWarning) as caught:
        tables = table.build_tables([evaluated_again])
    protocol_warnings = [str(w.message) for w in caught if "protocols" in str(w.message)]
    assert len(protocol_warnings) == 1, protocol_warnings  # was one per configuration and sub-score
    assert "--protocol latest" in protocol_warnings[0]
    md = table_export.to_markdown(tables.comparison)
    header = md.splitlines()[0]
    assert "/v1/" not in header  # a paper's header: the metric's name; the protocol goes to a footnote
    assert "fvd64_16f [stand-in] ↓ (3)" in header and "fvd64_16f [stand-in] ↓ (4)" in header
    assert "(3) fvd64_16f: protocol fvd64_16f/v1/default/i3d-stand-in/32px." in md
    assert "(4) fvd64_16f: protocol fvd64_16f/v1/default/i3d-stand-in/32px/runs3." in md
    tex = table_export.to_latex(tables.comparison)
    assert "/v1/" not in [ln for ln in tex.splitlines() if ln.startswith("generator")][0]
    text = table_export.to_text(tables.comparison)
    assert text.splitlines()[0].split()[:3] == ["generator.positional_encoding", "key", "protocol"]
    assert "fvd64_16f/v1/default/i3d-stand-in/32px/runs3" in text


def test_protocol_latest_or_an_id_picks_one_protocol_per_metric(evaluated_again: Path, tmp_path: Path, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one protocol per metric: nothing kept apart, nothing to warn about
        latest = table.build_tables([evaluated_again], protocol="latest").comparison
    assert set(latest["protocol_id"]) == {
        "fvd64_16f/v1/default/i3d-stand-in/32px/runs3",
        "consistency128f/v1/default/i3d-stand-in/32px/runs3",
    }
    assert sorted(latest.loc[latest["key"] == "fvd64_16f", "mean"]) == [20.5, 20.5]
    md = table_export.to_markdown(latest)
    assert "fvd64_16f [stand-in] ↓ |" in md and "Protocols: " in md and "fvd64_16f: fvd64_16f/v1/default/" in md

    with pytest.warns(UserWarning, match="consistency128f"):  # only fvd was chosen; consistency keeps both
        chosen = table.build_tables([evaluated_again], protocol=["fvd64_16f/v1/default/i3d-stand-in/32px"]).comparison
    assert set(chosen.loc[chosen["key"] == "fvd64_16f", "protocol_id"]) == {"fvd64_16f/v1/default/i3d-stand-in/32px"}
    assert sorted(chosen.loc[chosen["key"] == "fvd64_16f", "mean"]) == [10.5, 10.5]

    with pytest.raises(TableError, match=r"--protocol fvd64_16f/v9: no record has this protocol id; ids found: "):
        table.build_tables([evaluated_again], protocol="fvd64_16f/v9")
    out = tmp_path / "out" / "r.csv"
    assert sgvb(["table", str(evaluated_again), "--protocol", "latest", "-o", str(out)]) == 0
    assert "runs3" in capsys.readouterr().out
    tidy = pd.read_csv(out)
    assert len(tidy[tidy["key"] == "fvd64_16f"]) == 8  # the tidy CSV keeps every record; only selected changes
    assert not tidy.loc[~tidy["protocol_id"].str.endswith("runs3", na=True), "selected"].any()


def test_many_seeds_are_summarised_on_the_console_and_kept_in_the_csv(tmp_path: Path):
    for seed in range(12):
        make_run(tmp_path, f"seed={seed}", seed=seed, records=(fvd(4, 10.0 + seed),))
    comparison = table.build_tables([tmp_path]).comparison
    assert len(comparison["values"].iloc[0].split(";")) == 12  # the CSV keeps every seed
    text = table_export.to_text(comparison)
    assert "12 seeds: min 10 (seed 0), max 21 (seed 11); each in the CSV" in text
    assert max(len(line) for line in text.splitlines()) < 200
    assert table_export.seed_values_text("0:1;1:2") == "0:1;1:2" and table_export.seed_values_text(float("nan")) == ""


def test_plots_label_axis_values_and_draw_kimg_curves_only_with_two_evaluations(tmp_path: Path):
    for pe in ("acyclic", "none"):
        for seed in (0, 1):
            make_run(tmp_path / "runs", f"pe={pe},seed={seed}", pe=pe, seed=seed, records=(fvd(2, 10.0 + seed),))
    tables = table.build_tables([tmp_path / "runs"])
    name, ticks = table_plots.axis_values(tables.comparison)
    assert name == "positional_encoding" and sorted(ticks.values()) == ["acyclic", "none"]  # not 'key=value'
    written = table_plots.write_plots(tables.tidy, tables.comparison, tmp_path / "plots")
    assert sorted(p.name for p in written) == ["fvd64_16f_bars.pdf", "fvd64_16f_bars.png"]  # one evaluation: no curve


def test_plot_file_names_are_short_unique_and_say_which_protocol(evaluated_again: Path, tmp_path: Path):
    with pytest.warns(UserWarning):
        tables = table.build_tables([evaluated_again])
    written = table_plots.write_plots(tables.tidy, tables.comparison, tmp_path / "plots")
    names = sorted(p.name for p in written if p.suffix == ".png")
    assert names == [  # the key, and what tells its protocols apart (was up to 80 characters: the whole id)
        "consistency128f-runs3_bars.png",
        "consistency128f_bars.png",
        "fvd64_16f-runs3_bars.png",
        "fvd64_16f_bars.png",
    ]
    long_key = "consistency1024_1024f_subsample8f_extra_long_key_name"
    scored = pd.DataFrame(
        {"key": [long_key] * 3, "protocol_id": [f"{long_key}/v1/default/dino-stand-in/{r}px" for r in (32, 64, 128)]}
    )
    stems = table_plots.plot_stems(scored)
    assert len(set(stems.values())) == 3 and all(len(s) <= table_plots.MAX_STEM for s in stems.values())
    assert all(len(f"{s}_vs_kimg.png") <= 60 for s in stems.values())


def test_kimg_curves_name_their_band_in_the_legend(grid_runs: Path, tmp_path: Path, monkeypatch):
    legends = {}
    save = table_plots._save

    def keep(fig, path):
        legends[path.name] = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        return save(fig, path)

    monkeypatch.setattr(table_plots, "_save", keep)
    with pytest.warns(UserWarning):
        tables = table.build_tables([grid_runs])
    table_plots.write_plots(tables.tidy, tables.comparison, tmp_path / "plots")
    assert legends["fvd64_16f_vs_kimg"][-1] == "range of the seeds" and "acyclic" in legends["fvd64_16f_vs_kimg"]


def test_a_failed_run_row_shows_no_empty_interval_on_the_console(tmp_path: Path):
    make_run(tmp_path, "ok0", seed=0, records=(fvd(4, 10.0),))
    make_run(tmp_path, "ok1", seed=1, records=(fvd(4, 12.0),))
    make_run(tmp_path, "bad", pe="none", state="failed", error="pre-flight: no data")
    text = table_export.to_text(table.build_tables([tmp_path]).comparison)
    failed = [line for line in text.splitlines() if line.startswith("none")]
    assert len(failed) == 1 and "failed" in failed[0]
    assert "[, ]" not in failed[0] and "nan" not in failed[0]  # was '[, ] (nan)'


def test_markdown_marks_are_literal_and_notes_are_paragraphs(tmp_path: Path):
    for seed, value in enumerate((10.0, 12.0)):
        make_run(tmp_path, f"a{seed}", seed=seed, records=(fvd(4, value),), protocol={"fewer_than_name": True})
        make_run(tmp_path, f"b{seed}", pe="none", seed=seed, records=(fvd(4, value + 50),))
    md = table_export.to_markdown(table.build_tables([tmp_path]).comparison)
    assert "| **11.0 ± 1.4\\*** |" in md  # was '**11.0 ± 1.4***': the mark read as emphasis
    assert "\n\n\\* short: computed on fewer items" in md  # was '* short...': a bullet list


def test_n_stable_of_a_sample_size_study_goes_beside_the_keys_it_covers(grid_runs: Path, tmp_path: Path, capsys):
    from metrics.sample_size import result_keys_pattern

    study = tmp_path / "n_stable.json"
    metrics = {"fvd": {"n_stable": 512, "result_keys": result_keys_pattern("fvd")}}
    study.write_text(json.dumps({"format": "sgvb-sample-size", "metrics": metrics}))
    out = tmp_path / "out" / "results.csv"
    assert sgvb(["table", str(grid_runs), "-o", str(out), "--n-stable", str(study)]) == 0
    printed = capsys.readouterr().out
    assert "N_stable" in printed.splitlines()[0]
    comparison = pd.read_csv(tmp_path / "out" / "results_comparison.csv")
    by_key = comparison.dropna(subset=["key"]).set_index("key")["n_stable"]
    assert set(by_key[by_key.index.str.startswith("fvd")]) == {512}
    assert by_key[by_key.index.str.startswith("consistency")].isna().all()  # the study did not cover it
    study.write_text("{}")
    assert sgvb(["table", str(grid_runs), "--n-stable", str(study)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an n_stable.json written by `sgvb sample-size`" in err
