"""The records of a run folder: their file names, and one typed record, one writer and one reader per format.

    config.yaml            the composed config of the first start            read_config / write_config
    run.json               provenance (``RunInfo``)                           read_run_info / write_run_info
    status.json            where the run stands (``Status``)                  read_status / write_status
    checkpoints/best.json  the best evaluation so far (``Best``)              read_best / write_best

Everything else in the package (training, ``sgvb table``, ``sgvb grid``, ``init_from``) goes through these
functions, so a format changes in one place. A reader returns None for a missing file; for a file that is
unreadable or lacks what its record requires it warns once (``RunRecordWarning``, naming the file and the
missing keys) and returns None, rather than guessing. Writers are atomic (``registry.files``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.files import atomic_write_json, atomic_write_text

CONFIG, RUN_INFO, STATUS, STATS = "config.yaml", "run.json", "status.json", "stats.jsonl"
LOG = "log.txt"  # the console log, and the traceback of a failed run
CHECKPOINTS = "checkpoints"
BEST = f"{CHECKPOINTS}/best.json"
HYDRA_CONFIG = ".hydra/config.yaml"  # Hydra's copy: all a job that failed before writing config.yaml has
STATES = ("running", "done", "failed", "interrupted")  # interrupted: stopped by a signal with a checkpoint


class RunRecordWarning(UserWarning):
    """A run-folder record that cannot be read or lacks a key its format requires (it is skipped)."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _refuse(path: Path, why: str, *, depth: int = 0) -> None:
    """The one warning for a refused record, reported at the line that asked for it (``depth`` helper frames up)."""
    warnings.warn(f"skipping {path}: {why}", RunRecordWarning, stacklevel=3 + depth)


def _read_object(path: Path, required: tuple[str, ...]) -> dict[str, Any] | None:
    """The JSON object in ``path`` holding every ``required`` key; None (with one warning unless missing) otherwise."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _refuse(path, f"unreadable ({exc})", depth=1)
        return None
    if not isinstance(data, dict):
        _refuse(path, f"expected a JSON object, got {type(data).__name__}", depth=1)
        return None
    missing = [key for key in required if data.get(key) is None]
    if missing:
        _refuse(path, f"it lacks {', '.join(repr(k) for k in missing)}", depth=1)
        return None
    return data


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


# ----------------------------------------------------------------------------------------- run.json
@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """``run.json``: what ran, where and from what. ``config_hash``, ``seed`` and ``components`` are required."""

    package_version: str | None = None
    torch: str | None = None
    cuda: str | None = None
    git_commit: str | None = None
    device: str | None = None
    world_size: int = 1
    precision: str | None = None
    seed: int
    config_hash: str  # the run's identity, from its first start (``run_folder.config_hash``)
    dataset: str | None = None
    resolution: int | None = None
    components: dict[str, Any]  # kind -> {name, provider, version, kwargs}
    started: str | None = None
    # allowed config changes: [{at, changes: {key: [old, new]}}]
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed: list[dict[str, Any]] = field(default_factory=list)  # [{at, from: checkpoint}]
    init_from: dict[str, Any] | None = None  # what an ``init_from=`` start took from the official pickle

    REQUIRED = ("seed", "config_hash", "components")

    def as_dict(self) -> dict[str, Any]:
        """The plain run.json object (empty ``history``/``resumed`` and an absent ``init_from`` left out)."""
        out = dataclasses.asdict(self)
        for key in ("history", "resumed", "init_from"):
            if not out[key]:
                del out[key]
        return out


def read_run_info(run_dir: str | os.PathLike) -> RunInfo | None:
    data = _read_object(Path(run_dir) / RUN_INFO, RunInfo.REQUIRED)
    return None if data is None else RunInfo(**_known(RunInfo, data))


def write_run_info(run_dir: str | os.PathLike, info: RunInfo) -> None:
    atomic_write_json(Path(run_dir) / RUN_INFO, info.as_dict())


# ----------------------------------------------------------------------------------------- status.json
@dataclass(frozen=True, kw_only=True)
class Status:
    """``status.json``: ``state`` (running | done | failed | interrupted) and ``kimg`` are required; ``error`` says why
    it failed; ``signal`` names the signal that interrupted it (SIGTERM, SIGUSR2)."""

    state: str
    error: str | None = None
    kimg: float
    updated: str | None = None
    traceback: str | None = None  # ``sgvb grid``: a job that failed outside the harness, with its traceback
    signal: str | None = None  # the signal an interrupted run stopped on

    REQUIRED = ("state", "kimg")

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("traceback", "signal"):
            if out[key] is None:
                del out[key]
        return out


def read_status(run_dir: str | os.PathLike) -> Status | None:
    path = Path(run_dir) / STATUS
    data = _read_object(path, Status.REQUIRED)
    if data is None:
        return None
    if data["state"] not in STATES:
        _refuse(path, f"state {data['state']!r} is not one of {', '.join(STATES)}")
        return None
    return Status(**_known(Status, data))


def write_status(
    run_dir: str | os.PathLike,
    state: str,
    *,
    kimg: float,
    error: str | None = None,
    traceback: str | None = None,
    signal: str | None = None,
) -> None:
    if state not in STATES:
        raise ValueError(f"run state must be one of {STATES}, got {state!r}")
    status = Status(
        state=state, error=error, kimg=round(float(kimg), 6), updated=now_iso(), traceback=traceback, signal=signal
    )
    atomic_write_json(Path(run_dir) / STATUS, status.as_dict())


# ----------------------------------------------------------------------------------------- best.json
@dataclass(frozen=True, kw_only=True)
class Best:
    """``checkpoints/best.json``: the best value of the tracked metric so far and the checkpoint that scored it."""

    metric: str
    value: float
    kimg: float
    checkpoint: str  # the file name under checkpoints/
    direction: str | None = None  # the metric's ``Metric.direction`` (lower | higher)

    REQUIRED = ("metric", "value", "kimg", "checkpoint")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Best":
        """From a checkpoint's ``best`` entry (the same object as best.json)."""
        return cls(**_known(cls, data))


def read_best(run_dir: str | os.PathLike) -> Best | None:
    data = _read_object(Path(run_dir) / BEST, Best.REQUIRED)
    return None if data is None else Best.from_dict(data)


def write_best(run_dir: str | os.PathLike, best: Best) -> None:
    atomic_write_json(Path(run_dir) / BEST, best.as_dict())


# ----------------------------------------------------------------------------------------- config.yaml
def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``config.yaml`` as a plain dict ({} when there is none); a run that failed before writing it still has
    Hydra's copy (``.hydra/config.yaml``). An interpolation that cannot resolve outside the run stays as written."""
    from omegaconf import OmegaConf

    run_dir = Path(run_dir)
    path = run_dir / CONFIG if (run_dir / CONFIG).is_file() else run_dir / HYDRA_CONFIG
    if not path.is_file():
        return {}
    try:
        conf = OmegaConf.load(path)
        try:
            data = OmegaConf.to_container(conf, resolve=True)
        except Exception:  # noqa: BLE001 - an unresolvable interpolation: keep the text as written
            data = OmegaConf.to_container(conf, resolve=False)
    except Exception as exc:  # noqa: BLE001 - any YAML problem makes the file unreadable
        _refuse(path, f"unreadable ({exc})")
        return {}
    if not isinstance(data, dict):
        _refuse(path, f"expected a mapping, got {type(data).__name__}")
        return {}
    return data


def write_config(run_dir: str | os.PathLike, text: str) -> None:
    """The composed config's YAML text, written once at the first start (a resume never rewrites it)."""
    atomic_write_text(Path(run_dir) / CONFIG, text)
