"""Frame samplers: which time stamps of a video make one training clip.

A sampler draws ``num_frames`` sorted times from a video of ``video_length`` frames with an explicit
``numpy.random.Generator`` (so results are reproducible and worker-safe). Real clips use integer times
(``continuous=False``); a continuous-time generator gets the same pattern at a real-valued offset
(``continuous=True``), as in StyleGAN-V's training loop. The discriminator and generator query
``num_frames``, ``min_video_length`` and ``max_span`` instead of branching on the sampler's name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from registry import SAMPLERS
from registry.interfaces import FrameSampler


def _check_num_frames(num_frames: int, minimum: int = 1) -> int:
    if int(num_frames) != num_frames or num_frames < minimum:
        raise ValueError(f"num_frames must be an integer >= {minimum}, got {num_frames!r}")
    return int(num_frames)


def _offset(rng: np.random.Generator, max_offset: int, continuous: bool) -> float:
    """Start in ``{0..max_offset}`` (integer) or ``[0, max_offset)`` (real; 0 when max_offset is 0)."""
    if continuous:
        return float(rng.random() * max_offset)
    return float(rng.integers(0, max_offset + 1))


@SAMPLERS.register("sparse_random", aliases=["random"])
class SparseRandomSampler(FrameSampler):
    """StyleGAN-V's sparse sampling: ``num_frames`` frames whose first-to-last span is a random power of two.

    The span ``d`` is uniform over the powers of two with ``num_frames - 1 <= d <= min(L - 1, max_dist)``
    (``{2, 4, 8, 16, 32}`` for 3 frames on long videos); the ``num_frames - 2`` interior frames sit at
    distinct integer offsets inside the span. Distances between frames are always integers; only the
    start is real-valued when ``continuous``.
    """

    def __init__(self, num_frames: int = 3, max_dist: int = 32):
        self.num_frames = _check_num_frames(num_frames)
        self.max_dist = int(max_dist)
        if self.num_frames > 1 and self.max_dist < self.num_frames - 1:
            raise ValueError(
                f"sparse_random: max_dist={max_dist} is smaller than num_frames - 1 = {self.num_frames - 1}; "
                f"{self.num_frames} distinct frames need a span of at least {self.num_frames - 1}"
            )
        if self.num_frames > 1 and not self._spans(self.max_dist + 1):
            raise ValueError(
                f"sparse_random: no power of two lies between num_frames - 1 = {self.num_frames - 1} "
                f"and max_dist = {max_dist}; raise max_dist to at least {self._smallest_span()}"
            )

    def _smallest_span(self) -> int:
        return 1 << max(0, int(np.ceil(np.log2(max(self.num_frames - 1, 1)))))

    def _spans(self, video_length: int) -> list[int]:
        top = min(video_length - 1, self.max_dist)
        return [1 << p for p in range(0, 31) if self.num_frames - 1 <= (1 << p) <= top]

    @property
    def min_video_length(self) -> int:
        return 1 if self.num_frames == 1 else self._smallest_span() + 1

    @property
    def max_span(self) -> int:
        return 0 if self.num_frames == 1 else max(self._spans(self.max_dist + 1))

    def sample(self, video_length: int, rng: np.random.Generator, continuous: bool = False) -> np.ndarray:
        video_length = self._check_length(video_length)
        if self.num_frames == 1:
            return np.array([_offset(rng, video_length - 1, continuous)])
        spans = self._spans(video_length)
        span = spans[rng.integers(len(spans))]
        start = _offset(rng, video_length - 1 - span, continuous)
        interior = rng.choice(np.arange(1, span), size=self.num_frames - 2, replace=False)
        return np.sort(start + np.concatenate([[0, span], interior]).astype(np.float64))


@SAMPLERS.register("uniform")
class UniformSampler(FrameSampler):
    """``num_frames`` frames at one gap: ``t0, t0 + g, ..., t0 + (k-1) g`` (MoCoGAN-style strided clips).

    ``gap`` is an int, or a list of gaps drawn uniformly among those that fit the video (StyleGAN-V's
    ``uniform`` sampling with distances ``[1, 2, 4, ..., 32]``).
    """

    def __init__(self, num_frames: int = 3, gap: int | Sequence[int] = 1):
        self.num_frames = _check_num_frames(num_frames)
        gaps = [gap] if np.isscalar(gap) else list(gap)
        if not gaps or any(int(g) != g or g < 1 for g in gaps):
            raise ValueError(f"uniform: gap must be a positive integer or a non-empty list of them, got {gap!r}")
        self.gap = int(gap) if np.isscalar(gap) else sorted(int(g) for g in gaps)
        self._gaps = sorted(int(g) for g in gaps)

    @property
    def min_video_length(self) -> int:
        return self._gaps[0] * (self.num_frames - 1) + 1

    @property
    def max_span(self) -> int:
        return self._gaps[-1] * (self.num_frames - 1)

    def sample(self, video_length: int, rng: np.random.Generator, continuous: bool = False) -> np.ndarray:
        video_length = self._check_length(video_length)
        fitting = [g for g in self._gaps if g * (self.num_frames - 1) <= video_length - 1]
        gap = fitting[rng.integers(len(fitting))]
        start = _offset(rng, video_length - 1 - gap * (self.num_frames - 1), continuous)
        return start + gap * np.arange(self.num_frames, dtype=np.float64)


@SAMPLERS.register("consecutive")
class ConsecutiveSampler(UniformSampler):
    """``num_frames`` consecutive frames: the dense clips 3D-convolution discriminators need."""

    def __init__(self, num_frames: int = 3):
        super().__init__(num_frames=num_frames, gap=1)

    def __repr__(self) -> str:
        return f"ConsecutiveSampler(num_frames={self.num_frames})"


@SAMPLERS.register("beta_pair")
class BetaPairSampler(FrameSampler):
    """DIGAN's frame pairs: ``t1 ~ Beta(2, 1)``, ``t2 ~ Beta(1, 2)`` in a ``window``-frame window, sorted.

    The window starts at a random offset. Real clips take integer frames ``floor(u * window)``, redrawn
    until the two differ; a continuous-time generator gets ``offset + u * (window - 1)`` unrounded.
    """

    num_frames = 2

    def __init__(self, window: int = 16):
        if int(window) != window or window < 2:
            raise ValueError(f"beta_pair: window must be an integer >= 2, got {window!r}")
        self.window = int(window)

    @property
    def min_video_length(self) -> int:
        return self.window

    @property
    def max_span(self) -> int:
        return self.window - 1

    def sample(self, video_length: int, rng: np.random.Generator, continuous: bool = False) -> np.ndarray:
        video_length = self._check_length(video_length)
        start = _offset(rng, video_length - self.window, continuous)
        while True:
            u = np.array([rng.beta(2.0, 1.0), rng.beta(1.0, 2.0)])
            if continuous:
                return np.sort(start + u * (self.window - 1))
            frames = np.minimum(np.floor(u * self.window), self.window - 1)
            if frames[0] != frames[1]:
                return np.sort(start + frames)
