"""Progress of the long commands (eval, stats, audit, sample, prepare, convert): a bar with rate and ETA on a
terminal, one line per step otherwise (a log, a pipe, a cluster job's output file).

``Steps`` is a counter with a total: ``tqdm`` when stderr is a terminal, else ``LineSteps`` printing
``<what>: 96/256 clips (41.3 clips/s, ETA 3.9s)`` at most every ``interval`` seconds and once at the end. A rate (and
so an ETA) is shown only once ``MIN_RATE_S`` have passed: a count over a few milliseconds says nothing
("217414.9 clips/s" for a step that took ~0 s); a run shorter than that ends with its count and duration only.
``MetricProgress`` follows one metric's evaluation through ``metrics.base.reporting_progress``: it counts the
outputs of the metric's detector (clips for a video detector, frames for an image detector), one bar per side
(``real`` while the real statistics are computed, ``fake`` otherwise), with the totals the metric's declared
sizes give (``num_videos``, ``num_frames``, ``num_fake``; unknown: rate without ETA).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

INTERVAL_ENV = "SGVB_PROGRESS_INTERVAL"  # seconds between lines when stderr is not a terminal (default 10)
MIN_RATE_S = 1.0  # no rate or ETA before this many seconds of a counter


def _interval() -> float:
    try:
        return float(os.environ.get(INTERVAL_ENV, "10"))
    except ValueError:
        return 10.0


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class LineSteps:
    """A progress counter printing one line per step (at most one per ``interval`` seconds, and the last)."""

    def __init__(self, what: str, total: int | None, unit: str, stream: TextIO, interval: float, clock=None):
        self.what, self.total, self.unit, self.stream, self.interval = what, total, unit, stream, interval
        self.clock = clock or time.monotonic  # a test passes its own
        self.n, self.start = 0, self.clock()
        self._printed_at: float | None = None
        self._printed_n = -1

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        now = self.clock()
        if self._printed_at is None or now - self._printed_at >= self.interval or self.n == self.total:
            self._print(now)

    def line(self, now: float | None = None) -> str:
        elapsed = (now if now is not None else self.clock()) - self.start
        rate = self.n / elapsed if elapsed >= MIN_RATE_S and elapsed > 0 else None  # None: too early to say
        of = f"/{self.total}" if self.total else ""
        said = [f"{rate:.1f} {self.unit}/s"] if rate is not None else []
        if self.total and rate and self.n < self.total:
            said.append(f"ETA {_duration((self.total - self.n) / rate)}")
        elif self.total is None or self.n >= self.total:
            said.append(_duration(elapsed))
        return f"{self.what}: {self.n}{of} {self.unit}" + (f" ({', '.join(said)})" if said else "")

    def _print(self, now: float) -> None:
        print(self.line(now), file=self.stream, flush=True)
        self._printed_at, self._printed_n = now, self.n

    def close(self) -> None:
        if self.n != self._printed_n:
            self._print(self.clock())


def steps(what: str, total: int | None, unit: str, *, stream: TextIO | None = None, enabled: bool = True) -> Any:
    """A counter with ``update(n)`` and ``close()``: tqdm on a terminal, ``LineSteps`` otherwise, or None if off."""
    if not enabled:
        return None
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=what, unit=f" {unit}", file=stream, dynamic_ncols=True, leave=True)
    return LineSteps(what, total, unit, stream, _interval())


class MetricProgress:
    """One metric's evaluation: a counter per side, fed by a forward hook on its detector (see module docstring)."""

    def __init__(self, metric: Any, *, num_runs: int = 1, stream: TextIO | None = None, label: str | None = None):
        self.metric, self.num_runs, self.stream = metric, int(num_runs), stream
        self.label = label or str(getattr(metric, "name", metric))
        self._side = "fake"
        self._bars: dict[str, Any] = {}
        self._hooks: list[Any] = []
        self._watched: set[int] = set()

    def watch(self, detector: Any) -> None:
        if id(detector) in self._watched or not callable(getattr(detector, "register_forward_hook", None)):
            return
        self._watched.add(id(detector))
        video = bool(getattr(detector, "video", False))

        def counted(module: Any, inputs: Any, output: Any) -> None:
            n = int(output.shape[0]) if getattr(output, "ndim", 0) else 1
            self._bar(self._side, video).update(n)

        self._hooks.append(detector.register_forward_hook(counted))

    def side(self, name: str):
        import contextlib

        @contextlib.contextmanager
        def inside():
            previous, self._side = self._side, name
            try:
                yield
            finally:
                self._side = previous
                bar = self._bars.pop(name, None)
                if bar is not None:
                    bar.close()

        return inside()

    def expected(self, side: str, video: bool) -> tuple[int | None, str]:
        """(total, unit) of a side from the metric's declared sizes."""
        m = self.metric
        num_videos, num_frames = getattr(m, "num_videos", None), getattr(m, "num_frames", None)
        runs = self.num_runs if side == "fake" else 1
        samples = getattr(m, "num_samples", None)  # PRDC: clips (num_frames set) or frames (num_frames None)
        if samples and not video and num_frames is None:
            return int(samples) * runs, "frames"
        num_videos = num_videos or samples
        if video:
            return (int(num_videos) * runs if num_videos else None), "clips"
        if side == "fake" and getattr(m, "num_fake", None):
            return int(m.num_fake) * runs, "frames"
        if num_videos and num_frames:
            return int(num_videos) * int(num_frames) * runs, "frames"
        return None, "frames"

    def _bar(self, side: str, video: bool) -> Any:
        if side not in self._bars:
            total, unit = self.expected(side, video)
            self._bars[side] = steps(f"{self.label} {side}", total, unit, stream=self.stream)
        return self._bars[side]

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
