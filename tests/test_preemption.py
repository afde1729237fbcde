"""SIGTERM / SIGUSR2 during training: the step in hand finishes, a checkpoint is written, status.json says interrupted
with the kimg and the signal, the launcher's own handler gets the signal afterwards, and a resume continues to the
same weights as a run that never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import torch

from benchmarks.records import checkpoint as ckpt
from benchmarks.training.job import train
from benchmarks.training.loop import TrainingLoop
from benchmarks.training.preemption import TrainingInterrupted
from tests.test_train import PYTHON, REPO, TINY, stats, tiny_config

COMMON = ("samples.long_frames=0", "samples.videos=1", "trainer.num_workers=0")


@pytest.fixture
def signal_at_step(monkeypatch):
    """``signal_at_step(signum, step)``: this process receives ``signum`` while training step ``step`` runs."""

    def arm(signum: int, step: int) -> None:
        original = TrainingLoop.train_step

        def train_step(self, stats):
            if self.step + 1 == step:
                os.kill(os.getpid(), signum)  # the handler runs now; the step goes on to its end
            original(self, stats)

        monkeypatch.setattr(TrainingLoop, "train_step", train_step)

    return arm


def test_sigterm_mid_tick_checkpoints_the_step_and_resumes_to_the_same_weights(tmp_path, signal_at_step, monkeypatch):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny_config(f"run_dir={straight}", "trainer.total_kimg=0.036", *COMMON))

    signal_at_step(signal.SIGTERM, 3)  # a tick is 2 steps: step 3 is mid-tick
    with pytest.raises(TrainingInterrupted, match=r"interrupted by SIGTERM at kimg 0.018"):
        train(tiny_config(f"run_dir={split}", "trainer.total_kimg=0.036", "resume=auto", *COMMON))
    status = json.loads((split / "status.json").read_text())
    assert status["state"] == "interrupted" and status["signal"] == "SIGTERM" and status["kimg"] == 0.018
    assert [p.name for p in ckpt.list_checkpoints(split)][-1] == "ckpt-000000.018.pt"
    assert "stopped by SIGTERM at kimg 0.018 (step 3)" in (split / "log.txt").read_text()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone with the run

    monkeypatch.undo()
    train(tiny_config(f"run_dir={split}", "trainer.total_kimg=0.036", "resume=auto", *COMMON))
    assert json.loads((split / "status.json").read_text())["state"] == "done"
    assert [r["kimg"] for r in stats(split)] == [r["kimg"] for r in stats(straight)]  # ticks where they were
    a = torch.load(ckpt.list_checkpoints(straight)[-1], weights_only=True)
    b = torch.load(ckpt.list_checkpoints(split)[-1], weights_only=True)
    assert a["step"] == b["step"] == 6
    for key in ("G", "G_ema"):
        for name in a[key]:
            torch.testing.assert_close(b[key][name], a[key][name], rtol=0, atol=0, msg=f"{key}.{name}")


def test_sigusr2_is_handed_to_the_launchers_handler_after_the_checkpoint(tmp_path, signal_at_step):
    """submitit installs a SIGUSR2 handler that requeues the job and exits: it runs after our checkpoint and status."""
    run_dir = tmp_path / "run"
    seen = []

    def requeue_and_exit(signum, frame):  # what submitit's checkpoint_and_try_requeue does
        newest = ckpt.list_checkpoints(run_dir)[-1].name
        seen.append((signum, json.loads((run_dir / "status.json").read_text()), newest))
        raise SystemExit(-1)

    previous = signal.signal(signal.SIGUSR2, requeue_and_exit)
    try:
        signal_at_step(signal.SIGUSR2, 2)  # the end of a tick: its snapshot is the checkpoint
        with pytest.raises(SystemExit) as caught:
            train(tiny_config(f"run_dir={run_dir}", "trainer.total_kimg=0.036", "resume=auto", *COMMON))
        assert caught.value.code == -1
        assert signal.getsignal(signal.SIGUSR2) is requeue_and_exit
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert len(seen) == 1
    signum, status, newest = seen[0]
    assert signum == signal.SIGUSR2 and status["state"] == "interrupted" and status["signal"] == "SIGUSR2"
    assert newest == "ckpt-000000.012.pt" and status["kimg"] == 0.012
    assert json.loads((run_dir / "status.json").read_text())["state"] == "interrupted"


def test_a_launcher_that_bypasses_sigterm_lets_training_go_on_after_the_checkpoint(tmp_path, signal_at_step):
    """submitit bypasses SIGTERM (it requeues on SIGUSR2): the checkpoint is written and the run goes on to done."""
    run_dir = tmp_path / "run"
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        signal_at_step(signal.SIGTERM, 3)
        train(tiny_config(f"run_dir={run_dir}", "trainer.total_kimg=0.036", "resume=auto", *COMMON))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == [signal.SIGTERM]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    log_text = (run_dir / "log.txt").read_text()
    assert "checkpoint" in log_text and "stopped by SIGTERM at kimg 0.018 (step 3)" in log_text
    assert "handler let the job go on: training continues" in log_text


def test_sgvb_train_sent_sigterm_exits_143_with_one_line_and_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    args = [PYTHON, "-m", "benchmarks.cli", "train", *TINY, f"run_dir={run_dir}", "trainer.total_kimg=10", *COMMON]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not ckpt.list_checkpoints(run_dir) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    lines = [line for line in err.splitlines() if line.startswith("sgvb train:")]
    assert len(lines) == 1 and lines[0].startswith("sgvb train: interrupted: interrupted by SIGTERM at kimg"), err
    assert "Traceback" not in err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and status["signal"] == "SIGTERM"
    newest = ckpt.list_checkpoints(run_dir)[-1]
    assert ckpt.checkpoint_kimg(newest) == pytest.approx(status["kimg"])
    torch.load(newest, weights_only=True)  # complete


@pytest.mark.slow
def test_sigterm_to_the_launcher_of_nproc_2_stops_every_rank_with_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    args = [PYTHON, "-m", "benchmarks.cli", "train", *TINY, f"run_dir={run_dir}", "trainer.total_kimg=10", "nproc=2"]
    args += [*COMMON, "trainer.batch_gpu=1", "cpu_threads=1"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while not ckpt.list_checkpoints(run_dir) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)  # the launcher only, as a scheduler that signals the main process
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and status["signal"] == "SIGTERM"
    newest = ckpt.list_checkpoints(run_dir)[-1]
    assert ckpt.checkpoint_kimg(newest) == pytest.approx(status["kimg"])
    assert len(torch.load(newest, weights_only=True)["rng"]) == 2  # both ranks' states: both took part
