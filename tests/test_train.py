"""End-to-end tests of the training harness on CPU: a tiny real StyleGAN-V on the synthetic dataset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from benchmarks.config.training import train_config
from benchmarks.records import checkpoint as ckpt
from benchmarks.records.run_records import write_status
from benchmarks.training.components import ConfigError
from benchmarks.training.faults import TrainingDiverged
from benchmarks.training.job import train
from benchmarks.training.losses import NonSaturatingLoss
from registry import LOSSES, METRICS

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# A tiny StyleGAN-V: 2 videos x 3 frames = 6 frames per step; a tick (0.012 kimg) is 2 steps.
TINY = [
    "experiment=tiny",
    "generator.z_dim=16",
    "generator.w_dim=16",
    "generator.motion_z_dim=16",
    "generator.motion_dim=16",
    "generator.channel_base=256",
    "generator.channel_max=16",
    "discriminator.channel_base=256",
    "discriminator.channel_max=16",
    "dataset.num_videos=8",
    "dataset.num_frames=40",
    "trainer.batch_size=2",
    "trainer.batch_gpu=2",
    "trainer.kimg_per_tick=0.012",
    "trainer.snapshot_kimg=0.012",
    "trainer.eval_kimg=1000",
    "trainer.total_kimg=0.024",
    "samples.videos=2",
    "samples.frames=4",
    "samples.long_frames=128",
    "samples.fps=8",
    "progress=false",
    "device=cpu",
]


def tiny_config(*overrides: str, base: list[str] = TINY):
    """The typed config ``sgvb train`` would train with (composed by Hydra, converted once)."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        return train_config(compose(config_name="train", overrides=[*base, *overrides]))


def stats(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


class MeanFrameMetric:
    """A cheap test metric through the real ``metrics.evaluate`` path: mean pixel of 2 generated clips."""

    name = "test_mean_frame"
    direction = "higher"

    def compute(self, ctx, fake, real):
        from metrics.base import MetricOutput

        z = fake.sample_z(2, device=ctx.device)
        t = torch.arange(4, dtype=torch.float32).expand(2, -1)
        value = float(fake.generate_long(z, t).mean())
        return MetricOutput(
            value=value, results={"test_mean_frame": value}, protocol={"num_fake": 2, "stand_in": False}
        )


def test_tiny_run_writes_the_whole_run_folder(tmp_path, register):
    register(METRICS, lambda: MeanFrameMetric(), "test_mean_frame")
    run_dir = tmp_path / "run"
    cfg = tiny_config(
        f"run_dir={run_dir}",
        "metrics=[test_mean_frame]",
        "trainer.eval_kimg=0.012",
        "trainer.best_metric=test_mean_frame",
    )
    train(cfg)

    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["error"] is None and status["kimg"] == pytest.approx(0.024)
    info = json.loads((run_dir / "run.json").read_text())
    for key in (
        "package_version",
        "torch",
        "cuda",
        "git_commit",
        "device",
        "world_size",
        "precision",
        "seed",
        "config_hash",
        "dataset",
        "resolution",
        "components",
        "started",
    ):
        assert key in info
    assert info["components"]["generator"]["name"] == "stylegan_v"
    assert info["components"]["discriminator"]["kwargs"]["num_frames"] == 3  # from the sampler
    assert info["components"]["positional_encoding"]["name"] == "acyclic"
    assert info["resolution"] == 32 and info["world_size"] == 1
    assert "generator:" in (run_dir / "config.yaml").read_text()

    records = stats(run_dir)
    assert [r["kimg"] for r in records] == pytest.approx([0.012, 0.024])
    for key in ("loss/G/D", "loss/D/D", "loss/r1/D", "augment/p", "timing/sec_per_kimg", "memory/peak_gib"):
        assert key in records[0]
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert (run_dir / "log.txt").read_text().count("checkpoint") >= 2

    samples = sorted(p.name for p in (run_dir / "samples").iterdir())
    assert {"grid-000000.024.gif", "grid-000000.024.mp4", "long-000000.024.mp4", "grid-000000.012.gif"} <= set(samples)
    import av

    with av.open(str(run_dir / "samples" / "long-000000.024.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 128

    metric_lines = (run_dir / "metric-test_mean_frame.jsonl").read_text().splitlines()
    assert len(metric_lines) == 2  # kimg 0.012 and the final snapshot
    record = json.loads(metric_lines[-1])
    assert record["kimg"] == pytest.approx(0.024) and record["checkpoint"].endswith("ckpt-000000.024.pt")
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "test_mean_frame" and best["checkpoint"] == ckpt.checkpoint_name(best["kimg"])
    assert (run_dir / "checkpoints" / best["checkpoint"]).is_file()

    path = ckpt.list_checkpoints(run_dir)[-1]
    state = torch.load(path, weights_only=True)  # complete state, no pickled code
    assert state["nimg"] == 24 and state["step"] == 4
    for key in ("G", "G_ema", "D", "opt_G", "opt_D", "augment", "rng", "components", "config"):
        assert key in state
    G = ckpt.load_generator(run_dir)
    video = G.generate_long(G.sample_z(1), torch.tensor([[0.0, 0.5, 1000.0]]))
    assert video.shape == (1, 3, 3, 32, 32) and torch.isfinite(video).all()
    for key, value in G.state_dict().items():  # load_generator gives G_ema, not the raw G
        assert torch.equal(value, state["G_ema"][key])
    assert any(
        not torch.equal(state["G"][k], state["G_ema"][k]) for k in state["G"] if state["G"][k].is_floating_point()
    )

    # A finished run started again with resume=auto does no work.
    before = (run_dir / "stats.jsonl").read_text()
    train(tiny_config(f"run_dir={run_dir}", "trainer.total_kimg=1"))
    assert (run_dir / "stats.jsonl").read_text() == before
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"


class RisingScore:
    """A higher-is-better test metric whose value rises with every evaluation (1, 2, 3, ...)."""

    name = "test_rising_score"
    direction = "higher"
    calls = 0

    def compute(self, ctx, fake, real):
        from metrics.base import MetricOutput

        RisingScore.calls += 1
        value = float(RisingScore.calls)
        return MetricOutput(value=value, results={self.name: value}, protocol={"num_fake": 1, "stand_in": False})


def test_the_best_checkpoint_follows_the_metrics_direction(tmp_path, register):
    """best_metric names a higher-is-better metric (no prefix): the best is the highest value, and the
    better checkpoints are the ones kept (lower-is-better tracking kept the first and pruned the rest)."""
    RisingScore.calls = 0
    register(METRICS, lambda: RisingScore(), "test_rising_score")
    run_dir = tmp_path / "run"
    train(
        tiny_config(
            f"run_dir={run_dir}",
            "metrics=[test_rising_score]",
            "trainer.best_metric=test_rising_score",
            "trainer.eval_kimg=0.012",
            "trainer.total_kimg=0.036",
            "trainer.keep_checkpoints=1",
            "samples.long_frames=0",
            "samples.videos=1",
        )
    )
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    assert best["value"] == 3.0 and best["checkpoint"] == "ckpt-000000.036.pt" and best["direction"] == "higher"
    assert [p.name for p in ckpt.list_checkpoints(run_dir)] == ["ckpt-000000.036.pt"]  # the worse ones pruned
    assert ckpt.load_checkpoint(run_dir / "checkpoints" / best["checkpoint"])["best"]["value"] == 3.0


def test_best_metric_with_a_direction_prefix_is_refused_in_one_line(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^trainer.best_metric=max:is50k: the direction comes from the metric.*"
        r"write trainer.best_metric=is50k$",
    ):
        train(tiny_config(f"run_dir={tmp_path / 'a'}", "trainer.best_metric=max:is50k"))
    with pytest.raises(ConfigError, match=r"trainer.best_metric.*no_such_metric"):
        train(tiny_config(f"run_dir={tmp_path / 'b'}", "metrics=[fvd16_2f]", "trainer.best_metric=no_such_metric"))


def test_sigkill_then_resume_continues_from_the_last_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        PYTHON,
        "-m",
        "benchmarks.cli",
        "train",
        *TINY,
        f"run_dir={run_dir}",
        "trainer.total_kimg=10",
        "samples.long_frames=0",
    ]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not ckpt.list_checkpoints(run_dir) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert ckpt.list_checkpoints(run_dir), (
            f"no checkpoint appeared: {proc.stderr.read().decode() if proc.poll() is not None else ''}"
        )
        time.sleep(0.5)  # kill somewhere later in the run, possibly mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "running"
    path, state = ckpt.latest_checkpoint(run_dir)  # every checkpoint under its real name loads
    (run_dir / "checkpoints" / ".ckpt-000000.pt.tmp-999").write_bytes(b"half")  # as if killed mid-write
    saved_kimg, saved_step = state["kimg"], state["step"]
    # rows logged after the checkpoint (the kill can land after a tick) are dropped by the resume
    ticks_before = len([row for row in stats(run_dir) if row["kimg"] <= saved_kimg + 1e-9])

    train(
        tiny_config(
            f"run_dir={run_dir}",
            f"trainer.total_kimg={saved_kimg + 0.012:.3f}",
            "samples.long_frames=0",
            "allow_change=[trainer.total_kimg]",
        )
    )
    log_text = (run_dir / "log.txt").read_text()
    assert f"resumed from {path}" in log_text
    after = stats(run_dir)[ticks_before:]
    assert after[0]["step"] == saved_step + 2 and after[0]["kimg"] == pytest.approx(saved_kimg + 0.012)
    final = torch.load(ckpt.list_checkpoints(run_dir)[-1], weights_only=True)
    assert final["step"] == saved_step + 2
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert "resumed" in json.loads((run_dir / "run.json").read_text())
    assert not list((run_dir / "checkpoints").glob(".*"))  # temp leftovers cleaned


def test_resume_is_exact(tmp_path):
    """Stopped at a checkpoint and resumed, a run ends with the same weights as one that never stopped."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = ("samples.long_frames=0", "samples.videos=1", "trainer.num_workers=0")
    train(tiny_config(f"run_dir={straight}", "trainer.total_kimg=0.024", *common))
    train(tiny_config(f"run_dir={split}", "trainer.total_kimg=0.012", *common))
    # A finished run is extended by naming its checkpoint (resume=auto would see status done and stop).
    train(
        tiny_config(
            f"run_dir={split}",
            "trainer.total_kimg=0.024",
            *common,
            f"resume={split}",
            "allow_change=[trainer.total_kimg]",
        )
    )
    a = torch.load(ckpt.list_checkpoints(straight)[-1], weights_only=True)
    b = torch.load(ckpt.list_checkpoints(split)[-1], weights_only=True)
    assert a["step"] == b["step"] == 4
    for key in ("G", "G_ema"):
        for name in a[key]:
            torch.testing.assert_close(b[key][name], a[key][name], rtol=0, atol=0, msg=f"{key}.{name}")
    for name in a["D"][0]:
        torch.testing.assert_close(b["D"][0][name], a["D"][0][name], rtol=0, atol=0)
    assert a["augment"] == b["augment"]


class NaNAfter(NonSaturatingLoss):
    """Test-only loss: the generator loss becomes NaN from the ``after``-th call on."""

    def __init__(self, after: int = 3):
        self.after, self.calls = after, 0

    def generator(self, fake_logits):
        self.calls += 1
        loss = super().generator(fake_logits)
        return loss * float("nan") if self.calls > self.after else loss


def test_nan_loss_stops_the_run_cleanly_and_keeps_the_last_good_checkpoint(tmp_path, register):
    register(LOSSES, NaNAfter, "test_nan_after")
    run_dir = tmp_path / "run"
    cfg = tiny_config(
        f"run_dir={run_dir}",
        "loss=non_saturating",
        "loss._name_=test_nan_after",
        "+loss.after=2",
        "samples.long_frames=0",
    )
    with pytest.raises(TrainingDiverged, match=r"loss 'loss/G/D' is nan at kimg 0\.024"):
        train(cfg)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and "loss/G/D" in status["error"] and "kimg 0.024" in status["error"]
    paths = ckpt.list_checkpoints(run_dir)
    assert [p.name for p in paths] == ["ckpt-000000.012.pt"]
    good = ckpt.load_checkpoint(paths[0])
    assert good["step"] == 2  # written at the first tick, before the NaN
    assert all(torch.isfinite(v).all() for v in good["G"].values() if v.is_floating_point())


def test_two_gloo_processes_train_one_model(tmp_path):
    run_dir = tmp_path / "run"
    cfg = tiny_config(
        f"run_dir={run_dir}",
        "nproc=2",
        "trainer.batch_size=4",
        "trainer.batch_gpu=2",
        "trainer.total_kimg=0.012",
        "samples.long_frames=0",
    )
    train(cfg)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert json.loads((run_dir / "run.json").read_text())["world_size"] == 2
    state = torch.load(ckpt.list_checkpoints(run_dir)[-1], weights_only=True)
    assert state["nimg"] == 12 and state["world_size"] == 2
    assert len(state["rng"]) == 2  # each rank's RNG streams, for an exact resume
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # per-rank seeds


def test_several_discriminators_train_together_with_their_own_samplers_and_weights(tmp_path):
    run_dir = tmp_path / "run"
    small = "channel_base: 256, channel_max: 16"
    two = (
        f"+discriminator={{discriminators: [{{_name_: stylegan_v, {small}}}, "
        f"{{_name_: stylegan_v, {small}, _sampler_: {{_name_: uniform, num_frames: 2, gap: [1, 2, 4]}}, "
        "_weight_: 0.5, _r1_gamma_: 0}]}"
    )
    no_d = [o for o in TINY if not o.startswith("discriminator.")]
    train(
        tiny_config(
            f"run_dir={run_dir}", "~discriminator", two, "trainer.total_kimg=0.006", "samples.long_frames=0", base=no_d
        )
    )
    record = stats(run_dir)[-1]
    assert {"loss/G/D0", "loss/G/D1", "loss/D/D0", "loss/D/D1", "loss/r1/D0"} <= set(record)
    assert "loss/r1/D1" not in record  # its own R1 gamma: 0
    info = json.loads((run_dir / "run.json").read_text())["components"]
    assert info["discriminator"]["kwargs"]["num_frames"] == 3 and info["discriminator_1"]["kwargs"]["num_frames"] == 2
    assert info["sampler_1"]["name"] == "uniform"
    state = torch.load(ckpt.list_checkpoints(run_dir)[-1], weights_only=True)
    assert len(state["D"]) == len(state["opt_D"]) == 2

    from benchmarks.training.components import discriminator_entries

    with pytest.raises(ConfigError, match="both a list 'discriminators' and single-discriminator keys"):
        discriminator_entries({"_name_": "stylegan_v", "discriminators": [{"_name_": "stylegan_v"}]})


def test_bad_configs_fail_before_training_with_a_reason(tmp_path, register):
    from registry import DISCRIMINATORS
    from registry.interfaces import VideoDiscriminator

    with pytest.raises(ConfigError, match=r"generator.*stylegan_vv.*Did you mean 'stylegan_v'"):
        train(tiny_config(f"run_dir={tmp_path / 'a'}", "generator._name_=stylegan_vv"))

    class DenseD(VideoDiscriminator):
        needs_dense_clips = True

        def __init__(self, resolution: int = 32, num_frames: int = 4, **unused):
            super().__init__()
            self.num_frames = num_frames
            self.fc = torch.nn.Linear(3, 1)

        def forward(self, frames, t):
            return self.fc(frames.mean(dim=(1, 3, 4))).squeeze(1)

    register(DISCRIMINATORS, DenseD, "test_dense_d")

    with pytest.raises(ConfigError, match=r"needs dense clips.*sampler=consecutive"):
        no_d = [o for o in TINY if not o.startswith("discriminator.")]
        train(
            tiny_config(
                f"run_dir={tmp_path / 'b'}",
                "discriminator=stylegan_v",
                "discriminator={_name_: test_dense_d}",
                base=no_d,
            )
        )
    assert json.loads((tmp_path / "b" / "status.json").read_text())["state"] == "failed"

    with pytest.raises(ConfigError, match="metrics.*no_such_metric"):
        train(tiny_config(f"run_dir={tmp_path / 'c'}", "metrics=[no_such_metric]"))

    (tmp_path / "d" / "checkpoints").mkdir(parents=True)
    torch.save({}, tmp_path / "d" / "checkpoints" / "ckpt-000001.pt")
    with pytest.raises(ConfigError, match="already holds checkpoints.*resume=auto"):
        train(tiny_config(f"run_dir={tmp_path / 'd'}", "resume=null"))

    with pytest.raises(ValueError, match="batch_size=3 must be a multiple of trainer.batch_gpu=2"):
        train(tiny_config(f"run_dir={tmp_path / 'e'}", "trainer.batch_size=3"))


@pytest.mark.parametrize("preset", ["trainer=tiny", "experiment=tiny"])
def test_sgvb_train_cfg_job_prints_the_config(preset):
    out = subprocess.run(
        [PYTHON, "-m", "benchmarks.cli", "train", preset, "--cfg", "job"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "total_kimg:" in out.stdout and "_name_: stylegan_v" in out.stdout


def test_cli_errors_are_one_line_and_hydra_writes_only_into_the_run_folder(tmp_path, monkeypatch, capsys):
    """Type errors name key, value and type; a failed run says where its traceback is; nothing lands in the cwd."""
    from benchmarks.cli import main as sgvb

    monkeypatch.chdir(tmp_path)

    def sgvb_train(*args) -> tuple[int, str]:
        try:
            code = sgvb(["train", *args])
        except SystemExit as exc:
            code = exc.code
        return code, capsys.readouterr().err.strip()

    code, err = sgvb_train("experiment=tiny", "trainer.batch_size=abc")
    assert code == 2 and err.count("\n") == 0 and "trainer.batch_size=abc" in err and "Integer" in err, err
    code, err = sgvb_train("generator=stylegan_vv")
    assert code == 2 and err.count("\n") == 0
    assert "config group 'generator' has no option 'stylegan_vv'. Did you mean 'stylegan_v'?" in err

    run_dir = tmp_path / "run"
    args = [*TINY, f"run_dir={run_dir}", "trainer.batch_size=3"]  # not a multiple of batch_gpu: fails at start
    code, err = sgvb_train(*args)
    assert code == 1 and err.count("\n") == 0, err
    assert err.startswith("sgvb train: failed: ValueError: ") and "batch_size=3 must be a multiple" in err
    assert f"(details: {run_dir / 'log.txt'}; SGVB_TRACEBACK=1" in err
    assert "Traceback" in (run_dir / "log.txt").read_text()
    monkeypatch.setenv("SGVB_TRACEBACK", "1")
    code, err = sgvb_train(*args)
    assert code == 1 and "batch_size=3 must be a multiple" in err and err.count("\n") > 2  # the traceback, on request
    assert (run_dir / ".hydra" / "config.yaml").is_file() and not (tmp_path / "runs").exists()


def test_resume_redoes_nothing_and_continues_the_logs_from_the_checkpoint(tmp_path):
    """A checkpoint carries the schedule as it stands after the snapshot it is, so a resume writes no extra
    snapshot; stats.jsonl and TensorBoard continue from the checkpoint's kimg without duplicates."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    common = ("samples.long_frames=0", "samples.videos=1", "trainer.snapshot_kimg=0.024", f"run_dir={run_dir}")
    train(tiny_config(*common, "trainer.total_kimg=0.036"))
    assert [p.name for p in ckpt.list_checkpoints(run_dir)] == ["ckpt-000000.024.pt", "ckpt-000000.036.pt"]
    ckpt.list_checkpoints(run_dir)[-1].unlink()  # as if killed after the tick at 0.036, before its checkpoint
    write_status(run_dir, "running", kimg=0.036)
    with open(run_dir / "stats.jsonl", "a") as f:
        f.write('{"tick": 3, "kimg": 0.04')  # torn by the kill

    train(tiny_config(*common, "trainer.total_kimg=0.048", "allow_change=[trainer.total_kimg]"))
    assert [p.name for p in ckpt.list_checkpoints(run_dir)] == [
        "ckpt-000000.024.pt",
        "ckpt-000000.048.pt",
    ]  # none at 0.036
    assert [r["kimg"] for r in stats(run_dir)] == pytest.approx([0.012, 0.024, 0.036, 0.048])
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert [e.step for e in events.Scalars("loss/G/D")] == [12, 24, 36, 48]


def test_resume_with_a_different_config_is_refused_unless_allowed(tmp_path):
    run_dir = tmp_path / "run"
    common = ("samples.long_frames=0", "samples.videos=1", f"run_dir={run_dir}")
    train(tiny_config(*common, "trainer.total_kimg=0.012"))
    original = (run_dir / "config.yaml").read_text()
    with pytest.raises(
        ConfigError, match=r"trainer\.g_lr: 0\.0025 -> 0\.001.*trainer\.total_kimg: 0\.012 -> 0\.024.*allow_change="
    ):
        train(tiny_config(*common, "trainer.total_kimg=0.024", "trainer.g_lr=0.001", f"resume={run_dir}"))
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"  # a refused resume changes nothing
    info = json.loads((run_dir / "run.json").read_text())
    train(tiny_config(*common, "trainer.total_kimg=0.024", f"resume={run_dir}", "allow_change=[trainer.total_kimg]"))
    after = json.loads((run_dir / "run.json").read_text())
    assert (run_dir / "config.yaml").read_text() == original and after["config_hash"] == info["config_hash"]
    assert after["history"][-1]["changes"] == {"trainer.total_kimg": [0.012, 0.024]}
    # the allowed change is now part of the run: resuming with the same value again needs no opt-in
    write_status(run_dir, "running", kimg=0.024)
    train(tiny_config(*common, "trainer.total_kimg=0.024"))
    assert len(json.loads((run_dir / "run.json").read_text())["history"]) == 1


def test_a_sampler_choice_that_would_be_ignored_is_refused(tmp_path):
    no_d = [o for o in TINY if not o.startswith("discriminator.")]
    cfg = tiny_config(f"run_dir={tmp_path / 'a'}", "discriminator=video3d_small", base=no_d)
    assert cfg.sampler is None  # config.yaml has no top-level sampler; run.json names the discriminator's own
    with pytest.raises(ConfigError, match=r"sampler=sparse_random would be ignored.*video3d.*consecutive"):
        train(
            tiny_config(f"run_dir={tmp_path / 'b'}", "discriminator=video3d_small", "sampler=sparse_random", base=no_d)
        )


def test_one_run_folder_has_one_writer(tmp_path):
    """A second writer fails at once naming the holder; nothing of the folder is touched."""
    import socket

    from benchmarks.records.run_folder import RunFolderBusy, RunLock, lock_holder

    run_dir = tmp_path / "run"
    with RunLock(run_dir):
        holder = lock_holder(run_dir)
        assert f"pid {os.getpid()} on host {socket.gethostname()} (started " in holder
        with pytest.raises(RunFolderBusy, match=rf"in use by pid {os.getpid()} on host .* \(started 20"):
            train(tiny_config(f"run_dir={run_dir}"))
        assert not (run_dir / "status.json").exists()
    assert lock_holder(run_dir) is None


def test_workers_do_not_outlive_a_killed_launcher(tmp_path):
    from benchmarks.records.run_folder import lock_holder

    run_dir = tmp_path / "run"
    args = [
        PYTHON,
        "-m",
        "benchmarks.cli",
        "train",
        *TINY,
        f"run_dir={run_dir}",
        "nproc=2",
        "trainer.batch_size=4",
        "trainer.total_kimg=10",
        "samples.long_frames=0",
    ]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run_dir / "stats.jsonl").is_file() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        workers = [json.loads((run_dir / name).read_text())["pid"] for name in (".lock", ".lock-rank1")]
        assert proc.pid not in workers and lock_holder(run_dir) is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    def alive(pid: int) -> bool:
        try:
            return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return False

    deadline = time.time() + 30
    while (any(alive(pid) for pid in workers) or lock_holder(run_dir) is not None) and time.time() < deadline:
        time.sleep(0.2)  # a zombie leader's other threads may still be exiting, holding the files
    assert not any(alive(pid) for pid in workers)
    assert lock_holder(run_dir) is None
