"""``metric-<name>.jsonl``: ``metrics.records`` is the format's one owner, with one writer and one reader."""

import json
import warnings

import pytest

from metrics import evaluate
from metrics.records import MetricRecord, MetricRecordError, append_metric_record, metric_file, read_metric_records
from metrics.testing import ArrayVideoDataset, TinyVideoGenerator, moving_blobs

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


def _dataset(n, seed=0):
    return ArrayVideoDataset([moving_blobs(1, 8, 16, seed=seed * 1000 + i)[0] for i in range(n)])


@pytest.fixture
def written(tmp_path, video_detector):
    """A real record, as ``metrics.evaluate`` writes it, and its run folder."""
    record = evaluate(
        "fvd4_8f",
        fake=_dataset(4, seed=2),
        real=_dataset(4, seed=1),
        run_dir=tmp_path,
        detector_path=video_detector,
        cache_dir=tmp_path / "cache",
        kimg=2.5,
        checkpoint="checkpoints/ckpt-000002.pt",
        num_runs=2,
    )
    return record, tmp_path


def test_the_reader_returns_what_the_writer_wrote(written):
    returned, run_dir = written
    (record,) = read_metric_records(metric_file(run_dir, "fvd4_8f"))
    assert isinstance(record, MetricRecord)
    assert record.to_json() == json.loads(json.dumps(returned))  # the file holds exactly what evaluate returned
    assert list(record.to_json()) == list(returned)  # in the writer's key order
    assert (record.metric, record.value, record.kimg) == ("fvd4_8f", returned["value"], 2.5)
    assert record.checkpoint == returned["checkpoint"] == "checkpoints/ckpt-000002.pt"
    assert record.protocol_id == returned["protocol"]["protocol_id"] and len(record.protocol_hash) == 16
    from metrics.fvd import FVD

    assert record.protocol_version == FVD.PROTOCOL_VERSION and record.stand_in is False and not record.short_count
    assert record.value_std == returned["value_std"] and len(record.runs) == 2


@pytest.mark.parametrize(
    "change, lacks",
    [
        (lambda r: r.pop("value"), "value (a number)"),
        (lambda r: r.update(value="12.5"), "value (a number)"),
        (lambda r: r.pop("protocol"), "protocol (with protocol_id, protocol_hash, protocol_version, stand_in)"),
        (lambda r: r["protocol"].pop("protocol_id"), "protocol.protocol_id"),
        (lambda r: r["protocol"].pop("protocol_hash"), "protocol.protocol_hash"),
        (lambda r: r["protocol"].pop("stand_in"), "protocol.stand_in (true or false)"),
        (
            lambda r: r.update(kimg=None, checkpoint=None, protocol={**r["protocol"], "fake_source": "generator"}),
            "kimg or checkpoint (the snapshot measured)",
        ),
    ],
)
def test_a_line_lacking_what_a_record_requires_is_refused_with_one_warning_naming_file_and_line(written, change, lacks):
    returned, run_dir = written
    path = metric_file(run_dir, "fvd4_8f")
    bad = json.loads(json.dumps(returned))
    change(bad)
    with open(path, "a") as handle:
        handle.write(json.dumps(bad) + "\n")
        handle.write(json.dumps(dict(returned, kimg=5.0)) + "\n")
    with pytest.warns(UserWarning) as caught:
        records = read_metric_records(path)
    assert [str(w.message) for w in caught] == [f"{path}:2: not a metric record, skipped: lacks {lacks}"]
    assert [r.kimg for r in records] == [2.5, 5.0]


def test_a_record_of_a_folder_of_videos_needs_no_snapshot(tmp_path, video_detector):
    evaluate(
        "fvd4_8f",
        fake=_dataset(4, seed=2),
        real=_dataset(4, seed=1),
        run_dir=tmp_path,
        detector_path=video_detector,
        cache_dir=tmp_path / "cache",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (record,) = read_metric_records(metric_file(tmp_path, "fvd4_8f"))
    assert record.kimg is None and record.checkpoint is None and record.protocol["fake_source"] == "videos"


def test_the_writer_refuses_what_the_reader_would_refuse(tmp_path, video_detector):
    protocol = {"protocol_id": "x/v1", "protocol_hash": "0123456789abcdef", "protocol_version": 1}
    with pytest.raises(MetricRecordError, match=r"lacks protocol.stand_in"):
        MetricRecord(metric="x", value=1.0, results={"x": 1.0}, protocol=protocol, kimg=1.0)
    snapshotless = MetricRecord(metric="x", value=1.0, results={"x": 1.0}, protocol={**protocol, "stand_in": False})
    with pytest.raises(MetricRecordError, match=r"lacks kimg or checkpoint"):
        append_metric_record(tmp_path, snapshotless)
    assert not metric_file(tmp_path, "x").exists()
    # a generator's evaluation into a run folder must name its snapshot: refused before anything is computed
    with pytest.raises(ValueError, match="give kimg or checkpoint"):
        evaluate(
            "fvd4_8f",
            fake=TinyVideoGenerator(resolution=16),
            real=_dataset(4),
            run_dir=tmp_path,
            detector_path=video_detector,
        )
