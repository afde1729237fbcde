"""Files every layer writes: the one atomic writer and where the user cache lives.

It sits in ``registry`` (the lowest layer, importing nothing of ours) so that ``metrics``, ``stylegan_v``
and ``benchmarks`` share one implementation instead of each spelling its own temp-file-and-rename.

Atomic means: the data goes to a hidden temp file in the target's folder (``.<name>.tmp-<host>-<pid>-XXXX<suffix>``,
so dataset scans that skip hidden files never see it), is fsynced, gets ordinary permissions, and only
then replaces the target with ``os.replace``. A reader sees the old file or the whole new one, never half;
any failure (an exception, Ctrl-C) removes the temp file. Only a killed process can leave one behind,
and its name matches ``TEMP_GLOB``; the next write of the same target on the same host removes the temp files
whose writer process is gone (a live writer's, or another host's on a shared disk, are left alone).
An ``OSError`` out of a writer here names the target file (a full disk's
``write`` says only "No space left on device").

Appends (``append_whole``) are complete or absent: short ``os.write`` results are retried, and a failing write
(ENOSPC, EIO) truncates the file back to where the append began, so no fragment is left for the next line to
be glued onto.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
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


def kimg_tag(kimg: float) -> str:
    """The one file-name spelling of a training state: kimg to the frame, sortable as text (``000001.848`` at kimg
    1.848). Checkpoints (``ckpt-000001.848.pt``), samples and metric artifacts all use it, so two states never
    share a name (a rounded or floored kimg would give 1.848 and 1.9 the same one)."""
    nimg = int(round(float(kimg) * 1000))
    if nimg < 0:
        raise ValueError(f"kimg must be >= 0, got {kimg}")
    return f"{nimg // 1000:06d}.{nimg % 1000:03d}"


def _temp_prefix(path: Path) -> str:
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:32] or "host"
    return f".{path.name}.tmp-{host}-{os.getpid()}-"


def sweep_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files (or folders) that killed writers of ``path`` on this host left beside it; returns them."""
    path = Path(path)
    mine = _temp_prefix(path)
    head = mine[: mine.rindex("-", 0, len(mine) - 1) + 1]  # ".<name>.tmp-<host>-"
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(head):
            continue
        pid = entry.name[len(head) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        stale = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                stale.unlink()
        removed.append(stale)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: once, at import, not around every write
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def naming(exc: OSError, path: str | os.PathLike) -> OSError:
    """``exc`` with ``path`` as its file name when it names none (a failed ``write`` on a descriptor)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    named = type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
    named.__cause__ = exc.__cause__
    return named


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may take fewer bytes than given: signals, full disks)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # no progress and no error: treat as a full disk rather than spin
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def append_whole(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Append ``data`` to ``path`` (created if missing) under an exclusive lock, whole or not at all.

    On any error the file is truncated back to its length before the append, and the error names ``path``.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise naming(exc, path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = os.fstat(fd).st_size
        try:
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            if isinstance(exc, OSError):
                raise naming(exc, path) from None
            raise
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return path


def check_writable(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Fail now, naming ``folder`` and the OS error, if a file cannot be created in it (read-only, no permission,
    a file in the way); the nearest existing parent is tried when ``folder`` does not exist yet. Checked before
    long computations, so hours of work never end at the write."""
    folder = Path(folder)
    target = folder
    while not target.exists() and target.parent != target:
        target = target.parent
    if not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"the {what} is not a folder", str(target))
    try:
        fd, name = tempfile.mkstemp(prefix=".sgvb-write-check-", dir=target)
    except OSError as exc:
        raise naming(exc, target) from None
    os.close(fd)
    os.unlink(name)
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, sweep: bool = True) -> Iterator[Path]:
    """A temp path beside ``path`` (same suffix) for writers that need a file name (zipfile, PyAV, savefig,
    downloads); when the block ends without error it is fsynced and replaces ``path``, else it is removed.

    The writer may also create the temp file anew (a download that moves its own file there): permissions
    are set after the block, to what a plain ``open`` would give (``mkstemp`` makes 0600).
    ``sweep``: first remove what killed writers of ``path`` left (``sweep_stale_temps``); a caller writing many
    files into one folder that it cleans itself passes False (the sweep lists the folder).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if sweep:
            sweep_stale_temps(path)
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise naming(exc, path) from None
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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise naming(exc, path) from None
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
    sweep_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
    aside = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if path.exists():
            aside = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(path)}old-", dir=path.parent))
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
