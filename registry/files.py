"""Files every layer writes: the one atomic writer and where the user cache lives.

It sits in ``registry`` (the lowest layer, importing nothing of ours) so that ``metrics``, ``stylegan_v``
and ``benchmarks`` share one implementation instead of each spelling its own temp-file-and-rename.

Atomic means: the data goes to a hidden temp file in the target's folder (``.<name>.tmp-XXXX<suffix>``,
so dataset scans that skip hidden files never see it), is fsynced, gets ordinary permissions, and only
then replaces the target with ``os.replace``. A reader sees the old file or the whole new one, never half;
any failure (an exception, Ctrl-C) removes the temp file. Only a killed process can leave one behind,
and its name matches ``TEMP_GLOB``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

CACHE_DIR_ENV = "SGVB_CACHE_DIR"
TEMP_GLOB = ".*.tmp-*"  # what a killed writer leaves beside its target


def user_cache_dir() -> Path:
    """``$SGVB_CACHE_DIR``, else ``~/.cache/sgvb``: detector weights, real statistics (``stats/``), video lengths,
    dataset check passes. Read at every call, so a test (or a job) that sets the variable moves all of them."""
    root = os.environ.get(CACHE_DIR_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "sgvb"


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: once, at import, not around every write
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside ``path`` (same suffix) for writers that need a file name (zipfile, PyAV, savefig,
    downloads); when the block ends without error it is fsynced and replaces ``path``, else it is removed.

    The writer may also create the temp file anew (a download that moves its own file there): permissions
    are set after the block, to what a plain ``open`` would give (``mkstemp`` makes 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary handle on ``atomic_path(path)``: what is written replaces ``path`` only if the block completes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        yield handle


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temp folder beside ``path`` to fill; when the block completes it takes ``path``'s place, else it is removed.

    A folder cannot be replaced in one step: an old one is first renamed aside, the new one renamed in,
    then the old one deleted, so ``path`` is missing only between two renames and never half-written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    aside = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if path.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-old-", dir=path.parent))
            os.replace(path, aside / path.name)
        try:
            os.replace(tmp, path)
        except BaseException:
            if aside is not None:  # put the old folder back
                os.replace(aside / path.name, path)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
