"""The metric record: the one owner of ``<run_dir>/metric-<name>.jsonl``, with its one writer and its one reader.

Every evaluation appends one JSON line (the StyleGAN2-ADA habit: any snapshot can be re-evaluated later and
results never live only in a log):

    {"metric": "fvd2048_16f", "value": 91.3, "results": {"fvd2048_16f": 91.3},
     "protocol": {"protocol_id": "fvd2048_16f/v1/default/i3d-1a2b3c4d/256px", "protocol_hash": "<16 hex>",
                  "protocol_version": 1, "stand_in": false, "counts": {...}, "fake_source": "generator", ...},
     "kimg": 1200.0, "checkpoint": "checkpoints/ckpt-001200.pt", "wall_time_s": 412.0, "versions": {...},
     "timestamp": "...", "real_fingerprint": "...", ["value_std", "runs"] (num_runs > 1), ["artifacts"]}

``metrics.evaluate`` builds a ``MetricRecord`` and appends it with ``append_metric_record``; ``sgvb table``
and ``sgvb grid`` read the files back with ``read_run_metric_records``, which skips records marked
``"abandoned": true`` (``mark_abandoned``: past the checkpoint a resume fell back to). The protocol id is the one that
``metrics.protocol.protocol_identity`` wrote; nothing derives another. A line that does not say what the
owner requires (a numeric ``value``, a ``protocol`` with its id, hash, version and stand-in flag, and the
``kimg`` or ``checkpoint`` measured, which only a folder of generated videos lacks) is refused with one
warning naming the file and line: a hand-edited ``{"metric": ..., "value": 1e309}`` never becomes a result.

No torch here (``sgvb table`` reads records without it). Importing it runs ``metrics/__init__``, which
registers every metric and imports torch, so torch-free callers import this module where they read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.files import append_whole

__all__ = [
    "METRIC_FILE_GLOB",
    "MetricRecord",
    "MetricRecordError",
    "append_metric_record",
    "is_abandoned",
    "mark_abandoned",
    "metric_file",
    "metric_files",
    "missing_fields",
    "read_metric_records",
    "read_run_metric_records",
]

METRIC_FILE_GLOB = "metric-*.jsonl"
# what every record's protocol carries besides the metric's own fields (``protocol_identity``, the stand-in flag)
REQUIRED_PROTOCOL_FIELDS = ("protocol_id", "protocol_hash", "protocol_version", "stand_in")
# the top-level keys in the order the writer puts them; optional ones only when set
_KEYS = (
    "metric",
    "value",
    "results",
    "protocol",
    "kimg",
    "checkpoint",
    "wall_time_s",
    "versions",
    "timestamp",
    "real_fingerprint",
    "value_std",
    "runs",
    "artifacts",
)
_OPTIONAL_KEYS = ("value_std", "runs", "artifacts")


class MetricRecordError(ValueError):
    """A metric record lacks what its owner requires (the message lists what)."""


def metric_file(run_dir: str | os.PathLike, metric: str) -> Path:
    """``<run_dir>/metric-<metric>.jsonl``."""
    return Path(run_dir) / f"metric-{metric}.jsonl"


def metric_files(run_dir: str | os.PathLike) -> list[Path]:
    """The metric files of a run folder, sorted by name."""
    return sorted(p for p in Path(run_dir).glob(METRIC_FILE_GLOB) if p.is_file())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class MetricRecord:
    """One evaluation of one metric: its number, how it was measured (``protocol``) and what was measured.

    ``protocol`` is the full dict the metric and ``metrics.evaluate`` wrote (counts, detector, mode, seed...);
    the properties name the fields every record has. ``extra`` keeps top-level keys this version does not
    know, so a record read and written again loses nothing.
    """

    metric: str
    value: float
    results: dict[str, float]
    protocol: dict[str, Any]
    kimg: float | None = None
    checkpoint: str | None = None
    wall_time_s: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    timestamp: str | None = None
    real_fingerprint: str | None = None
    value_std: float | None = None  # population std over the runs (num_runs > 1)
    runs: list[dict[str, Any]] | None = None  # each run's seed, value and results (num_runs > 1)
    artifacts: dict[str, str] | None = None  # files the metric wrote, relative to the run folder
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = missing_fields(self.to_json(), snapshot=False)  # evaluate() without run_dir may measure no snapshot
        if missing:
            raise MetricRecordError(f"metric record of '{self.metric}' lacks {', '.join(missing)}")

    @property
    def protocol_id(self) -> str:
        return str(self.protocol["protocol_id"])

    @property
    def protocol_hash(self) -> str:
        return str(self.protocol["protocol_hash"])

    @property
    def protocol_version(self) -> int:
        return int(self.protocol["protocol_version"])

    @property
    def stand_in(self) -> bool:
        """Measured with untrained stand-in detectors: comparable only with other stand-in numbers."""
        return bool(self.protocol["stand_in"])

    @property
    def short_count(self) -> bool:
        """Computed on fewer items than the metric's name states (``protocol.counts``, ``fewer_than_name``)."""
        counts = self.protocol.get("counts") or {}
        fewer = any(isinstance(c, Mapping) and c.get("used", 0) < c.get("requested", 0) for c in counts.values())
        return bool(fewer or self.protocol.get("fewer_than_name"))

    def to_json(self) -> dict[str, Any]:
        """The JSON object as written: keys in the writer's order, the optional ones only when set."""
        out = {key: getattr(self, key) for key in _KEYS if key not in _OPTIONAL_KEYS or getattr(self, key) is not None}
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "MetricRecord":
        """The record of a parsed JSON object; ``MetricRecordError`` says what it lacks."""
        if not isinstance(data, Mapping):
            raise MetricRecordError(f"expected a JSON object, got {type(data).__name__}")
        missing = missing_fields(data)
        if missing:
            raise MetricRecordError(f"lacks {', '.join(missing)}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {key: value for key, value in data.items() if key in names}
        known.setdefault("results", {data["metric"]: data["value"]})  # the headline is the only result
        return cls(**known, extra={key: value for key, value in data.items() if key not in names})


def missing_fields(data: Mapping[str, Any], *, snapshot: bool = True) -> list[str]:
    """What the owner requires that the JSON form of a record lacks (empty when it is complete).

    ``snapshot``: also require the ``kimg`` or ``checkpoint`` measured, as every record in a metric file must
    (only a folder of generated videos, ``protocol.fake_source == "videos"``, has neither).
    """
    out = []
    if not isinstance(data.get("metric"), str) or not data["metric"]:
        out.append("metric (a name)")
    if not _is_number(data.get("value")):
        out.append("value (a number)")
    if "results" in data and not isinstance(data["results"], Mapping):
        out.append("results (keys to numbers)")
    protocol = data.get("protocol")
    if not isinstance(protocol, Mapping):
        out.append("protocol (with " + ", ".join(REQUIRED_PROTOCOL_FIELDS) + ")")
    else:
        out += _missing_protocol_fields(protocol)
    kimg, checkpoint = data.get("kimg"), data.get("checkpoint")
    if kimg is not None and not _is_number(kimg):
        out.append("kimg (a number)")
    if checkpoint is not None and not isinstance(checkpoint, str):
        out.append("checkpoint (a path)")
    videos = isinstance(protocol, Mapping) and protocol.get("fake_source") == "videos"  # a folder has no snapshot
    if snapshot and kimg is None and checkpoint is None and not videos:
        out.append("kimg or checkpoint (the snapshot measured)")
    return out


def _missing_protocol_fields(protocol: Mapping[str, Any]) -> list[str]:
    out = [
        f"protocol.{key}"
        for key in ("protocol_id", "protocol_hash")
        if not isinstance(protocol.get(key), str) or not protocol[key]
    ]
    if not _is_number(protocol.get("protocol_version")):
        out.append("protocol.protocol_version")
    if not isinstance(protocol.get("stand_in"), bool):
        out.append("protocol.stand_in (true or false)")
    return out


# ----------------------------------------------------------------------------------------------- writer
def append_metric_record(run_dir: str | os.PathLike, record: MetricRecord) -> Path:
    """Append ``record`` to ``<run_dir>/metric-<name>.jsonl`` atomically and return the file.

    The whole line on an O_APPEND descriptor under an exclusive lock (``registry.files.append_whole``):
    concurrent writers never interleave, a short write is continued, a failing one (a full disk) truncates the
    file back and raises naming it, and a killed writer leaves at most a torn last line, which the reader skips.
    """
    missing = missing_fields(record.to_json())
    if missing:  # what the reader would refuse is never written
        raise MetricRecordError(f"metric record of '{record.metric}' lacks {', '.join(missing)}")
    path = metric_file(run_dir, record.metric)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record.to_json(), sort_keys=False, default=_json_default) + "\n").encode()
    return append_whole(path, line)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy and torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ----------------------------------------------------------------------------------------------- reader
def read_metric_records(path: str | os.PathLike) -> list[MetricRecord]:
    """The records of one metric file, in file order; every line that is not a complete record is skipped
    with one warning naming ``<file>:<line>`` and what it lacks.

    A run killed mid-append leaves a torn line, and the next append continues on that same line: the
    complete record after the torn part is recovered, the torn part skipped.
    """
    path = Path(path)
    decoder = json.JSONDecoder()
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        pos, torn = 0, False
        while pos < len(line):
            start = line.find("{", pos)
            if start < 0:
                torn = torn or bool(line[pos:].strip())
                break
            torn = torn or bool(line[pos:start].strip())
            try:
                data, end = decoder.raw_decode(line, start)
            except json.JSONDecodeError:
                torn, pos = True, start + 1
                continue
            pos = end
            try:
                records.append(MetricRecord.from_json(data))
            except MetricRecordError as exc:
                warnings.warn(f"{path}:{number}: not a metric record, skipped: {exc}", stacklevel=2)
        if torn:
            warnings.warn(f"skipping unreadable part of line {number} of {path} (a torn write)", stacklevel=2)
    return records


def read_run_metric_records(run_dir: str | os.PathLike, *, abandoned: bool = False) -> list[MetricRecord]:
    """Every record of a run folder: its metric files in name order, each in file order. Records of a trajectory
    that a resume abandoned (``mark_abandoned``) are left out unless ``abandoned``."""
    records = [record for path in metric_files(run_dir) for record in read_metric_records(path)]
    return records if abandoned else [r for r in records if not is_abandoned(r)]


# ----------------------------------------------------------------------------------------------- abandoned
def is_abandoned(record: MetricRecord) -> bool:
    """Measured on a training trajectory that a resume from an earlier checkpoint abandoned (``"abandoned": true``)."""
    return record.extra.get("abandoned") is True


def mark_abandoned(run_dir: str | os.PathLike, after_kimg: float) -> int:
    """Mark every record past ``after_kimg`` (``"abandoned": true``; nothing else changes) and return how many.

    A resume from the checkpoint at ``after_kimg`` (the newer ones unreadable, or an older one chosen) trains a new
    trajectory: the records past it measured states that no longer exist, and the new trajectory's checkpoints reuse
    their names. Marked, readers skip them (tables, best checkpoint, the evaluations a resume redoes) and they stay
    in the file as history. Each file is replaced whole (``atomic_write_text``); torn lines stay as they were.
    """
    from registry.files import atomic_write_text

    limit, marked = round(float(after_kimg) * 1000), 0
    for path in metric_files(run_dir):
        lines, changed = path.read_text().splitlines(), 0
        for i, line in enumerate(lines):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            kimg = data.get("kimg") if isinstance(data, dict) else None
            if _is_number(kimg) and round(kimg * 1000) > limit and data.get("abandoned") is not True:
                lines[i], changed = json.dumps({**data, "abandoned": True}), changed + 1
        if changed:
            atomic_write_text(path, "".join(f"{line}\n" for line in lines))
            marked += changed
    return marked
