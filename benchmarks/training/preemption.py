"""Stop a training run cleanly when the cluster asks: SIGTERM (what SLURM sends at preemption and at the time limit)
and SIGUSR2 (the signal the submitit launcher asks SLURM for before the time limit, to checkpoint and requeue).

The handler only notes the signal. The loop sees it after the step in hand (every rank agrees through one
all-reduce, so all of them stop at the same step), writes a checkpoint, records ``status.json`` as
``interrupted`` with the kimg and the signal, logs it, and then hands the signal to the handler that was
installed before ours when that one is Python code (``StopRequest.hand_on``). submitit's SIGUSR2 handler requeues
the job and exits (the requeued job resumes with ``resume=auto``); its SIGTERM handler lets the job go on, and so
does training, the checkpoint being a bonus. Without such a handler the process ends with ``128 + signal`` (143
for SIGTERM), the status a launcher reads as "killed by that signal".
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sgvb")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR2)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint (``status.json``: ``interrupted``)."""

    def __init__(self, signum: int, kimg: float, checkpoint: str | None = None):
        self.signum, self.kimg, self.checkpoint = int(signum), float(kimg), checkpoint
        self.exit_code: int | str | None = None  # set when a launcher's handler ended the process (SystemExit code)
        where = f"; checkpoint {checkpoint}" if checkpoint else ""
        super().__init__(
            f"interrupted by {signal_name(signum)} at kimg {kimg:.3f}{where}; the same command with resume=auto "
            "continues it"
        )

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopRequest:
    """Notes the first of ``STOP_SIGNALS`` received; ``install`` in the main thread, ``restore`` when training ends."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def install(self) -> "StopRequest":
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only; a run in another thread stops by other means
        for signum in STOP_SIGNALS:
            self.previous[signum] = signal.signal(signum, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            log.warning("%s received: stopping after the step in hand with a checkpoint", signal_name(signum))

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.previous.clear()

    def previous_handler(self) -> Callable[[int, Any], Any] | None:
        """The Python handler that was in place for the received signal (submitit's requeue), if any."""
        handler = self.previous.get(self.signum) if self.signum is not None else None
        return handler if callable(handler) else None

    def hand_on(self) -> tuple[str, int | str | None]:
        """Call the launcher's handler of the received signal, once the checkpoint is safe: ``("none", None)``
        without one, ``("returned", None)`` when it let the job go on (submitit's SIGTERM bypass), ``("exit",
        code)`` when it ended the job (submitit's requeue on SIGUSR2 calls ``sys.exit``)."""
        handler = self.previous_handler()
        if handler is None:
            return "none", None
        log.info("handing %s on to the launcher's handler", signal_name(self.signum))
        try:
            handler(self.signum, None)
        except SystemExit as exc:
            return "exit", exc.code
        except BaseException:  # a handler that raises (a command's SIGTERM-to-exception): the job ends here
            return "exit", 128 + int(self.signum)
        return "returned", None
