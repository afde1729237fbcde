"""The run folder: its layout, its identity, its lock, and the writer the training loop holds.

    <run_dir>/
      config.yaml          the composed config of the first start (never rewritten by a resume)
      run.json             provenance: versions, device, seed, components, identity, resume history
      status.json          {state: running | done | failed | interrupted, error, kimg, updated[, signal]}
      stats.jsonl          one JSON line per tick
      log.txt, events.out.tfevents.*   console log, TensorBoard
      checkpoints/         ckpt-<kimg>.pt (see ``checkpoint.checkpoint_name``), best.json
                           abandoned/ (checkpoints past the one a resume fell back to: ``abandon_past``)
      samples/             grid-<kimg>.gif/.mp4, long-<kimg>.mp4
      metric-<name>.jsonl  one record per evaluation (written by ``metrics.evaluate``)
      .lock, .lock-rank<N> held (flock) by the training processes for their lifetime

Only one training writes a folder at a time (``RunLock``); only rank 0 writes files (other ranks get a
``RunFolder`` whose writers do nothing, so the loop has no ``if rank == 0`` scattered through it). Every
file is written atomically (``registry.files``: ``atomic_write_text``...), so a reader never sees half a record.
The records' names, formats, writers and readers are ``run_records``'s (config.yaml, run.json, status.json,
best.json); this module keeps the folder: its lock, its writers, its logs and its identity.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.records import run_records
from benchmarks.records.run_records import CHECKPOINTS, LOG, STATS, now_iso, write_status
from registry.files import TEMP_GLOB, append_whole, atomic_write_text

__all__ = [
    "RunFolder",
    "RunFolderBusy",
    "RunLock",
    "config_hash",
    "group_hash",
    "identity_keys",
    "lock_holder",
    "run_identity",
    "setup_logging",
]

log = logging.getLogger("sgvb")

LOCK = ".lock"
ABANDONED = "abandoned"  # checkpoints/abandoned/: checkpoints of a trajectory a resume left behind
# Keys that say where/how a run executes, not what it trains: left out of every run identity.
RUN_LOCAL_KEYS = (
    "seed",
    "run_dir",
    "resume",
    "nproc",
    "device",
    "cpu_threads",
    "progress",
    "cache_dir",
    "allow_change",
)


def _read_lock_info(path: Path) -> dict[str, Any]:
    """What a lock file says about its holder (pid, host, started); {} when it cannot be read."""
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


# ----------------------------------------------------------------------------------------- identity
def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "l": [2]}`` -> ``{"a.b": 1, "l.0": 2}`` (an empty list stays ``"[]"``); a flat dict is
    unchanged."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, (list, tuple)):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}{index}."))
        return out if out or not prefix else {prefix[:-1]: "[]"}
    return {prefix[:-1]: value} if prefix else {}


def identity_keys(config: Mapping[str, Any], *, with_seed: bool) -> dict[str, Any]:
    """The flattened keys that define what a run trains (``hydra.*`` and run-local keys left out)."""
    flat = flatten(config)
    skip = set(RUN_LOCAL_KEYS) - ({"seed"} if with_seed else set())
    return {k: v for k, v in flat.items() if k.split(".", 1)[0] not in skip and not k.startswith("hydra.")}


def run_identity(config: Mapping[str, Any], *, with_seed: bool = True) -> str:
    """THE run identity: equal for equal experiment-defining settings, nested or flattened alike.
    With the seed it names one run (``config_hash``); without it, the configuration its seeds share."""
    kept = identity_keys(config, with_seed=with_seed)
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_hash(config: Mapping[str, Any]) -> str:
    return run_identity(config, with_seed=True)


def group_hash(config: Mapping[str, Any]) -> str:
    """Runs with equal group hashes are seeds of one configuration (``sgvb table`` averages them)."""
    return run_identity(config, with_seed=False)


# ----------------------------------------------------------------------------------------- lock
class RunFolderBusy(RuntimeError):
    """Another live process trains in this run folder."""


def _holder_text(path: Path) -> str:
    info = _read_lock_info(path)
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on host {info.get('host')} (started {info.get('started')})"


class RunLock:
    """An exclusive ``flock`` on the run folder, held by every training process for its lifetime.

    Rank 0 holds ``.lock``, rank N ``.lock-rankN``; the OS releases a lock when its process dies, so a
    killed run never blocks the next one, and a worker that outlived its launcher still does. A second
    writer fails at once, naming the holder (pid, host, start time).
    """

    def __init__(self, run_dir: str | os.PathLike, rank: int = 0):
        self.run_dir, self.rank = Path(run_dir), rank
        self.path = self.run_dir / (LOCK if rank == 0 else f"{LOCK}-rank{rank}")
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            holder = lock_holder(self.run_dir)  # an orphaned worker of an earlier run also counts
            if holder is not None:
                raise RunFolderBusy(
                    f"run folder {self.run_dir} is in use by {holder}; "
                    "wait for it or stop it (or choose another run_dir)"
                )
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise RunFolderBusy(
                f"run folder {self.run_dir} is in use by {_holder_text(self.path)}; wait for it or stop it "
                "(or choose another run_dir)"
            ) from None
        info = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": now_iso(), "rank": self.rank}
        ).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def lock_holder(run_dir: str | os.PathLike) -> str | None:
    """Who holds the run folder (``"pid P on host H (started T)"``), or None when no live process does."""
    for path in sorted(Path(run_dir).glob(f"{LOCK}*")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _holder_text(path)
        finally:
            os.close(fd)  # closing drops the probe's shared lock
    return None


# ----------------------------------------------------------------------------------------- the folder
class RunFolder:
    def __init__(self, path: str | os.PathLike, *, writer: bool = True):
        self.path = Path(path)
        self.writer = writer
        self._tb = None
        self._purge_step: int | None = None
        if writer:
            self.path.mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(exist_ok=True)
            self.samples.mkdir(exist_ok=True)

    def remove_stale_temp_files(self) -> None:
        """Leftovers of a killed run's atomic writes (call only while holding the lock)."""
        if not self.writer:
            return
        for folder in (self.path, self.checkpoints, self.samples):
            for stale in folder.glob(TEMP_GLOB):
                if stale.is_dir():  # a frame folder being written (atomic_folder)
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def write_config(self, text: str) -> None:
        if self.writer:
            run_records.write_config(self.path, text)

    def write_run_info(self, info: run_records.RunInfo) -> None:
        if self.writer:
            run_records.write_run_info(self.path, info)

    def write_best(self, best: run_records.Best) -> None:
        if self.writer:
            run_records.write_best(self.path, best)

    def set_status(self, state: str, *, kimg: float, error: str | None = None, signal: str | None = None) -> None:
        if self.writer:
            write_status(self.path, state, kimg=kimg, error=error, signal=signal)

    def append_stats(self, record: dict[str, Any]) -> None:
        """One JSON line per tick, whole or not at all (``append_whole``: a full disk leaves no fragment; a kill at
        worst cuts the last line, which a resume's ``rewind_logs`` drops)."""
        if not self.writer:
            return
        append_whole(self.path / STATS, (json.dumps(record, default=float) + "\n").encode(), fsync=False)
        tb = self.tensorboard()
        step = int(round(record.get("kimg", 0) * 1000))
        for key, value in record.items():
            if isinstance(value, (int, float)) and key not in ("kimg", "tick", "step"):
                tb.add_scalar(key, value, global_step=step)
        tb.flush()

    def rewind_logs(self, kimg: float) -> int:
        """Continue the logs from a checkpoint at ``kimg``: drop ``stats.jsonl`` rows past it (and a torn last
        line) and hide TensorBoard events past it (``purge_step``). Returns the number of rows dropped."""
        if not self.writer:
            return 0
        self._purge_step = int(round(kimg * 1000)) + 1
        path = self.path / STATS
        if not path.is_file():
            return 0
        kept, dropped = [], 0
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1
                continue
            if float(row.get("kimg", 0.0)) <= kimg + 1e-9:
                kept.append(line)
            else:
                dropped += 1
        if dropped:
            atomic_write_text(path, "".join(f"{line}\n" for line in kept))
        return dropped

    def abandon_past(self, kimg: float, best: run_records.Best | None) -> str:
        """A resume from the checkpoint at ``kimg`` (the newer ones unreadable, or an older one chosen) abandons the
        trajectory past it: its checkpoints move to ``checkpoints/abandoned/`` (a later ``resume=auto`` never
        continues them; the new trajectory reuses their names), its metric records are marked abandoned
        (``metrics.records.mark_abandoned``: tables and the evaluations a resume redoes skip them), and a
        ``best.json`` naming one of its checkpoints becomes the resumed state's best. Returns what was done, for the
        log ('' when the resume abandoned nothing)."""
        if not self.writer:
            return ""
        from benchmarks.records.checkpoint import checkpoint_kimg, list_checkpoints
        from metrics.records import mark_abandoned  # here: importing ``metrics`` imports torch

        limit, moved = round(float(kimg) * 1000), []
        aside = self.checkpoints / ABANDONED
        for path in list_checkpoints(self.path):
            if round(checkpoint_kimg(path) * 1000) > limit:
                aside.mkdir(exist_ok=True)
                os.replace(path, aside / path.name)
                moved.append(path.name)
        marked = mark_abandoned(self.path, kimg)
        on_disk = run_records.read_best(self.path)
        if on_disk is not None and round(on_disk.kimg * 1000) > limit:
            if best is None:
                (self.path / run_records.BEST).unlink(missing_ok=True)
            else:
                run_records.write_best(self.path, best)
        done = [f"{len(moved)} checkpoint(s) moved to {CHECKPOINTS}/{ABANDONED}/"] if moved else []
        done += [f"{marked} metric record(s) marked abandoned"] if marked else []
        return ", ".join(done)

    def tensorboard(self):
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self.path), purge_step=self._purge_step)
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


class _TqdmHandler(logging.StreamHandler):
    """Console handler that prints above a running tqdm bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover
            self.handleError(record)


def setup_logging(run_dir: str | os.PathLike | None, *, main: bool) -> logging.Logger:
    """``sgvb`` logger: console (rank 0 only, INFO) and ``<run_dir>/log.txt`` (rank 0)."""
    logger = logging.getLogger("sgvb")
    for handler in list(logger.handlers):
        if getattr(handler, "_sgvb", False):
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not main:
        logger.addHandler(logging.NullHandler())
        return logger
    console = _TqdmHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    console._sgvb = True
    logger.addHandler(console)
    if run_dir is not None:
        file_handler = logging.FileHandler(Path(run_dir) / LOG)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        file_handler._sgvb = True
        logger.addHandler(file_handler)
    return logger
