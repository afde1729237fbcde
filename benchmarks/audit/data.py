"""The two sides of a metric audit: a reference half of real videos and a distorted test half.

Videos are split by index parity (reference = even, test = odd), so sorted-by-category data lands in
both halves alike. The distorted test half is a lazy dataset: a batch of test clips is read, distorted
on uint8 tensors and kept while the metric reads it (a few batches at a time), so memory does not grow
with the number of videos. Every test clip starts at one seeded offset for all distortions and
strengths, so strength 0 is the same undistorted clip for every distortion (the metric's noise floor).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence

import numpy as np
import torch

from benchmarks.data.base import hash_items
from registry.interfaces import Distortion


class SubsetVideos:
    """Videos ``indices`` of ``base`` as a dataset of their own (``label`` names the subset in its fingerprint)."""

    def __init__(self, base, indices: Sequence[int], label: str):
        self.base, self.indices, self.label = base, [int(i) for i in indices], label
        self.resolution = int(base.resolution)
        self.path = f"{getattr(base, 'path', '') or type(base).__name__}[{label}]"

    def __len__(self) -> int:
        return len(self.indices)

    def video_name(self, i: int) -> str:
        return f"{self.label}_{self.indices[i]:06d}"

    def video_length(self, i: int) -> int:
        return int(self.base.video_length(self.indices[i]))

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        return self.base.read_frames(self.indices[i], frame_indices)

    def fingerprint(self) -> str:
        return hash_items("subset", self.base.fingerprint(), self.label, self.indices)


def split_halves(dataset, num_videos: int) -> tuple[SubsetVideos, SubsetVideos]:
    """(reference, test): even and odd videos, ``num_videos`` each."""
    if len(dataset) < 2 * num_videos:
        raise ValueError(
            f"audit: num_videos={num_videos} per half needs {2 * num_videos} videos, "
            f"the dataset has {len(dataset)}; lower num_videos"
        )
    return (
        SubsetVideos(dataset, range(0, 2 * num_videos, 2), "reference"),
        SubsetVideos(dataset, range(1, 2 * num_videos, 2), "test"),
    )


def clip_offsets(test: SubsetVideos, source_frames: int, seed: int) -> list[int]:
    """One seeded start frame per test video, leaving ``source_frames`` frames to read."""
    offsets = []
    for i in range(len(test)):
        room = test.video_length(i) - source_frames
        if room < 0:
            raise ValueError(
                f"audit: test video {test.video_name(i)} has {test.video_length(i)} frames; the chosen metrics and "
                f"distortions read {source_frames} (lower the metrics' frames, or drop speed_change / frame_drops)"
            )
        offsets.append(int(np.random.default_rng([seed, test.indices[i]]).integers(0, room + 1)))
    return offsets


class SourceClips:
    """The test half's source clips (``source_frames`` from each seeded offset), read once and kept when they fit
    ``max_bytes``.

    Every distortion and strength reads the same clips, so keeping them saves one decode (or render) per evaluation.
    """

    def __init__(self, test: SubsetVideos, source_frames: int, seed: int, max_bytes: int = 2**30):
        self.test, self.source_frames = test, int(source_frames)
        self.offsets = clip_offsets(test, self.source_frames, seed)
        self.keep = len(test) * self.source_frames * test.resolution**2 * 3 <= max_bytes
        self._clips: dict[int, torch.Tensor] = {}

    def read(self, i: int, num_frames: int) -> torch.Tensor:
        """The first ``num_frames`` source frames of test video ``i``: uint8 ``[num_frames, H, W, C]``."""
        if i in self._clips:
            return self._clips[i][:num_frames]
        clip = self.test.read_frames(
            i, range(self.offsets[i], self.offsets[i] + (self.source_frames if self.keep else num_frames))
        )
        if self.keep:
            self._clips[i] = clip
        return clip[:num_frames]


class DistortedVideos:
    """The test half with ``distortion`` at ``strength`` applied: videos of ``num_frames`` frames, made batch by
    batch."""

    def __init__(
        self,
        source: SourceClips,
        distortion: Distortion,
        name: str,
        strength: float,
        num_frames: int,
        *,
        batch_size: int = 16,
        seed: int = 0,
        keep_batches: int = 4,
    ):
        self.source, self.test, self.distortion, self.name = source, source.test, distortion, name
        self.strength, self.num_frames, self.seed = float(strength), int(num_frames), int(seed)
        self.resolution = self.test.resolution
        self.path = f"{self.test.path}+{name}@{strength:g}"
        self.source_frames = distortion.source_frames(self.num_frames)
        n = len(self.test)
        # equal batches, none of a single video (content_switch borrows content within a batch)
        self.batches = [list(b) for b in np.array_split(np.arange(n), max(1, n // max(2, batch_size)))]
        self.batch_of = {int(i): k for k, b in enumerate(self.batches) for i in b}
        self._kept: collections.OrderedDict[int, torch.Tensor] = collections.OrderedDict()
        self._keep, self._lock = int(keep_batches), threading.Lock()

    def __len__(self) -> int:
        return len(self.test)

    def video_name(self, i: int) -> str:
        return self.test.video_name(i)

    def video_length(self, i: int) -> int:
        return self.num_frames

    def fingerprint(self) -> str:
        return hash_items(
            "distorted",
            self.test.fingerprint(),
            self.source.offsets,
            self.name,
            self.strength,
            self.num_frames,
            self.seed,
        )

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        k = self.batch_of[int(i)]
        with self._lock:
            if k not in self._kept:
                self._kept[k] = self._make(k)
                while len(self._kept) > self._keep:
                    self._kept.popitem(last=False)
            videos = self._kept[k]
        return videos[self.batches[k].index(i)][list(frame_indices)]

    def _make(self, k: int) -> torch.Tensor:
        members = self.batches[k]
        source = torch.stack([self.source.read(i, self.source_frames) for i in members])  # [B, S, H, W, C]
        generator = torch.Generator().manual_seed(
            int(np.random.SeedSequence([self.seed, k, int(self.strength * 1e6)]).generate_state(1)[0])
        )
        return self.distortion(source, self.strength, self.num_frames, generator)
