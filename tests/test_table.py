"""`sgvb table` on hand-made run folders (contract 4 layout, contract 3 records)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import table
from benchmarks.cli import main as sgvb


def make_run(root: Path, name: str, *, pe: str = "acyclic", seed: int = 0, state: str = "done", error: str | None = None,
             records: tuple = (), extra_config: dict | None = None, run_json: bool = True) -> Path:
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
        (run / "run.json").write_text(json.dumps({
            "package_version": "0.1.0", "seed": seed, "config_hash": f"hash-{name}", "dataset": "synthetic",
            "resolution": 32, "precision": "fp32",
            "components": {
                "generator": {"name": "stylegan_v", "provider": "stylegan-v-bench", "version": "0.1.0",
                              "kwargs": {"positional_encoding": pe}},
                "discriminator": {"name": "stylegan_v", "provider": "stylegan-v-bench", "version": "0.1.0", "kwargs": {}},
                "dataset": {"name": "synthetic", "provider": "stylegan-v-bench", "version": "0.1.0", "kwargs": {}},
            },
        }))
    (run / "status.json").write_text(json.dumps({"state": state, "error": error, "kimg": 4.0, "updated": "2026-01-01T00:00:00"}))
    lines: dict[str, list[str]] = {}
    for kimg, metric, results, stand_in in records:
        record = {
            "metric": metric, "value": next(iter(results.values())), "results": results,
            "protocol": {"num_real": 64, "num_fake": 64, "frames": 16, "subsample": 1, "resolution": 32,
                         "detector": "i3d[stand-in]" if stand_in else "i3d", "detector_sha256": "ab" if stand_in else "cd",
                         "stand_in": stand_in, "mode": "default", "seed": 0},
            "kimg": kimg, "checkpoint": f"checkpoints/ckpt-{int(kimg):06d}.pt", "wall_time_s": 1.0,
            "versions": {"sgvb": "0.1.0"}, "timestamp": "2026-01-01T00:00:00",
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
    make_run(root, "pe=acyclic,seed=0", seed=0, records=(fvd(2, 50.0), fvd(4, 40.0),
                                                          (4, "consistency128f", {"consistency128f": 0.1, "consistency128f_drift": 0.2}, True)))
    make_run(root, "pe=acyclic,seed=1", seed=1, records=(fvd(2, 30.0), fvd(4, 44.0)))  # best is kimg 2
    make_run(root, "pe=none,seed=0", pe="none", seed=0, records=(fvd(2, 90.0), fvd(4, 80.0)))
    make_run(root, "pe=none,seed=1", pe="none", seed=1, state="failed", error="RuntimeError: loss D_real is NaN at kimg 1.2")
    partial = make_run(root, "pe=sinusoidal,seed=0", pe="sinusoidal", state="running", records=(fvd(2, 70.0),))
    with open(partial / "metric-fvd64_16f.jsonl", "a") as handle:
        handle.write('{"metric": "fvd64_16f", "value": 6')  # killed mid-append
    return root


def test_tidy_rows_cover_runs_checkpoints_and_keys(grid_runs: Path):
    with pytest.warns(UserWarning, match="unreadable line 2"):
        tidy, _ = table.build_tables([grid_runs])
    assert len(tidy) == 4 + 2 + 2 + 1 + 1  # metric keys x checkpoints per run; one row for the failed run
    for column in ("generator", "positional_encoding", "discriminator", "dataset", "resolution", "seed", "kimg", "metric",
                   "key", "value", "num_real", "num_fake", "frames", "subsample", "detector", "detector_sha256", "stand_in",
                   "mode", "eval_seed", "status", "config_hash", "package_version"):
        assert column in tidy.columns, column
    # the ablation axis shows up as its config key; seed and run_dir are not "varying config" columns
    assert "generator.positional_encoding" in tidy.columns and "run_dir" in tidy.columns
    failed = tidy[tidy["status"] == "failed"]
    assert len(failed) == 1 and failed["error"].iloc[0].startswith("RuntimeError: loss D_real is NaN")
    assert failed["key"].isna().all()
    partial = tidy[tidy["status"] == "running"]
    assert partial["value"].tolist() == [70.0]
    assert set(tidy.loc[tidy["positional_encoding"] == "acyclic", "seed"]) == {0, 1}


def test_final_and_best_selection(grid_runs: Path):
    with pytest.warns(UserWarning):
        tidy, comparison = table.build_tables([grid_runs], select="final")
    acyclic = comparison[comparison["positional_encoding"] == "acyclic"].iloc[0]
    assert acyclic["kimg"] == "4"
    assert acyclic["fvd64_16f[stand-in]_mean"] == pytest.approx(42.0)
    assert acyclic["fvd64_16f[stand-in]_n"] == 2
    assert acyclic["fvd64_16f[stand-in]_std"] == pytest.approx(np.std([40.0, 44.0], ddof=1))
    with pytest.warns(UserWarning):
        tidy, comparison = table.build_tables([grid_runs], select="best:fvd64_16f")
    acyclic = comparison[comparison["positional_encoding"] == "acyclic"].iloc[0]
    assert acyclic["fvd64_16f[stand-in]_mean"] == pytest.approx((40.0 + 30.0) / 2)
    assert acyclic["kimg"] == "2,4"
    # the other metric is read at the selected checkpoint of each run
    assert acyclic["consistency128f[stand-in]_n"] == 1
    with pytest.warns(UserWarning):
        _, comparison = table.build_tables([grid_runs], select="best:fvd64_16f:max")
    assert comparison[comparison["positional_encoding"] == "acyclic"].iloc[0]["fvd64_16f[stand-in]_mean"] == pytest.approx(47.0)


def test_comparison_groups_seeds_and_keeps_failures(grid_runs: Path):
    with pytest.warns(UserWarning):
        _, comparison = table.build_tables([grid_runs])
    assert len(comparison) == 3  # acyclic, none, sinusoidal
    by_pe = comparison.set_index("positional_encoding")
    assert by_pe.loc["acyclic", "runs"] == 2 and by_pe.loc["acyclic", "seeds"] == "0,1"
    assert by_pe.loc["none", "status"] in ("1 done, 1 failed", "1 failed, 1 done")
    assert "NaN at kimg 1.2" in by_pe.loc["none", "error"]
    # n = 1 (one finished seed): a mean, no spread, no interval
    assert by_pe.loc["none", "fvd64_16f[stand-in]_n"] == 1
    assert by_pe.loc["none", "fvd64_16f[stand-in]_mean"] == 80.0
    assert math.isnan(by_pe.loc["none", "fvd64_16f[stand-in]_std"])
    assert math.isnan(by_pe.loc["none", "fvd64_16f[stand-in]_ci95_low"])
    assert by_pe.loc["sinusoidal", "status"] == "1 running"
    assert bool(by_pe.loc["acyclic", "stand_in"])


def test_bootstrap_interval():
    # two values: resampled means are 0, 1 or 2 with probabilities 1/4, 1/2, 1/4 -> the 95% interval is [0, 2]
    assert table.bootstrap_ci([0.0, 2.0]) == (0.0, 2.0)
    assert table.bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0)
    assert all(math.isnan(v) for v in table.bootstrap_ci([1.0]))
    values = np.random.default_rng(1).normal(10.0, 2.0, size=20)
    low, high = table.bootstrap_ci(values)
    assert values.min() < low < values.mean() < high < values.max()
    # normal-theory interval of the mean, for scale: the bootstrap one is close to it
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert high - low == pytest.approx(2 * half, rel=0.25)
    assert table.bootstrap_ci(values) == (low, high)  # seeded: reproducible


def test_stand_in_and_real_detectors_are_never_averaged(tmp_path: Path):
    make_run(tmp_path, "a", seed=0, records=(fvd(4, 10.0, stand_in=False),))
    make_run(tmp_path, "b", seed=1, records=(fvd(4, 99.0, stand_in=True),))
    _, comparison = table.build_tables([tmp_path])
    assert len(comparison) == 1
    row = comparison.iloc[0]
    assert row["fvd64_16f_mean"] == 10.0 and row["fvd64_16f[stand-in]_mean"] == 99.0
    text = table.format_text(comparison)
    assert "fvd64_16f[stand-in]" in text and "untrained stand-in detectors" in text


def test_group_hash_ignores_seed_and_run_dir():
    a = {"seed": 0, "run_dir": "/x/a", "generator.positional_encoding": "acyclic"}
    b = {"seed": 1, "run_dir": "/x/b", "generator.positional_encoding": "acyclic"}
    c = {"seed": 1, "run_dir": "/x/b", "generator.positional_encoding": "none"}
    assert table.group_hash(a) == table.group_hash(b) != table.group_hash(c)


def test_cli_writes_csvs_and_markdown(grid_runs: Path, tmp_path: Path, capsys):
    out = tmp_path / "out" / "results.csv"
    md = tmp_path / "out" / "results.md"
    with pytest.warns(UserWarning):
        assert sgvb(["table", str(grid_runs), "-o", str(out), "--markdown", str(md)]) == 0
    printed = capsys.readouterr().out
    assert "fvd64_16f[stand-in]" in printed and "acyclic" in printed and "± " in printed
    tidy = pd.read_csv(out)
    comparison = pd.read_csv(tmp_path / "out" / "results_comparison.csv")
    assert len(tidy) == 10 and len(comparison) == 3
    assert tidy["selected"].sum() == 3 + 1 + 1 + 1  # the rows of the final checkpoint of each run with metrics
    text = md.read_text()
    assert text.startswith("All rows: `generator=stylegan_v`")  # constant columns once, above the table
    lines = text.splitlines()[2:]
    assert lines[0].startswith("| positional_encoding |") and set(lines[1]) <= {"|", "-"}
    assert len([line for line in lines if line.startswith("| ")]) == 1 + 3
    assert "consistency128f[stand-in]" in text and "untrained stand-in detectors" in text
    assert "consistency128f_drift" not in text + printed  # headline keys only; the comparison CSV has every key
    assert "consistency128f_drift[stand-in]_mean" in comparison.columns
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


def test_a_single_run_folder_works_without_run_json(tmp_path: Path):
    run = make_run(tmp_path, "solo", records=(fvd(1, 5.0),), run_json=False)
    tidy, comparison = table.build_tables([run])
    assert tidy["generator"].tolist() == ["stylegan_v"] and tidy["positional_encoding"].tolist() == ["acyclic"]
    assert comparison.iloc[0]["fvd64_16f[stand-in]_mean"] == 5.0


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


def test_best_selection_falls_back_to_final_for_runs_without_the_key(tmp_path: Path):
    make_run(tmp_path, "with", records=(fvd(2, 5.0), fvd(4, 9.0)))
    make_run(tmp_path, "without", seed=1, records=((2, "consistency128f", {"consistency128f": 0.5}, True),
                                                   (4, "consistency128f", {"consistency128f": 0.7}, True)))
    with pytest.warns(UserWarning, match=r"1 run\(s\) have no 'fvd64_16f'.*without"):
        tidy, _ = table.build_tables([tmp_path], select="best:fvd64_16f")
    chosen = {Path(r).name: k for r, k in zip(tidy.loc[tidy["selected"], "run_dir"], tidy.loc[tidy["selected"], "kimg"])}
    assert chosen["with"] == 2 and chosen["without"] == 4


def test_model_presets_name_the_configuration_and_hide_keys_they_determine(tmp_path: Path):
    """Runs made from `+model=<preset>` show one `model` column instead of every model-specific key."""
    root = tmp_path / "models"
    for model, width in (("digan_small", 16), ("mocogan_small", 32)):
        run = make_run(root, f"model={model}", records=(fvd(4, 10.0 + width),), extra_config={"generator": {"_name_": model, "width": width}})
        (run / ".hydra").mkdir()
        (run / ".hydra" / "hydra.yaml").write_text(
            f"hydra:\n  runtime:\n    choices:\n      model: {model}\n      trainer: tiny\n      hydra/launcher: basic\n")
    tidy, comparison = table.build_tables([root])
    assert sorted(tidy["model"].unique()) == ["digan_small", "mocogan_small"]
    shown, _ = table.display_frame(comparison)
    assert "model" in shown.columns and "generator.width" not in shown.columns
