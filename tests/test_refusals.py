"""One-line refusals instead of tracebacks: unsafe pickles, an output that is a folder, a read-only output folder."""

from __future__ import annotations

import os
import pickle

import pytest

from tests.test_faults import read_only


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def unsafe_pickle(tmp_path):
    path = tmp_path / "network-snapshot-000100.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Payload(tmp_path / "EXECUTED")}))
    return path


def one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_convert_checkpoint_refuses_an_unsafe_pickle_in_one_line(unsafe_pickle, tmp_path, capsys):
    from benchmarks.commands.convert_checkpoint import main

    assert main([str(unsafe_pickle), str(tmp_path / "out.pt")]) == 2
    line = one_line(capsys)
    assert line.startswith("sgvb convert-checkpoint: error:") and "weights_only=False" not in line
    assert not (tmp_path / "EXECUTED").exists() and not (tmp_path / "out.pt").exists()


def test_convert_checkpoint_into_an_existing_folder_says_what_to_give(unsafe_pickle, tmp_path, capsys):
    from benchmarks.commands.convert_checkpoint import main

    folder = tmp_path / "out"
    folder.mkdir()
    assert main([str(unsafe_pickle), str(folder)]) == 2
    line = one_line(capsys)
    assert f"output '{folder}' is a folder" in line and str(folder / "network-snapshot-000100.pt") in line


def test_convert_checkpoint_checks_the_output_folder_before_reading(unsafe_pickle, tmp_path, capsys, monkeypatch):
    from benchmarks.commands import convert_checkpoint

    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(folder, monkeypatch)
    monkeypatch.setattr(convert_checkpoint, "converted_state", lambda loaded: pytest.fail("read before the check"))
    try:
        assert convert_checkpoint.main([str(unsafe_pickle), str(folder / "out.pt")]) == 2
    finally:
        folder.chmod(0o755)
    line = one_line(capsys)
    assert f"{folder}" in line and ("EROFS" in line or "EACCES" in line)


def test_sample_and_eval_refuse_an_unsafe_file_in_one_line_without_torchs_advice(unsafe_pickle, tmp_path, capsys):
    import subprocess
    import sys

    import torch

    from benchmarks.commands.sample import KNOWN_ERRORS, sample_videos
    from benchmarks.errors import one_line_errors
    from tests.test_train import REPO

    pt = tmp_path / "ckpt-000001.pt"
    torch.save({"G_ema": Payload(tmp_path / "EXECUTED")}, pt)
    for source in (unsafe_pickle, pt):  # what `sgvb sample` runs, in-process
        with pytest.raises(SystemExit) as caught:
            with one_line_errors("sample", known=KNOWN_ERRORS):
                sample_videos(source, out_dir=tmp_path / "s", device="cpu")
        line = one_line(capsys)
        assert caught.value.code == 2 and str(source) in line and "weights_only=False" not in line
    args = ["eval", f"fake.checkpoint={pt}", "metrics=[fvd8_16f]", "dataset=synthetic", f"run_dir={tmp_path / 'e'}"]
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", *args, "device=cpu"], cwd=REPO, capture_output=True, text=True
    )
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "weights_only=False" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "EXECUTED").exists()


def test_sample_num_videos_writes_that_many(tmp_path):
    from benchmarks.commands.sample import sample_videos
    from tests.test_checkpoint import write_generator_checkpoint

    path, _ = write_generator_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt-000003.pt", kimg=3.0)
    common = dict(format="frames", num_frames=2, preview=False, device="cpu")
    two = sample_videos(path, out_dir=tmp_path / "a", num_videos=2, **common)
    assert [p.name for p in two] == ["seed0000", "seed0001"]
    three = sample_videos(path, out_dir=tmp_path / "b", seeds=[7], num_videos=3, **common)
    assert [p.name for p in three] == ["seed0007", "seed0008", "seed0009"]
    with pytest.raises(ValueError, match="num_videos=3 but seeds lists 2"):
        sample_videos(path, out_dir=tmp_path / "c", seeds=[1, 2], num_videos=3, **common)


@pytest.mark.parametrize(
    "override, key",
    [
        ("trainer.total_kimg=-5", "trainer.total_kimg"),
        ("trainer.kimg_per_tick=-1", "trainer.kimg_per_tick"),
        ("trainer.g_lr=-1", "trainer.g_lr"),
        ("trainer.d_lr=0", "trainer.d_lr"),
        ("seed=-1", "seed"),
        ("trainer.batch_size=0", "trainer.batch_size"),
        ("trainer.betas=[0.5,1.5]", "trainer.betas"),
        ("samples.fps=0", "samples.fps"),
    ],
)
def test_nonsense_values_are_refused_naming_the_key_before_any_file(tmp_path, override, key):
    from benchmarks.config.training import ConfigError
    from tests.test_train import tiny_config

    with pytest.raises(ConfigError, match=rf"^config '{key}' = .*: must be") as caught:
        tiny_config(f"run_dir={tmp_path / 'run'}", override)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_run_dir_that_is_a_file_and_init_from_our_own_checkpoint_are_refused_in_one_line(tmp_path):
    from benchmarks.config.training import ConfigError
    from benchmarks.training.job import train
    from tests.test_checkpoint import write_generator_checkpoint
    from tests.test_train import tiny_config

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match=r"run_dir=.*notes.txt is a file, not a folder"):
        train(tiny_config(f"run_dir={a_file}"))
    ours, _ = write_generator_checkpoint(tmp_path / "old" / "checkpoints" / "ckpt-000003.pt", kimg=3.0)
    with pytest.raises(ConfigError, match=rf"is an sgvb checkpoint.*continue the checkpoint with resume={ours}"):
        train(tiny_config(f"run_dir={tmp_path / 'new'}", f"init_from={ours}"))
    assert not (tmp_path / "new").exists()


def test_a_finished_run_is_extended_when_total_kimg_is_raised_and_allowed(tmp_path, capsys):
    import json

    from benchmarks.records import checkpoint as ckpt
    from benchmarks.training.job import train
    from tests.test_train import tiny_config

    run_dir = tmp_path / "run"
    common = (f"run_dir={run_dir}", "samples.long_frames=0", "samples.videos=1", "resume=auto")
    train(tiny_config(*common, "trainer.total_kimg=0.012"))
    train(tiny_config(*common, "trainer.total_kimg=0.024"))  # not allowed: stays as it is, saying what extends it
    assert "add allow_change=[trainer.total_kimg]" in capsys.readouterr().err
    assert ckpt.list_checkpoints(run_dir)[-1].name == "ckpt-000000.012.pt"
    train(tiny_config(*common, "trainer.total_kimg=0.024", "allow_change=[trainer.total_kimg]"))
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["kimg"] == 0.024
    assert ckpt.list_checkpoints(run_dir)[-1].name == "ckpt-000000.024.pt"
