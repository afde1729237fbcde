"""Known failures end in one line plus where the details are; ``SGVB_TRACEBACK=1`` shows the full traceback instead.

    with one_line_errors("eval", known=(ValueError, WeightsError), log_dir=run_dir):
        run(cfg)

A known failure (bad option, bad data, missing weights) prints ``sgvb <command>: error: <first line>``
and ``(details: <log file>)`` to stderr, writes the full traceback to that log file and exits with
status 2. Anything not listed in ``known`` is a bug and keeps Python's traceback. Every command uses
this one mechanism, so one environment variable turns tracebacks on everywhere.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

TRACEBACK_ENV = "SGVB_TRACEBACK"
EXIT_CODE = 2


def tracebacks_requested() -> bool:
    return os.environ.get(TRACEBACK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def first_line(exc: BaseException) -> str:
    """The message's first non-empty line (TorchScript and friends put whole tracebacks in messages)."""
    text = str(exc).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "") if text else ""
    return line or type(exc).__name__


def write_details(exc: BaseException, command: str, log_dir: str | os.PathLike | None) -> Path:
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
def one_line_errors(command: str, *, known: tuple[type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError),
                    log_dir: str | os.PathLike | None | Callable[[], str | os.PathLike | None] = None) -> Iterator[None]:
    """Turn ``known`` exceptions into one line on stderr and exit status 2 (see module docstring).

    ``log_dir`` may be a callable, evaluated only on failure (the run folder is often known late).
    """
    try:
        yield
    except known as exc:
        if tracebacks_requested():  # printed here: Hydra's own handler would shorten a re-raised error
            traceback.print_exc()
            sys.exit(EXIT_CODE)
        folder = log_dir() if callable(log_dir) else log_dir
        details = write_details(exc, command, folder)
        print(f"sgvb {command}: error: {first_line(exc)} (details: {details}; {TRACEBACK_ENV}=1 prints the traceback)", file=sys.stderr)
        sys.exit(EXIT_CODE)
