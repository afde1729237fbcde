"""The run folder (contract 4): config, provenance, status, per-tick stats, logs, TensorBoard.

Only rank 0 writes; other ranks get a ``RunFolder`` whose writers do nothing, so the loop has no
``if rank == 0`` scattered through it.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("sgvb")

STATES = ("running", "done", "failed")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_status(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(run_dir) / "status.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


class RunFolder:
    def __init__(self, path: str | os.PathLike, *, writer: bool = True):
        self.path = Path(path)
        self.writer = writer
        self._tb = None
        if writer:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "checkpoints").mkdir(exist_ok=True)
            (self.path / "samples").mkdir(exist_ok=True)
            for folder in (self.path, self.checkpoints, self.samples):  # leftovers of a killed run's atomic writes
                for stale in folder.glob(".*.tmp-*"):
                    stale.unlink(missing_ok=True) if stale.is_file() else None

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def write_text(self, name: str, text: str) -> None:
        if self.writer:
            atomic_write_text(self.path / name, text)

    def write_json(self, name: str, obj: Any) -> None:
        self.write_text(name, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")

    def set_status(self, state: str, *, kimg: float, error: str | None = None) -> None:
        assert state in STATES, state
        self.write_json("status.json", {"state": state, "error": error, "kimg": round(float(kimg), 6), "updated": now_iso()})

    def append_stats(self, record: dict[str, Any]) -> None:
        """One JSON line per tick; a single ``write`` so a kill leaves whole lines only (at worst the last is cut)."""
        if not self.writer:
            return
        with open(self.path / "stats.jsonl", "a") as f:
            f.write(json.dumps(record, default=float) + "\n")
        tb = self.tensorboard()
        step = int(round(record.get("kimg", 0) * 1000))
        for key, value in record.items():
            if isinstance(value, (int, float)) and key not in ("kimg", "tick", "step"):
                tb.add_scalar(key, value, global_step=step)
        tb.flush()

    def tensorboard(self):
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self.path))
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
        file_handler = logging.FileHandler(Path(run_dir) / "log.txt")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        file_handler._sgvb = True
        logger.addHandler(file_handler)
    return logger
