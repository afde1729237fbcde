"""Progress of the long commands: rate and ETA per metric and side for ``sgvb eval`` (one line per step when stderr is
not a terminal), a one-line result summary instead of the raw record, and the line counter itself."""

from __future__ import annotations

import io
import json
import re

import pytest

from benchmarks import progress
from metrics.testing import moving_blobs, save_tiny_torchscript_detector
from tests.test_metrics_cli import _write_frames, compose_eval

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_steps_print_rate_and_eta_when_not_a_terminal(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    assert isinstance(progress.steps("fvd2048_16f real", 256, "clips", stream=stream), progress.LineSteps)
    clock = Clock()
    counter = progress.LineSteps("fvd2048_16f real", 256, "clips", stream, 0.0, clock=clock)
    clock.now += 2.0
    counter.update(64)
    clock.now += 6.0
    counter.update(192)
    counter.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # one per step; the last is not repeated by close()
    assert lines == [
        "fvd2048_16f real: 64/256 clips (32.0 clips/s, ETA 6.0s)",
        "fvd2048_16f real: 256/256 clips (32.0 clips/s, 8.0s)",
    ]
    assert progress.steps("x", 1, "clips", stream=stream, enabled=False) is None


def test_no_rate_before_it_means_something():
    """A step that took ~0 s printed "217414.9 clips/s": no rate (nor ETA) before MIN_RATE_S; the duration at the
    end."""
    stream, clock = io.StringIO(), Clock()
    counter = progress.LineSteps("fvd2048_16f real", 256, "clips", stream, 0.0, clock=clock)
    clock.now += 0.0012
    counter.update(255)
    clock.now += 0.0003
    counter.update(1)
    clock.now += progress.MIN_RATE_S  # a second counter, slower: its rate shows once it is meaningful
    late = progress.LineSteps("sample", 64, "frames", stream, 0.0, clock=clock)
    late.update(16)
    clock.now += progress.MIN_RATE_S * 2
    late.update(16)
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["fvd2048_16f real: 255/256 clips", "fvd2048_16f real: 256/256 clips (0.0s)"]
    assert lines[2:] == ["sample: 16/64 frames", "sample: 32/64 frames (16.0 frames/s, ETA 2.0s)"]
    assert all("/s" not in line for line in lines[:3])


def test_line_steps_are_throttled(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setenv(progress.INTERVAL_ENV, "3600")
    counter = progress.steps("fid real", None, "frames", stream=stream)
    for _ in range(100):
        counter.update(8)
    counter.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("fid real: 800 frames (")  # first step, then the final count


def test_sgvb_eval_shows_progress_per_metric_and_side_and_one_summary_line(tmp_path, monkeypatch, capsys):
    from benchmarks.commands.evaluate import run

    monkeypatch.setattr(progress, "MIN_RATE_S", 0.0)  # a tiny run: show its (meaningless) rate anyway
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    _write_frames(tmp_path / "fake", moving_blobs(4, 8, 16, seed=2))
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    run_dir = tmp_path / "run"
    records = run(
        compose_eval(
            f"fake.videos={tmp_path / 'fake'}",
            "metrics=[fvd4_8f]",
            "dataset=synthetic",
            "dataset.num_videos=4",
            "dataset.num_frames=12",
            "dataset.resolution=16",
            f"detector_path={detector}",
            f"cache_dir={tmp_path / 'cache'}",
            f"run_dir={run_dir}",
            "device=cpu",
            "batch_size=2",
        )
    )
    out, err = capsys.readouterr()
    steps = [ln for ln in err.splitlines() if ln.startswith("fvd4_8f ")]
    assert [ln.split(":")[0] + ":" + ln.split(":")[1].split("(")[0] for ln in steps] == [
        "fvd4_8f real: 2/4 clips ",
        "fvd4_8f real: 4/4 clips ",
        "fvd4_8f fake: 2/4 clips ",
        "fvd4_8f fake: 4/4 clips ",
    ]
    assert "ETA" in steps[0] and "clips/s" in steps[0]
    (line,) = out.splitlines()  # the summary, not the JSON record
    assert line.startswith(f"fvd4_8f = {records[0]['value']:.4f}") and "4/4 real videos" in line and "{" not in line
    assert "kimg" not in line  # a folder of videos has no kimg (was: 'kimg None')
    assert line.endswith(f"-> {run_dir / 'metric-fvd4_8f.jsonl'}")
    assert json.loads((run_dir / "metric-fvd4_8f.jsonl").read_text())["value"] == records[0]["value"]

    # progress=false: no progress lines; the detector keeps no hook of a finished evaluation
    run(
        compose_eval(
            f"fake.videos={tmp_path / 'fake'}",
            "metrics=[fvd4_8f]",
            "dataset=synthetic",
            "dataset.num_videos=4",
            "dataset.num_frames=12",
            "dataset.resolution=16",
            f"detector_path={detector}",
            f"cache_dir={tmp_path / 'cache2'}",
            "device=cpu",
            "progress=false",
        )
    )
    out, err = capsys.readouterr()
    assert not [ln for ln in err.splitlines() if ln.startswith("fvd4_8f ")] and len(out.splitlines()) == 1


def test_sgvb_stats_shows_the_real_side_progress(tmp_path, monkeypatch, capsys):
    from hydra import compose, initialize_config_module

    from benchmarks.commands.stats import run

    monkeypatch.setattr(progress, "MIN_RATE_S", 0.0)  # a tiny run: show its (meaningless) rate anyway
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose(
            "stats",
            overrides=[
                "dataset=synthetic",
                "dataset.num_videos=4",
                "dataset.num_frames=12",
                "dataset.resolution=16",
                "metric=fvd4_8f",
                f"out={tmp_path / 'real.npz'}",
                f"detector_path={detector}",
                f"cache_dir={tmp_path / 'cache'}",
                "device=cpu",
                "batch_size=4",
            ],
        )
    run(cfg)
    err = capsys.readouterr().err
    assert re.search(r"^fvd4_8f real: 4/4 clips \([\d.]+ clips/s, [\d.]+s\)$", err, re.M), err


def test_sgvb_audit_prints_one_line_per_step(tmp_path, monkeypatch, capsys):
    from hydra import compose, initialize_config_module

    from benchmarks.commands.audit import run

    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    detector = save_tiny_torchscript_detector(tmp_path / "frames.pt", video=False)
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose(
            "audit",
            overrides=[
                "dataset=synthetic",
                "dataset.resolution=16",
                "dataset.num_videos=8",
                "dataset.num_frames=40",
                "num_videos=4",
                "metrics=[consistency4_16f]",
                "distortions=[gaussian_blur]",
                "strengths=[1.0]",
                f"detector_path={detector}",
                f"cache_dir={tmp_path / 'cache'}",
                f"out_dir={tmp_path / 'audit'}",
                "device=cpu",
            ],
        )
    run(cfg)
    steps = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("audit: ") and "/2 evaluations" in ln]
    assert [ln.split(" (")[0] for ln in steps] == ["audit: 1/2 evaluations", "audit: 2/2 evaluations"], steps


def test_sample_prepare_and_convert_print_one_line_per_step(tmp_path, monkeypatch, capsys):
    """The other long commands: frames rendered (sample), videos rendered and assembled (prepare), videos converted
    (convert), each with its count of a known total on stderr."""
    import numpy as np
    from test_checkpoint import write_generator_checkpoint
    from video_files import write_video

    from benchmarks.commands.sample import sample_videos
    from benchmarks.data.convert import convert_videos
    from benchmarks.data.prepare import prepare_dataset
    from tests.test_prepare_resume import sky

    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))

    def counts(prefix: str) -> list[str]:
        err = capsys.readouterr().err.splitlines()
        return [ln.split(" (")[0] for ln in err if ln.startswith(prefix)]

    checkpoint, _ = write_generator_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt-000001.000.pt")
    sample_videos(checkpoint, format="frames", seeds=[0, 1], num_frames=4, chunk_size=2, preview=False, device="cpu")
    assert counts("sample: ") == [f"sample: {n}/8 frames" for n in (2, 4, 6, 8)]

    prepare_dataset("sky_timelapse", sky(tmp_path / "raw"), tmp_path / "sky.zip", resolution=8, workers=1, log=print)
    lines = counts("prepare: ")
    assert lines == [f"prepare: rendering: {n}/3 videos" for n in (1, 2, 3)] + [
        f"prepare: assembling: {n}/3 videos" for n in (1, 2, 3)
    ]

    src = tmp_path / "videos"
    src.mkdir()
    for k in range(2):
        write_video(src / f"clip{k}.mp4", np.full((3, 16, 16, 3), 40 * k, np.uint8))
    convert_videos(src, tmp_path / "set.zip", resolution=8, log=lambda _: None)
    assert counts("convert: ") == ["convert: 1/2 videos", "convert: 2/2 videos"]


def test_every_metric_family_gets_a_total():
    """The counter's total comes from the metric's declared sizes, whatever it calls them (PRDC: ``num_samples``):
    without it a user sees ``prdc16_16f fake: 24 clips`` and cannot tell how far it is."""
    from metrics import build_metric

    cases = {
        "fvd16_16f": ((16, "clips"), (32, "clips")),
        "kvd16_16f": ((16, "clips"), (32, "clips")),
        "prdc16_16f": ((16, "clips"), (32, "clips")),
        "prdc64_frames": ((64, "frames"), (128, "frames")),
    }
    for name, (real, fake) in cases.items():
        metric = build_metric(name)
        shown = progress.MetricProgress(metric, num_runs=2, stream=io.StringIO())
        video = metric.num_frames is not None
        assert shown.expected("real", video) == real, name
        assert shown.expected("fake", video) == fake, name


def test_an_evaluation_during_training_shows_its_own_progress(tmp_path, monkeypatch, capsys):
    """In training the bar stood still for the minutes an evaluation takes; now each metric counts its sides."""
    from benchmarks.training.job import train
    from tests.test_train import tiny_config

    monkeypatch.setattr(progress, "MIN_RATE_S", 0.0)
    cfg = tiny_config(
        f"run_dir={tmp_path / 'run'}",
        "metrics=[fvd8_2f]",
        "trainer.eval_kimg=0.024",
        "allow_stand_in_detectors=true",
        f"cache_dir={tmp_path / 'cache'}",
        "progress=true",
    )
    train(cfg)
    err = capsys.readouterr().err
    assert re.search(r"fvd8_2f @ kimg 0\.024 real: 8/8 clips", err), err[-2000:]
    assert re.search(r"fvd8_2f @ kimg 0\.024 fake: 8/8 clips", err), err[-2000:]


def test_training_prints_one_line_per_tick_when_stderr_is_not_a_terminal(tmp_path, capsys):
    """A log file or a cluster job's output got tqdm's carriage-return redraws, piled into one unreadable line."""
    from benchmarks.training.job import train
    from tests.test_train import tiny_config

    train(tiny_config(f"run_dir={tmp_path / 'run'}", "progress=true"))
    err = capsys.readouterr().err
    assert "\r" not in err
    ticks = re.findall(r"^kimg 0\.0\d .*\| 0\.0\d/0\.02 kimg, ETA \d+ s$", err, flags=re.M)
    assert len(ticks) == 2, err[-2000:]
