"""A resume that falls back to an older checkpoint abandons the trajectory past it: its records are marked and
ignored (tables, best.json, the evaluations a resume redoes), its checkpoints are moved aside."""

from __future__ import annotations

import json

import pytest

from benchmarks.records import checkpoint as ckpt
from benchmarks.training.job import train
from metrics.records import mark_abandoned, read_run_metric_records
from registry import METRICS
from tests.test_faults import COMMON, FlakyMetric, Killed
from tests.test_train import tiny_config


@pytest.fixture
def flaky(register):
    FlakyMetric.calls, FlakyMetric.die_at = 0, None
    register(METRICS, lambda: FlakyMetric(), "test_flaky")
    return FlakyMetric


def kimgs(records) -> list[float]:
    return [round(r.kimg, 3) for r in records]


def test_records_and_checkpoints_past_a_fallback_are_abandoned_and_ignored(tmp_path, flaky):
    from benchmarks.tables.runs import read_run

    run_dir = tmp_path / "run"
    cfg = tiny_config(
        f"run_dir={run_dir}",
        *COMMON,
        "trainer.eval_kimg=0.012",
        "trainer.total_kimg=0.048",
        "trainer.keep_checkpoints=0",
        "resume=auto",
    )
    flaky.die_at = 4  # killed in the evaluation at 0.048: records 0.012, 0.024, 0.036
    with pytest.raises(Killed):
        train(cfg)
    assert json.loads((run_dir / "checkpoints" / "best.json").read_text())["kimg"] == 0.036  # "higher" is better
    for name in ("ckpt-000000.036.pt", "ckpt-000000.048.pt"):  # a disk error: resume falls back to 0.024
        (run_dir / "checkpoints" / name).write_bytes(b"garbage")

    flaky.calls, flaky.die_at = 0, 1  # the new trajectory is killed in its first evaluation (its own 0.036)
    with pytest.raises(Killed):
        train(cfg)
    assert kimgs(read_run_metric_records(run_dir)) == [0.012, 0.024]
    every = read_run_metric_records(run_dir, abandoned=True)
    assert kimgs(every) == [0.012, 0.024, 0.036] and every[-1].extra == {"abandoned": True}
    assert sorted(p.name for p in (run_dir / "checkpoints" / "abandoned").iterdir()) == [
        "ckpt-000000.036.pt",
        "ckpt-000000.048.pt",
    ]
    assert json.loads((run_dir / "checkpoints" / "best.json").read_text())["kimg"] == 0.024  # the resumed state's
    assert "the trajectory past it is abandoned: 2 checkpoint(s) moved" in (run_dir / "log.txt").read_text()

    flaky.die_at = None
    train(cfg)  # the new 0.036 gets its own record (the abandoned one does not count for it)
    assert kimgs(read_run_metric_records(run_dir)) == [0.012, 0.024, 0.036, 0.048]
    assert kimgs(read_run(run_dir).records) == [0.012, 0.024, 0.036, 0.048]  # what `sgvb table` reads
    assert [p.name for p in ckpt.list_checkpoints(run_dir)][-1] == "ckpt-000000.048.pt"
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"


def test_marking_keeps_everything_else_of_the_file(tmp_path):
    protocol = {"protocol_id": "x", "protocol_hash": "y", "protocol_version": 1, "stand_in": False}
    lines = [json.dumps({"metric": "m", "value": float(k), "kimg": k / 1000, "protocol": protocol}) for k in (4, 8, 12)]
    lines.insert(2, '{"metric": "m", "val')  # a torn line stays as it was
    path = tmp_path / "metric-m.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert mark_abandoned(tmp_path, 0.008) == 1
    assert mark_abandoned(tmp_path, 0.008) == 0  # already marked
    after = path.read_text().splitlines()
    assert after[:3] == lines[:3]
    assert json.loads(after[3]) == {**json.loads(lines[3]), "abandoned": True}
    with pytest.warns(UserWarning, match="torn write"):
        assert kimgs(read_run_metric_records(tmp_path)) == [0.004, 0.008]
