"""Real-data statistics cache: npz files keyed by a hash of everything that defines them.

The key covers the dataset's ``fingerprint()`` (its content and every parameter that changes its
frames), the metric protocol (counts, frames, subsample, selection mode, seed), the detector's identity
(weight sha256 or stand-in construction) and the statistics' own options. Unlike the official cache
(keyed by the dataset path), changed data at the same path misses, and seeded offsets stay valid. A file is read
from disk once per process (``load`` keeps what it read, by path, mtime and size, and hands out copies).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from registry.files import atomic_open, user_cache_dir

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    return user_cache_dir() / "stats"


def cache_key(fields: dict) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_path(cache_dir: str | os.PathLike | None, prefix: str, fields: dict) -> Path:
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return folder / f"{prefix}-{cache_key(fields)}.npz"


# Files read in this process, by (path, mtime, size): repeated runs of one evaluation (num_runs) and every later
# evaluation of a training run read a real side once. Callers get copies; at most _KEEP_BYTES are kept.
_READ: "collections.OrderedDict[tuple, dict[str, np.ndarray]]" = collections.OrderedDict()
_KEEP_BYTES = 2 << 30


def load(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _READ:
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never fatal
            return None
        _READ[key] = arrays
        while len(_READ) > 1 and sum(a.nbytes for v in _READ.values() for a in v.values()) > _KEEP_BYTES:
            _READ.popitem(last=False)
    _READ.move_to_end(key)
    return {k: v.copy() for k, v in _READ[key].items()}


def save(path: Path, arrays: dict[str, np.ndarray], fields: dict) -> None:
    """Atomic write; the key fields travel along (``_key``) so a cache file says what it holds."""
    with atomic_open(path) as handle:
        np.savez(handle, _key=np.asarray(json.dumps(fields, sort_keys=True, default=str)), **arrays)
