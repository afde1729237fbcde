"""Training clips: one sampled clip per video per item, and the matching time stamps for the generator."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from benchmarks.data.base import DatasetError, VideoDataset
from benchmarks.data.samplers import FrameSampler
from registry import SAMPLERS


def build_sampler(sampler: FrameSampler | str | dict) -> FrameSampler:
    return sampler if isinstance(sampler, FrameSampler) else SAMPLERS.build(sampler)


class ClipDataset(Dataset):
    """Item ``i`` is a clip of the ``i``-th usable video:
    ``{"frames": uint8 [k, H, W, C], "times": float32 [k], "video": int}``.

    As in StyleGAN-V, a video longer than ``max_num_frames`` is first cut to a random window of that
    many frames, then ``sampler`` draws ``k`` integer frame times inside the window; ``times`` are
    relative to the window start, ``video`` is the index in ``videos``. Videos shorter than the
    sampler's ``min_video_length`` are skipped with one warning that counts them (the official code
    dies with an IndexError); it is an error only when none remain.

    Randomness: each draw uses its own generator seeded from (``seed``, DataLoader worker seed, item,
    draw count), so workers differ, epochs differ, and a run is reproducible given torch's seed.
    """

    def __init__(
        self, videos: VideoDataset, sampler: FrameSampler | str | dict, seed: int = 0, max_num_frames: int = 1024
    ):
        self.videos = videos
        self.sampler = build_sampler(sampler)
        self.seed = int(seed)
        self.max_num_frames = int(max_num_frames)
        if self.max_num_frames < self.sampler.min_video_length:
            raise DatasetError(
                f"ClipDataset: max_num_frames={max_num_frames} is shorter than the {self.sampler.min_video_length} "
                f"frames that {self.sampler!r} needs"
            )
        lengths = [videos.video_length(i) for i in range(len(videos))]
        need = self.sampler.min_video_length
        self.indices = [i for i, n in enumerate(lengths) if n >= need]
        self.lengths = [lengths[i] for i in self.indices]
        self.skipped = [videos.video_name(i) for i, n in enumerate(lengths) if n < need]
        if not self.indices:
            raise DatasetError(
                f"ClipDataset: all {len(lengths)} videos of {videos!r} are shorter than the {need} frames that "
                f"{self.sampler!r} needs (longest has {max(lengths, default=0)} frames)"
            )
        if self.skipped:
            warnings.warn(
                f"ClipDataset: skipped {len(self.skipped)} of {len(lengths)} videos shorter than {need} frames, the "
                f"minimum for {self.sampler!r} (e.g. '{self.skipped[0]}'); {len(self.indices)} remain",
                stacklevel=2,
            )
        self._draws = 0

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def __len__(self) -> int:
        return len(self.indices)

    def _rng(self, item: int) -> np.random.Generator:
        worker = get_worker_info()
        worker_seed = worker.seed % (1 << 63) if worker is not None else 0
        self._draws += 1
        return np.random.default_rng([self.seed % (1 << 63), worker_seed, int(item), self._draws])

    def __getitem__(self, item: int) -> dict[str, Any]:
        if not -len(self) <= item < len(self):
            raise IndexError(f"ClipDataset: item {item} out of range ({len(self)} usable videos)")
        item = int(item) % len(self)
        return self.clip(item, self._rng(item))

    def clip(self, item: int, rng: np.random.Generator) -> dict[str, Any]:
        """Video ``item``'s window and frames drawn from ``rng`` (the training loop seeds it per draw position)."""
        video, length = self.indices[item], self.lengths[item]
        window = min(length, self.max_num_frames)
        window_start = int(rng.integers(0, length - window + 1))
        times = self.sampler.sample(window, rng, continuous=False)
        frames = self.videos.read_frames(video, (window_start + times).astype(np.int64).tolist())
        return {"frames": frames, "times": torch.from_numpy(times.astype(np.float32)), "video": video}

    def sample_fake_times(self, batch_size: int, rng: np.random.Generator, continuous: bool = True) -> torch.Tensor:
        """Generator time stamps drawn the official way; see :func:`sample_fake_times`."""
        return sample_fake_times(
            self.lengths, self.sampler, batch_size, rng, continuous, max_num_frames=self.max_num_frames
        )


def sample_fake_times(
    videos: ClipDataset | VideoDataset | Sequence[int],
    sampler: FrameSampler | str | dict,
    batch_size: int,
    rng: np.random.Generator,
    continuous: bool = True,
    max_num_frames: int = 1024,
) -> torch.Tensor:
    """Time stamps for ``batch_size`` fake clips -> float32 ``[B, k]``, as StyleGAN-V's training loop draws them.

    For each clip: ``L = min(length of a random real video, max_num_frames)``, then
    ``sampler.sample(L, rng, continuous)``. So the generator's time offsets follow the real length
    distribution; ``continuous=True`` (for continuous-time generators) makes the start real-valued.
    ``videos`` is a ClipDataset (its usable lengths and ``max_num_frames``), a VideoDataset, or lengths.
    """
    sampler = build_sampler(sampler)
    if isinstance(videos, ClipDataset):
        lengths, max_num_frames = videos.lengths, videos.max_num_frames
    elif isinstance(videos, VideoDataset):
        lengths = videos.lengths()
    else:
        lengths = [int(n) for n in videos]
    lengths = [min(n, max_num_frames) for n in lengths if n >= sampler.min_video_length]
    if not lengths:
        raise DatasetError(
            f"sample_fake_times: no video is long enough for {sampler!r} (needs {sampler.min_video_length} frames)"
        )
    picks = rng.integers(0, len(lengths), size=batch_size)
    times = (
        np.stack([sampler.sample(lengths[p], rng, continuous=continuous) for p in picks])
        if batch_size
        else np.zeros((0, sampler.num_frames))
    )
    return torch.from_numpy(times.astype(np.float32))
