"""`sgvb grid`: expansion (--dry-run) with Hydra's own parser/sweeper, job folders, failure recording, and a
2-job grid end to end on CPU (one job deliberately failing; the same grid again does no work)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from benchmarks.cli import main as sgvb
from benchmarks.grids import grid
from benchmarks.records.run_records import write_status


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch) -> Path:
    """Run in an empty folder (grids write runs/ and results/ relative to it) with a private metric cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_dry_run_lists_the_cartesian_product(in_tmp: Path, capsys):
    assert sgvb(["grid", "quickstart", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "grid 'quickstart': 6 jobs (6 new) in runs/grid/quickstart" in out
    assert "= sgvb train -m +grid=quickstart" in out
    plan = grid.plan_grid("quickstart")
    assert [job.overrides for job in plan.jobs] == [
        [f"generator.positional_encoding={pe}", f"seed={seed}", "+grid=quickstart"]
        for pe in ("acyclic", "sinusoidal", "none")
        for seed in (0, 1)
    ]
    assert plan.jobs[0].run_dir == in_tmp / "runs/grid/quickstart/generator.positional_encoding=acyclic,seed=0"
    assert not (in_tmp / "runs").exists()  # a dry run writes nothing
    # the command line replaces a grid axis (same key) and adds axes, in Hydra's sweep grammar
    assert len(grid.plan_grid("quickstart", ["seed=5"]).jobs) == 3
    plan = grid.plan_grid("quickstart", ["trainer.total_kimg=1,2", "seed=range(3,5)"])
    assert len(plan.jobs) == 3 * 2 * 2 and len({job.run_dir for job in plan.jobs}) == 12
    assert plan.jobs[-1].overrides == [
        "generator.positional_encoding=none",
        "seed=4",
        "+grid=quickstart",
        "trainer.total_kimg=2",
    ]


def test_shipped_paper_grids_expand(in_tmp: Path):
    sizes = {
        "positional_encoding": 4 * 3,
        "conditioning": 3 * 3,
        "frames_per_clip": 5 * 3,
        "max_dist": 6 * 3,
        "sampler": 3 * 3,
    }
    assert set(sizes) | {"quickstart"} <= set(grid.available_grids())
    for name, size in sizes.items():  # one seed: composing every job of every grid costs ~0.1 s each
        plan = grid.plan_grid(name, ["dataset.path=/data/sky_256.zip", "dataset.resolution=256", "seed=0"])
        assert len(plan.jobs) == size // 3, name
        assert plan.sweep_dir == in_tmp / "runs" / "grid" / name
        assert all(job.run_dir.parent == plan.sweep_dir for job in plan.jobs)  # one folder level, '/' made safe


def test_grid_errors_are_clear(in_tmp: Path, capsys):
    assert sgvb(["grid", "quickstrat", "--dry-run"]) == 2
    assert "unknown grid 'quickstrat'. Did you mean 'quickstart'?" in capsys.readouterr().err
    assert sgvb(["grid", "positional_encoding", "--dry-run"]) == 2  # full-scale grids need real data
    assert "needs dataset.path" in capsys.readouterr().err
    assert sgvb(["grid", "quickstart", "generator=no_such_generator", "--dry-run"]) == 2
    assert "no_such_generator" in capsys.readouterr().err
    assert sgvb(["grid", "quickstart", "--select", "worst", "--dry-run"]) == 2  # refused before any job runs
    assert "sgvb grid: error: --select 'worst' is not understood" in capsys.readouterr().err
    try:
        import hydra_plugins.hydra_submitit_launcher  # noqa: F401
    except ImportError:  # the optional extra is not installed: say how to get it
        assert sgvb(["grid", "quickstart", "hydra/launcher=slurm", "--dry-run"]) == 2
        assert "pip install 'stylegan-v-bench[launchers]'" in capsys.readouterr().err


def test_job_dir_names_identify_configurations():
    params = {"generator.positional_encoding": "acyclic,none", "seed": "0,1"}
    a = grid.job_dir_name(["generator.positional_encoding=none", "seed=1", "+grid=quickstart", "b=2", "a=1"], params)
    b = grid.job_dir_name(["a=1", "seed=1", "b=2", "generator.positional_encoding=none", "+grid=quickstart"], params)
    assert a == b == "generator.positional_encoding=none,seed=1,a=1,b=2"  # swept keys first; order-free
    path = grid.job_dir_name(["dataset.path=/data/a.zip"])
    assert "/" not in path and path.startswith("dataset.path=_data_a.zip-")
    assert path != grid.job_dir_name(["dataset.path=_data_a.zip"])  # made-safe names never collide
    long = [f"key{i}=value{i}" for i in range(40)]
    assert len(grid.job_dir_name(long)) == 120 and grid.job_dir_name(long) != grid.job_dir_name(long[:-1])
    assert grid.job_dir_name([]) == "default"


def test_record_job_failure(tmp_path: Path):
    from hydra.core.utils import JobReturn, JobStatus

    def job_end(run_dir: Path, status: JobStatus, value):
        ret = JobReturn()
        ret.status, ret.return_value = status, value
        config = SimpleNamespace(run_dir=None, hydra=SimpleNamespace(runtime=SimpleNamespace(output_dir=str(run_dir))))
        run_dir.mkdir(exist_ok=True)
        grid.RecordJobFailure().on_job_end(config=config, job_return=ret)
        return json.loads((run_dir / "status.json").read_text()) if (run_dir / "status.json").exists() else None

    status = job_end(tmp_path / "a", JobStatus.FAILED, RuntimeError("CUDA out of memory"))
    assert status["state"] == "failed" and status["error"] == "RuntimeError: CUDA out of memory"
    assert "RuntimeError" in status["traceback"]
    assert job_end(tmp_path / "b", JobStatus.COMPLETED, 2)["error"].startswith("the job exited with status 2")
    from benchmarks.commands import train

    train.LAST_JOB_ERROR[0] = "trainer.total_kimg=-5: must be > 0 (details: /tmp/x.log)"  # what the job printed
    try:
        assert job_end(tmp_path / "b2", JobStatus.COMPLETED, 2)["error"] == train.LAST_JOB_ERROR[0]
    finally:
        train.LAST_JOB_ERROR[0] = None
    assert job_end(tmp_path / "c", JobStatus.COMPLETED, 0) is None
    (tmp_path / "d").mkdir()
    write_status(tmp_path / "d", "failed", kimg=3.0, error="NaN in loss D at kimg 3")
    assert (
        job_end(tmp_path / "d", JobStatus.FAILED, RuntimeError("x"))["error"] == "NaN in loss D at kimg 3"
    )  # harness's words kept


TINY = [
    "seed=0",
    "trainer.total_kimg=0.04",
    "trainer.snapshot_kimg=0.04",
    "trainer.eval_kimg=0.04",
    "trainer.kimg_per_tick=0.04",
    "generator.channel_max=16",
    "discriminator.channel_max=16",
    "dataset.num_videos=8",
    "dataset.num_frames=16",
    "samples.videos=2",
    "samples.frames=4",
    "samples.long_frames=8",
    "progress=false",
    "metrics=[{_name_:fvd,num_videos:4,num_frames:16}]",
]


@pytest.mark.slow
def test_two_job_grid_end_to_end(in_tmp: Path, monkeypatch, capsys):
    import metrics.weights

    def offline(url, dest, sha256):
        raise OSError("no network in tests")

    monkeypatch.setattr(metrics.weights, "_download", offline)
    # one good job, one that fails inside the harness (unknown positional encoding)
    args = ["grid", "quickstart", "generator.positional_encoding=acyclic,bogus", *TINY]
    assert sgvb(args) == 1
    out = capsys.readouterr().out
    assert "2 jobs: 1 done, 1 failed" in out and "unknown positional_encoding 'bogus'" in out
    plan = grid.plan_grid("quickstart", args[2:])
    good, bad = plan.jobs
    assert good.state == "done" and bad.state == "failed"
    assert sorted(p.name for p in (good.run_dir / "checkpoints").glob("*.pt"))
    results = in_tmp / "results" / "quickstart"
    tidy = pd.read_csv(results / "results.csv")
    comparison = pd.read_csv(results / "results_comparison.csv")
    assert set(tidy["status"]) == {"done", "failed"}
    failed = comparison[comparison["status"] == "1 failed"]
    assert len(failed) == 1 and "bogus" in failed["error"].iloc[0]
    fvd = comparison[(comparison["status"] == "1 done") & (comparison["key"] == "fvd4_16f")].iloc[0]
    assert fvd["stand_in"] and fvd["n"] == 1 and fvd["mean"] >= 0
    assert "[stand-in]" in (results / "results.md").read_text()
    # named by what differs between the jobs, not the 100-character folder name
    assert [p.name for p in (results / "samples").glob("*.gif")] == ["generator.positional_encoding=acyclic.gif"]

    # the same grid again: the finished job does no work, the failed one is tried again (and fails again)
    before = {p: p.stat().st_mtime_ns for p in good.run_dir.rglob("*") if p.is_file() and ".hydra" not in p.parts}
    assert sgvb(args) == 1
    out = capsys.readouterr().out
    assert "(1 done, 1 failed)" in out  # the plan printed before launching
    after = {p: p.stat().st_mtime_ns for p in good.run_dir.rglob("*") if p.is_file() and ".hydra" not in p.parts}
    assert after == before


def test_results_folder_collects_samples_and_plots(tmp_path: Path, monkeypatch):
    import matplotlib.figure
    import numpy as np
    from test_table import make_run

    from benchmarks.grids import results as grid_results

    runs = []
    for pe, seed in (("acyclic", 0), ("acyclic", 1), ("none", 0)):
        run = make_run(
            tmp_path / "runs",
            f"{pe}-{seed}",
            pe=pe,
            seed=seed,
            records=((4, "consistency4_128f", {"consistency4_128f": 0.3 + seed}, True),),
        )
        (run / "metric-consistency4_128f").mkdir()
        lags = np.arange(128.0)
        np.savez(
            run / "metric-consistency4_128f" / "kimg000004.npz",
            lags=lags,
            lag_gen=np.exp(-lags / (10 + seed)),
            lag_real=np.exp(-lags / 50),
        )
        (run / "metric-consistency4_128f" / "kimg000004.png").write_bytes(b"png")
        record = json.loads((run / "metric-consistency4_128f.jsonl").read_text())
        record["artifacts"] = {
            "curves": "metric-consistency4_128f/kimg000004.npz",
            "plot": "metric-consistency4_128f/kimg000004.png",
        }
        (run / "metric-consistency4_128f.jsonl").write_text(json.dumps(record) + "\n")
        (run / "samples").mkdir()
        (run / "samples" / "grid-000004.gif").write_bytes(b"gif")
        runs.append(run)
    results = tmp_path / "results"
    legends, savefig = [], matplotlib.figure.Figure.savefig

    def keep_legend(fig, *args, **kwargs):
        legend = fig.axes[0].get_legend()
        legends.append((legend.get_title().get_text(), [t.get_text() for t in legend.get_texts()]) if legend else None)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep_legend)
    comparison = grid_results.write_results(runs, results, labels={runs[0]: "first"}).comparison
    assert len(comparison) == 2
    assert (results / "consistency.png").stat().st_size > 1000
    # the consistency profiles' legend: the axis values, the axis named once (was 'positional_encoding=acyclic')
    assert legends[-1] == ("positional_encoding", ["acyclic (n=2)", "none (n=1)", "real videos"])
    assert sorted(p.name for p in (results / "samples").iterdir()) == ["acyclic-1.gif", "first.gif", "none-0.gif"]
    assert (results / "plots" / "first--consistency4_128f.png").read_bytes() == b"png"
    assert {"results.csv", "results_comparison.csv", "results_subscores.csv", "results.md", "results.tex"} <= {
        p.name for p in results.iterdir()
    }
    assert {p.suffix for p in (results / "plots").glob("consistency4_128f_bars.*")} == {".png", ".pdf"}
    assert not list((results / "plots").glob("consistency4_128f_vs_kimg.*"))  # one evaluation: no curve to draw


def test_launcher_presets_compose_with_the_plugins(in_tmp: Path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="optional extra 'launchers' not installed")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="optional extra 'launchers' not installed")
    for launcher in ("local_parallel", "slurm"):
        plan = grid.plan_grid("quickstart", [f"hydra/launcher={launcher}", "seed=0"])
        assert plan.launcher == launcher and len(plan.jobs) == 3


def test_a_job_held_by_a_live_process_is_skipped_and_reported(in_tmp: Path, capsys):
    """Two grids on one folder: the second neither trains nor records anything in a job another process holds."""
    import os

    from benchmarks.records.run_folder import RunLock

    args = ["grid", "quickstart", "generator.positional_encoding=acyclic", *TINY]
    (job,) = grid.plan_grid("quickstart", args[2:]).jobs
    with RunLock(job.run_dir):
        assert sgvb([*args, "--dry-run"]) == 0
        assert "1 jobs (1 held)" in capsys.readouterr().out
        assert sgvb(args) == 1
        captured = capsys.readouterr()
        assert "1 jobs: 1 held" in captured.out and f"held by pid {os.getpid()} on host" in captured.out
        assert "skipped: run folder" in captured.err
        assert not (job.run_dir / "status.json").exists() and not (job.run_dir / "stats.jsonl").exists()


def test_sweep_expansion_uses_only_public_hydra_api():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(["a=1,2", "b=x", "+c=range(0,2)", "a=3,4,5"])
    assert grid.expand_sweep(parsed) == [[f"a={a}", "b=x", f"+c={c}"] for a in (3, 4, 5) for c in (0, 1)]
    source = Path(grid.__file__).read_text()
    assert "hydra._internal" not in source and "_return_value" not in source


def test_a_grid_refuses_a_dataset_path_that_does_not_exist_even_in_a_dry_run(in_tmp: Path, capsys):
    args = ["grid", "positional_encoding", "dataset.path=data/sky.zip", "dataset.resolution=32", "seed=0", "--dry-run"]
    assert sgvb(args) == 2
    err = capsys.readouterr().err
    assert "dataset.path 'data/sky.zip' does not exist: every job reading it would fail" in err
    (in_tmp / "data").mkdir()
    (in_tmp / "data" / "sky.zip").write_bytes(b"")
    assert sgvb(args) == 2  # it exists now, but the pre-flight opens it: once, for all four jobs
    err = capsys.readouterr().err
    assert "pre-flight (no job was started): the dataset cannot be opened" in err and "not a zip archive" in err
    assert "(jobs #0, #1, #2, #3)" in err


def test_sample_gifs_are_enlarged_for_the_results_folder(tmp_path: Path):
    import numpy as np
    from PIL import Image, ImageSequence

    from benchmarks.grids.results import upscaled_gif

    frames = [Image.fromarray(np.full((33, 66, 3), 40 * k, np.uint8)) for k in range(3)]
    src = tmp_path / "grid.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=80, loop=0)
    out = upscaled_gif(src, tmp_path / "out" / "job.gif")
    with Image.open(out) as image:
        assert image.size == (66 * 8, 33 * 8) and min(image.size) >= 256  # was 66 px wide
        assert sum(1 for _ in ImageSequence.Iterator(image)) == 3 and image.info["duration"] == 80
    (tmp_path / "bad.gif").write_bytes(b"gif")
    assert upscaled_gif(tmp_path / "bad.gif", tmp_path / "out" / "bad.gif").read_bytes() == b"gif"


def test_results_file_labels_name_what_differs_between_jobs_in_few_characters(tmp_path: Path):
    shared = ["dataset=sky_timelapse", "dataset.path=/data/a/very/long/path/to/sky_timelapse_256.zip"]
    jobs = [
        grid.Job(i, [f"model={m}", f"seed={s}", *shared], tmp_path / f"job{i}")
        for i, (m, s) in enumerate([("stylegan_v_small", 0), ("stylegan_v_small", 1), ("digan_small", 0)])
    ]
    labels = grid.job_labels(jobs)
    assert list(labels.values()) == [
        "model=stylegan_v_small,seed=0",
        "model=stylegan_v_small,seed=1",
        "model=digan_small,seed=0",
    ]
    long = [grid.Job(i, [f"generator.channel_base_for_a_long_key={'x' * 40}{i}"], tmp_path / f"l{i}") for i in (0, 1)]
    assert all(len(v) <= grid.MAX_LABEL for v in grid.job_labels(long).values())
    assert len(set(grid.job_labels(long).values())) == 2
    assert grid.job_labels([grid.Job(0, [], tmp_path / "only")]) == {tmp_path / "only": "job0"}


def test_a_problem_every_job_would_meet_is_said_once_before_any_job_starts(in_tmp: Path, capsys):
    """The journey of issue 23: four jobs each trained nothing and failed alike on a dataset too small for a metric;
    the grid now runs the pre-flight once and names the jobs, before launching (and in --dry-run)."""
    from PIL import Image

    for k in range(3):  # 3 videos of 20 frames: fewer than fvd4_16f's 4
        (in_tmp / "data" / f"v{k}").mkdir(parents=True)
        for t in range(20):
            Image.new("RGB", (16, 16), (10 * k, 5 * t, 0)).save(in_tmp / "data" / f"v{k}" / f"{t:06d}.png")
    args = ["grid", "quickstart", "dataset=frames", f"dataset.path={in_tmp / 'data'}", "dataset.resolution=16"]
    args += ["metrics=[fvd4_16f]", "generator.positional_encoding=acyclic,none"]
    for extra in (["--dry-run"], []):
        assert sgvb([*args, *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            "sgvb grid: error: pre-flight (no job was started): metric fvd4_16f needs 4 real videos of at least 16 "
            "frames; the dataset has 3 (of 3 videos): give more data, choose a smaller metric, or pass "
            "allow_fewer=true (the record then says so) (jobs #0, #1, #2, #3)"
        ]
        assert not (in_tmp / "runs").exists()
    assert sgvb([*args, "allow_fewer=true", "--dry-run"]) == 0
