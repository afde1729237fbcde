"""Fault injection: evaluations interrupted and redone on resume, pruning that keeps unevaluated checkpoints, the table
that flags an unevaluated final checkpoint."""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import pytest
import torch

from benchmarks.records import checkpoint as ckpt
from benchmarks.training.job import train
from registry import METRICS
from tests.test_train import tiny_config

COMMON = ("samples.long_frames=0", "samples.videos=1", "metrics=[test_flaky]", "trainer.best_metric=test_flaky")


class Killed(BaseException):
    """Stands for a kill in the middle of an evaluation (nothing after it runs, no record is written)."""


class FlakyMetric:
    """Its value is the sum of the generator's weights; it dies on the call numbered ``die_at``."""

    name = "test_flaky"
    direction = "higher"
    calls = 0
    die_at: int | None = None

    def compute(self, ctx, fake, real):
        from metrics.base import MetricOutput

        FlakyMetric.calls += 1
        if FlakyMetric.calls == FlakyMetric.die_at:
            raise Killed()
        value = float(sum(v.double().sum() for v in fake.state_dict().values() if v.is_floating_point()))
        return MetricOutput(value=value, results={self.name: value}, protocol={"num_fake": 1, "stand_in": False})


@pytest.fixture
def flaky(register):
    FlakyMetric.calls, FlakyMetric.die_at = 0, None
    register(METRICS, lambda: FlakyMetric(), "test_flaky")
    return FlakyMetric


def recorded_kimgs(run_dir) -> list[float]:
    lines = (run_dir / "metric-test_flaky.jsonl").read_text().splitlines()
    return [round(json.loads(line)["kimg"], 3) for line in lines]


def test_a_final_evaluation_killed_is_redone_on_resume_and_only_then_the_run_is_done(tmp_path, flaky):
    run_dir = tmp_path / "run"
    cfg = tiny_config(f"run_dir={run_dir}", *COMMON, "trainer.eval_kimg=0.012", "resume=auto")
    flaky.die_at = 2  # the evaluation of the final checkpoint (kimg 0.024)
    with pytest.raises(Killed):
        train(cfg)
    assert recorded_kimgs(run_dir) == [0.012]
    assert (run_dir / "checkpoints" / "ckpt-000000.024.pt").is_file()
    assert json.loads((run_dir / "status.json").read_text())["state"] != "done"

    train(cfg)  # the same command again
    assert recorded_kimgs(run_dir) == [0.012, 0.024]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert "ckpt-000000.024.pt has no record of test_flaky" in (run_dir / "log.txt").read_text()
    # the record's value is the final checkpoint's generator (not the one of another state)
    state = torch.load(run_dir / "checkpoints" / "ckpt-000000.024.pt", weights_only=True)
    first = sum(v.double().sum() for v in state["G_ema"].values() if v.is_floating_point()).item()
    last = json.loads((run_dir / "metric-test_flaky.jsonl").read_text().splitlines()[-1])
    assert last["value"] == pytest.approx(first)
    assert last["checkpoint"] == "checkpoints/ckpt-000000.024.pt"  # relative: true when the folder moves
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    assert best["kimg"] in (0.012, 0.024)


def test_a_periodic_evaluation_killed_is_redone_before_pruning_can_delete_its_checkpoint(tmp_path, flaky):
    run_dir = tmp_path / "run"
    cfg = tiny_config(
        f"run_dir={run_dir}",
        *COMMON,
        "trainer.eval_kimg=0.012",
        "trainer.total_kimg=0.048",
        "trainer.keep_checkpoints=1",
        "trainer.best_metric=null",
        "resume=auto",
    )
    flaky.die_at = 2  # the evaluation at kimg 0.024
    with pytest.raises(Killed):
        train(cfg)
    train(cfg)
    assert recorded_kimgs(run_dir) == [0.012, 0.024, 0.036, 0.048]
    assert [p.name for p in ckpt.list_checkpoints(run_dir)] == ["ckpt-000000.048.pt"]


def test_pruning_keeps_a_checkpoint_whose_evaluation_is_missing(tmp_path, flaky):
    from benchmarks.records.run_folder import RunFolder
    from benchmarks.training.snapshots import Snapshots

    cfg = tiny_config(f"run_dir={tmp_path}", *COMMON, "trainer.keep_checkpoints=1")
    run = RunFolder(tmp_path, writer=True)
    snaps = Snapshots(run=run, trainer=cfg.trainer, samples=cfg.samples, evaluation=cfg.evaluation, seed=0)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    for kimg in (0.012, 0.024, 0.036):
        (run.checkpoints / ckpt.checkpoint_name(kimg)).write_bytes(b"x")
    snaps.eval_kimgs = [0.012, 0.024]  # both were evaluation snapshots; only 0.012 has its record
    (tmp_path / "metric-test_flaky.jsonl").write_text(
        json.dumps(
            {
                "metric": "test_flaky",
                "value": 1.0,
                "kimg": 0.012,
                "checkpoint": "checkpoints/ckpt-000000.012.pt",
                "protocol": {"protocol_id": "x", "protocol_hash": "y", "protocol_version": 1, "stand_in": False},
            }
        )
        + "\n"
    )
    assert snaps.missing_evaluations() == {"ckpt-000000.024.pt": ["test_flaky"]}
    ckpt.prune_checkpoints(tmp_path, 1, snaps.protected())
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["ckpt-000000.024.pt", "ckpt-000000.036.pt"]
    run.close()


def test_the_table_flags_a_done_run_whose_final_checkpoint_has_no_record(tmp_path, flaky):
    from benchmarks.records.run_records import write_status
    from benchmarks.tables.runs import read_run

    run_dir = tmp_path / "run"
    train(tiny_config(f"run_dir={run_dir}", *COMMON, "trainer.eval_kimg=0.012"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_run(run_dir)  # complete: no warning
    lines = (run_dir / "metric-test_flaky.jsonl").read_text().splitlines()
    (run_dir / "metric-test_flaky.jsonl").write_text(lines[0] + "\n")  # as a run ended by the old code
    write_status(run_dir, "done", kimg=0.024)
    with pytest.warns(UserWarning, match=r"final checkpoint \(kimg 0.024\) has no record of test_flaky"):
        read_run(run_dir)


# ----------------------------------------------------------------------------------------------- full disks
def a_record(value: float = 1.0, kimg: float = 0.012):
    from metrics.records import MetricRecord

    protocol = {"protocol_id": "x", "protocol_hash": "y", "protocol_version": 1, "stand_in": False}
    return MetricRecord(metric="m", value=value, results={"m": value}, protocol=protocol, kimg=kimg)


def test_a_short_os_write_is_continued(tmp_path, monkeypatch):
    from metrics.records import append_metric_record, read_metric_records

    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))  # 7 bytes at a time
    append_metric_record(tmp_path, a_record(1.0))
    append_metric_record(tmp_path, a_record(2.0))
    monkeypatch.undo()
    assert [r.value for r in read_metric_records(tmp_path / "metric-m.jsonl")] == [1.0, 2.0]


def test_a_full_disk_leaves_no_fragment_and_names_the_file(tmp_path, monkeypatch):
    from metrics.records import append_metric_record, read_metric_records

    append_metric_record(tmp_path, a_record(1.0))
    before = (tmp_path / "metric-m.jsonl").read_bytes()
    real_write, calls = os.write, []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:29]))  # the fragment the issue saw
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError) as caught:
        append_metric_record(tmp_path, a_record(2.0))
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "metric-m.jsonl")
    assert (tmp_path / "metric-m.jsonl").read_bytes() == before  # truncated back
    append_metric_record(tmp_path, a_record(3.0))  # the next record is not glued onto a fragment
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r.value for r in read_metric_records(tmp_path / "metric-m.jsonl")] == [1.0, 3.0]


def test_an_atomic_write_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    from registry import files
    from registry.files import atomic_write_text

    target = tmp_path / "out.json"
    target.write_text("old")

    class FullDisk(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "open", lambda path, mode: FullDisk(), raising=False)
    with pytest.raises(OSError) as caught:
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert caught.value.filename == str(target) and target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def read_only(folder, monkeypatch) -> None:
    """Make ``folder`` read-only; as root (where chmod does not stop writes) creating files in it fails instead."""
    folder.chmod(0o555)
    probe = folder / ".probe"
    try:
        probe.write_text("")
    except OSError:
        return
    probe.unlink()
    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_check_writable_names_a_read_only_folder(tmp_path, monkeypatch):
    from registry.files import check_writable

    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(folder, monkeypatch)
    try:
        with pytest.raises(OSError) as caught:
            check_writable(folder / "not-yet" / "deeper")
        assert caught.value.filename == str(folder) and caught.value.errno in (errno.EROFS, errno.EACCES)
        (tmp_path / "a-file").write_text("")
        with pytest.raises(NotADirectoryError, match="not a folder"):
            check_writable(tmp_path / "a-file")
    finally:
        folder.chmod(0o755)


def test_every_command_reports_a_disk_error_in_one_line(tmp_path, capsys):
    from benchmarks.errors import EXIT_CODE, one_line_errors

    with pytest.raises(SystemExit) as caught:
        with one_line_errors("eval", known=(ValueError,), log_dir=tmp_path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "metric-x.jsonl"))
    assert caught.value.code == EXIT_CODE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"cannot write {tmp_path / 'metric-x.jsonl'}: No space left on device (ENOSPC)" in err[0]
    with pytest.raises(OSError, match="Connection"):  # other OS errors keep their traceback
        with one_line_errors("eval", known=(ValueError,), log_dir=tmp_path):
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset")


def test_eval_and_stats_check_their_output_folder_before_computing(tmp_path, monkeypatch):
    import metrics
    import metrics.evaluation
    from benchmarks.commands import evaluate as eval_command
    from benchmarks.commands import stats as stats_command
    from benchmarks.config.commands import EvalConfig, FakeSource, StatsConfig
    from tests.test_checkpoint import write_generator_checkpoint

    def never(*args, **kwargs):
        raise AssertionError("computed before the output folder was checked")

    monkeypatch.setattr(metrics, "evaluate", never)
    monkeypatch.setattr(metrics.evaluation, "reference_statistics", never)
    run_dir = tmp_path / "run"
    ckpt_path, _ = write_generator_checkpoint(run_dir / "checkpoints" / "ckpt-000003.pt", kimg=3.0)
    read_only(run_dir, monkeypatch)
    try:
        settings = EvalConfig(
            metrics=["fvd8_16f"],
            fake=FakeSource(checkpoint=str(ckpt_path)),
            dataset={"_name_": "synthetic"},
            device="cpu",
            allow_stand_in_detectors=True,
        )
        with pytest.raises(OSError) as caught:
            eval_command.run(settings)
        assert caught.value.filename == str(run_dir)
        stats = StatsConfig(metric="fvd8_16f", out=str(run_dir / "real.npz"), dataset={"_name_": "synthetic"})
        with pytest.raises(OSError) as caught:
            stats_command.run(stats)
        assert caught.value.filename == str(run_dir)
    finally:
        run_dir.chmod(0o755)


def test_sigterm_in_a_command_undoes_the_half_written_record_and_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    """`sgvb eval` killed by SIGTERM in the middle of appending its record: no fragment, one line, 143."""
    import signal

    from benchmarks.errors import one_line_errors
    from metrics.records import append_metric_record, read_metric_records

    append_metric_record(tmp_path, a_record(1.0))
    before = (tmp_path / "metric-m.jsonl").read_bytes()
    real_write = os.write

    def write_then_sigterm(fd, data):
        written = real_write(fd, bytes(data[:20]))
        os.kill(os.getpid(), signal.SIGTERM)  # arrives between two writes of the same record
        return written

    with pytest.raises(SystemExit) as caught:
        with one_line_errors("eval", known=(ValueError,)):
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # (else the kill would end the tests)
            monkeypatch.setattr(os, "write", write_then_sigterm)
            append_metric_record(tmp_path, a_record(2.0))
    monkeypatch.undo()
    assert caught.value.code == 128 + signal.SIGTERM
    assert (tmp_path / "metric-m.jsonl").read_bytes() == before
    assert [r.value for r in read_metric_records(tmp_path / "metric-m.jsonl")] == [1.0]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sgvb eval: interrupted: stopped by SIGTERM; nothing half-written was kept"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_checkpoint_on_a_disk_that_fills_up_names_the_file(tmp_path, monkeypatch):
    """torch.save reports a failed write as ``RuntimeError: unexpected pos``; the error names the file and the OS."""
    from benchmarks.records.checkpoint import save_checkpoint
    from registry import files

    real_open = open

    class FillsUp(io.RawIOBase):
        def __init__(self, path):
            self.handle, self.room = real_open(path, "wb"), 4000

        def writable(self):
            return True

        def write(self, data):
            if len(data) > self.room:
                self.handle.write(bytes(data[: self.room]))
                self.room = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= len(data)
            return self.handle.write(data)

        def close(self):
            self.handle.close()
            super().close()

    monkeypatch.setattr(files, "open", lambda path, mode: FillsUp(path), raising=False)
    target = tmp_path / "checkpoints" / "ckpt-000000.012.pt"
    with pytest.raises(OSError) as caught:
        save_checkpoint(target, {"G": {"w": torch.zeros(100_000)}})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert list((tmp_path / "checkpoints").iterdir()) == []
