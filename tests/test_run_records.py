"""Run-folder records (``benchmarks.records.run_records``): one writer and one reader per format; a reader refuses a
record that lacks what its format requires, with one warning naming the file and the missing keys."""

from __future__ import annotations

import json
import warnings

import pytest

from benchmarks.records import run_records as records
from benchmarks.training.snapshots import BestCheckpoint


def refused(read, run_dir) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = read(run_dir)
    return value, [str(w.message) for w in caught if issubclass(w.category, records.RunRecordWarning)]


def test_records_round_trip_through_their_writer_and_reader(tmp_path):
    info = records.RunInfo(seed=3, config_hash="abc", components={"generator": {"name": "stylegan_v"}}, world_size=2)
    records.write_run_info(tmp_path, info)
    assert records.read_run_info(tmp_path) == info
    plain = json.loads((tmp_path / records.RUN_INFO).read_text())
    assert plain == info.as_dict() and "history" not in plain and "init_from" not in plain  # empty parts left out

    records.write_status(tmp_path, "failed", kimg=1.23456789, error="boom")
    status = records.read_status(tmp_path)
    assert (status.state, status.kimg, status.error) == ("failed", 1.234568, "boom") and status.updated
    with pytest.raises(ValueError, match="run state must be one of"):
        records.write_status(tmp_path, "paused", kimg=0)

    best = records.Best(metric="is50k", value=9.5, kimg=2.0, checkpoint="ckpt-000002.000.pt", direction="higher")
    records.write_best(tmp_path, best)
    assert records.read_best(tmp_path) == best and (tmp_path / "checkpoints" / "best.json").is_file()

    records.write_config(tmp_path, "seed: 3\ntrainer:\n  g_lr: 0.0025\n")
    assert records.read_config(tmp_path) == {"seed": 3, "trainer": {"g_lr": 0.0025}}


def test_missing_records_read_as_nothing_without_a_warning(tmp_path):
    for read in (records.read_run_info, records.read_status, records.read_best):
        assert refused(read, tmp_path) == (None, [])
    assert refused(records.read_config, tmp_path) == ({}, [])
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 1\n")  # a run that failed before writing config.yaml
    assert records.read_config(tmp_path) == {"seed": 1}


@pytest.mark.parametrize(
    "name, read, content, says",
    [
        ("run.json", records.read_run_info, {"seed": 0, "dataset": "synthetic"}, "lacks 'config_hash', 'components'"),
        ("status.json", records.read_status, {"state": "done", "error": None}, "lacks 'kimg'"),
        ("status.json", records.read_status, {"state": "paused", "kimg": 1.0}, "state 'paused' is not one of running"),
        (
            "checkpoints/best.json",
            records.read_best,
            {"metric": "fvd", "value": 1.0, "kimg": 1.0},
            "lacks 'checkpoint'",
        ),
        ("run.json", records.read_run_info, [1, 2], "expected a JSON object, got list"),
    ],
)
def test_a_record_lacking_what_its_format_requires_is_refused_with_one_warning(tmp_path, name, read, content, says):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    value, messages = refused(read, tmp_path)
    assert value is None and len(messages) == 1, messages
    assert messages[0].startswith(f"skipping {path}: ") and says in messages[0], messages


def test_a_torn_record_is_refused_naming_the_file(tmp_path):
    (tmp_path / "status.json").write_text('{"state": "running", "ki')
    value, messages = refused(records.read_status, tmp_path)
    assert value is None and len(messages) == 1
    assert messages[0].startswith(f"skipping {tmp_path / 'status.json'}: unreadable")


def test_best_checkpoint_follows_the_metrics_direction():
    """Rising values of a higher-is-better metric move the best; falling ones do not (and the reverse for lower)."""

    def track(direction: str, values: list[float]) -> str:
        best = BestCheckpoint("m", direction)
        for i, value in enumerate(values):
            best.offer({"metric": "m", "value": value}, kimg=float(i), checkpoint=f"ckpt-{i}.pt")
        return best.best.checkpoint

    assert track("higher", [1.0, 2.0, 3.0]) == "ckpt-2.pt"
    assert track("higher", [3.0, 2.0, 1.0]) == "ckpt-0.pt"
    assert track("lower", [1.0, 2.0, 3.0]) == "ckpt-0.pt"
    assert track("lower", [3.0, float("nan"), 1.0]) == "ckpt-2.pt"  # a non-finite value is never the best
    best = BestCheckpoint("m", "higher")
    assert not best.offer({"metric": "other", "value": 5.0}, kimg=1.0, checkpoint="c.pt") and best.best is None
    assert BestCheckpoint.for_run("is50k", ["is50k"]).direction == "higher"
    assert BestCheckpoint.for_run("fvd2048_16f", ["fvd2048_16f"]).direction == "lower"
    assert BestCheckpoint.for_run("is50k", []).metric is None  # nothing evaluated: nothing tracked
