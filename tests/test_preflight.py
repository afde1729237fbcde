"""Pre-flight at the start of ``sgvb train``: missing detector weights, a metric the data cannot feed, unreadable data
and an unwritable run folder are found in seconds, one line each, before anything trains."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchmarks.config.training import ConfigError
from benchmarks.training import job, preflight
from tests.test_train import TINY, tiny_config

NO_DATA = [o for o in TINY if not o.startswith("dataset.")]  # the tiny run without its synthetic data's sizes


@pytest.fixture
def offline(tmp_path: Path, monkeypatch) -> Path:
    """No weight file anywhere and no network."""
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.setenv("SGVB_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_missing_weights_and_too_few_videos_stop_training_before_the_first_step(offline: Path, capsys):
    """The issue's run: ``metrics=[fvd2048_16f]`` on 8 videos, offline. Before: it trained, wrote a checkpoint, then
    failed at the first evaluation."""
    config = tiny_config("metrics=[fvd2048_16f]")
    run_dir = offline / "run"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"^pre-flight found 2 problems before training, one per line") as info:
        job.train(config, run_dir)
    assert time.monotonic() - start < 30
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "status.json").exists()  # nothing trained
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(preflight.PREFIX)]
    assert len(lines) == 2, lines
    count, weights = lines
    assert "fvd2048_16f needs 2048 real videos of at least 16 frames; the dataset has 8" in count
    assert "allow_fewer=true" in count
    assert "fvd2048_16f" in weights and "i3d_torchscript.pt" in weights and "allow_stand_in_detectors=true" in weights
    assert str(info.value).splitlines()[1:] == [ln.removeprefix(preflight.PREFIX) for ln in lines]


def test_one_problem_is_the_error_line_itself(offline: Path, capsys):
    with pytest.raises(ConfigError, match=r"^pre-flight \(nothing was trained\): metric fvd2048_16f needs 2048"):
        job.train(tiny_config("metrics=[fvd2048_16f]", "allow_stand_in_detectors=true"), offline / "run")
    assert capsys.readouterr().err == ""


def test_explicit_allowances_pass_the_pre_flight(offline: Path):
    config = tiny_config("metrics=[fvd2048_16f]", "allow_fewer=true", "allow_stand_in_detectors=true")
    assert preflight.problems_of(config, offline / "run") == []
    enough = tiny_config("metrics=[{_name_:fvd,num_videos:8,num_frames:40}]", "allow_stand_in_detectors=true")
    assert preflight.problems_of(enough, offline / "run") == []
    too_long = tiny_config("metrics=[{_name_:fvd,num_videos:8,num_frames:41}]", "allow_stand_in_detectors=true")
    assert preflight.problems_of(too_long, offline / "run") == [
        "metric fvd8_41f needs 8 real videos of at least 41 frames; the dataset has 0 (of 8 videos): give more "
        "data, choose a smaller metric, or pass allow_fewer=true (the record then says so)"
    ]


def test_unreadable_data_and_an_unwritable_run_folder_are_named(offline: Path):
    config = tiny_config(
        "dataset=frames", f"dataset.path={offline / 'no_such.zip'}", "dataset.resolution=32", base=NO_DATA
    )
    (problem,) = preflight.problems_of(config, offline / "run")
    assert problem.startswith("the dataset cannot be opened:") and "no_such.zip" in problem
    blocked = offline / "a_file"
    blocked.write_text("not a folder")
    (problem,) = preflight.problems_of(tiny_config(), blocked / "run")
    assert "run folder" in problem and str(blocked) in problem


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_folder_is_named(offline: Path):
    folder = offline / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        (problem,) = preflight.problems_of(tiny_config(), folder / "run")
    finally:
        folder.chmod(0o700)
    assert "not writable" in problem and str(folder) in problem


def test_check_plugin_suggests_only_close_names(capsys):
    """``check-plugin my_gen`` (a plugin not installed) used to suggest 'mocogan', 'image', 'mead'."""
    from benchmarks.cli import main as sgvb

    assert sgvb(["check-plugin", "my_gen"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean" not in err and "mocogan" not in err and "sgvb plugins" in err
    assert sgvb(["check-plugin", "stylegan_vv"]) == 2
    assert "Did you mean generator 'stylegan_v'" in capsys.readouterr().err
