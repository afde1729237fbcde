"""Known failures end in one line plus where the details are; ``SGVB_TRACEBACK=1`` shows the full traceback instead.

    with one_line_errors("eval", known=(ValueError, WeightsError), log_dir=run_dir):
        run(cfg)

A known failure (bad option, bad data, missing weights) prints ``sgvb <command>: error: <first line>
(details: <log file>; ...)`` to stderr, writes the full traceback to that log file and exits with status 2.
Anything not listed in ``known`` is a bug and keeps Python's traceback. Every command (train, eval, sample,
stats, audit, prepare, convert, convert-checkpoint, check-dataset, table, grid, check-plugin) uses this one
mechanism, so the message has one shape and one environment variable turns tracebacks on everywhere.

A job of a Hydra multirun must not end the sweep: ``exit_on_error=False`` reports the failure the same way,
then lets the block end and hands the caller what happened (the ``Failure`` the context manager yields):

    with one_line_errors("train", known=(ConfigError,), log_dir=run_dir, exit_on_error=False) as failure:
        train(cfg)
    return failure.status  # 0, or the exit status the failure asked for
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

TRACEBACK_ENV = "SGVB_TRACEBACK"
EXIT_CODE = 2  # a user error: what argparse and Hydra's composition errors exit with too

LogDir = str | os.PathLike | None


@dataclass
class Failure:
    """What ``one_line_errors`` caught, filled in when a known error ended its block (false while none did)."""

    error: BaseException | None = None
    details: Path | None = None  # the log file holding the traceback (None when it was printed instead)
    status: int = 0  # the exit status the failure asks for; 0 while nothing failed

    def __bool__(self) -> bool:
        return self.error is not None


def tracebacks_requested() -> bool:
    return os.environ.get(TRACEBACK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def first_line(exc: BaseException) -> str:
    """The message's first non-empty line (TorchScript and friends put whole tracebacks in messages).

    A plain ``KeyError('x')`` reads ``x``, not ``'x'``; an empty message reads as the exception's class name.
    """
    text = exc.args[0] if type(exc) is KeyError and len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    return line or type(exc).__name__


DISK_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)


class DiskError(OSError):
    """A file could not be written: no space, a read-only file system, no permission (one line says which file)."""


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def disk_error_message(exc: OSError) -> str:
    """``cannot write <file>: No space left on device (ENOSPC)``."""
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    where = f" {exc.filename}" if exc.filename is not None else " (the file is not named by the OS)"
    verb, hint = (
        ("cannot access", "check its permissions")
        if exc.errno in (errno.EACCES, errno.EPERM)
        else (
            "cannot write",
            "free space or choose a writable place",
        )
    )
    return f"{verb}{where}: {exc.strerror or os.strerror(exc.errno)} ({name}); {hint}"


def error_line(command: str, message: str, *, details: Path | None = None, label: str = "error") -> str:
    """``sgvb <command>: <label>: <message> (details: <file>; SGVB_TRACEBACK=1 prints the traceback)``."""
    where = f" (details: {details}; {TRACEBACK_ENV}=1 prints the traceback)" if details is not None else ""
    return f"sgvb {command}: {label}: {message}{where}"


def write_details(exc: BaseException, command: str, log_dir: LogDir) -> Path:
    """Append the full traceback to ``<log_dir>/log.txt`` (or a fresh file in the temp folder) and return its path."""
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = f"[{stamp}] sgvb {command}: {type(exc).__name__}\n" + "".join(traceback.format_exception(exc))
    if log_dir is not None:
        try:
            path = Path(log_dir).expanduser() / "log.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            pass
    fd, name = tempfile.mkstemp(prefix=f"sgvb-{command}-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(name)


@contextlib.contextmanager
def one_line_errors(
    command: str,
    *,
    known: tuple[type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError),
    log_dir: LogDir | Callable[[], LogDir] = None,
    label: str = "error",
    status: int = EXIT_CODE,
    exit_on_error: bool = True,
) -> Iterator[Failure]:
    """Turn ``known`` exceptions into one line on stderr and exit status ``status`` (see module docstring).

    ``log_dir``: where ``log.txt`` gets the traceback (None: a fresh file in the temp folder); it may be a
    callable, evaluated only on failure (the run folder is often known late). ``label`` is the word before the
    message (``configuration error`` for a config that names something wrong). ``exit_on_error=False`` (a
    multirun job) reports the failure, then returns from the block; the yielded ``Failure`` says what happened.
    """
    failure = Failure()
    restore = _terminate_by_exception()
    try:
        yield failure
    except Terminated as exc:  # SIGTERM: the command's own cleanup ran (temp files, half-written appends undone)
        failure.error, failure.status = exc, 128 + exc.signum
        print(error_line(command, str(exc), label="interrupted"), file=sys.stderr)
        if exit_on_error:
            sys.exit(failure.status)
    except (*known, OSError) as exc:
        if not isinstance(exc, known) and not is_disk_error(exc):
            raise
        # a full or read-only disk: one line naming the file and the OS error, whatever the command
        shown = exc if isinstance(exc, known) else DiskError(disk_error_message(exc))
        failure.error, failure.status = shown, status
        if tracebacks_requested():  # printed here: Hydra's own handler would shorten a re-raised error
            traceback.print_exc()
        else:
            folder = log_dir() if callable(log_dir) else log_dir
            try:
                failure.details = write_details(exc, command, folder)
            except OSError:  # the disk that failed may hold the temp folder too: the line is still printed
                failure.details = None
            print(error_line(command, first_line(shown), details=failure.details, label=label), file=sys.stderr)
        if exit_on_error:
            sys.exit(status)
    finally:
        restore()


class Terminated(BaseException):
    """SIGTERM reached a command (not training, which stops with a checkpoint: ``training.preemption``)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__("stopped by SIGTERM; nothing half-written was kept")


def _terminate_by_exception() -> Callable[[], None]:
    """SIGTERM raises ``Terminated`` in the main thread while a command runs, so its ``finally`` blocks and atomic
    writers clean up (no temp file, no torn record) instead of the process vanishing; a handler someone else
    installed (a launcher's) is left alone. Returns what restores the previous handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        return lambda: None

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated(signum)

    signal.signal(signal.SIGTERM, raise_terminated)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL)
