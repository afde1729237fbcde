"""Videos read straight from files (mp4, avi, webm, mov, mkv, ...) with PyAV."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from benchmarks.data.base import DatasetError, ResizeReporter, VideoDataset, fit_square, hash_items, stack_frames
from registry import DATASETS
from registry.files import atomic_write_json, user_cache_dir

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".gif")
_SEEK_MIN_INDEX = 48  # below this, decoding from the start is as cheap as seeking


def find_videos(root: Path) -> list[Path]:
    """Video files under ``root`` (recursively), sorted by relative path; hidden files are skipped."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in VIDEO_EXTENSIONS
        and not any(s.startswith(".") for s in p.relative_to(root).parts)
    )


@DATASETS.register("mp4", aliases=["video_files", "videos"])
class VideoFilesDataset(VideoDataset):
    """A folder of video files (searched recursively; names are relative paths without the suffix).

    Frames are decoded with PyAV, resized (shorter side, LANCZOS) and centre-cropped to ``resolution``.
    Reading decodes only up to the last frame asked for, and seeks to the nearest key frame first when the
    first frame asked for is far into the video. Lengths are counted from the container (packets, no
    decoding) once, then cached in memory and on disk under ``$SGVB_CACHE_DIR`` keyed by the fingerprint.
    ``max_num_frames`` keeps the first frames of each video; ``num_videos`` the first videos by name.
    """

    def __init__(
        self,
        path: str,
        resolution: int = 128,
        max_num_frames: int | None = None,
        num_videos: int | None = None,
        check: bool = True,
    ):
        self.path = Path(os.path.expanduser(str(path)))
        self.resolution = int(resolution)
        self.max_num_frames = None if max_num_frames is None else int(max_num_frames)
        self.num_videos = None if num_videos is None else int(num_videos)
        if not self.path.exists():
            raise DatasetError(f"mp4: dataset path '{self.path}' does not exist")
        if not self.path.is_dir():
            raise DatasetError(
                f"mp4: '{self.path}' is not a directory; give a folder of video files ({', '.join(VIDEO_EXTENSIONS)})"
            )
        files = find_videos(self.path)
        if not files:
            raise DatasetError(f"mp4: no video files ({', '.join(VIDEO_EXTENSIONS)}) found in '{self.path}'")
        if self.num_videos is not None:
            files = files[: self.num_videos]
        self._files = files
        self._names = [f.relative_to(self.path).with_suffix("").as_posix() for f in files]
        self._lengths: list[int] | None = None
        self._fingerprint: str | None = None
        self._resize = ResizeReporter(f"mp4 dataset '{self.path}'", self.resolution)
        self._warned_short = False
        if check:  # the cheap up-front check: every container opens and counts its frames (cached on disk)
            self._all_lengths()

    def __len__(self) -> int:
        return len(self._files)

    def video_name(self, i: int) -> str:
        return self._names[self._check_video_index(i)]

    def video_file(self, i: int) -> Path:
        return self._files[self._check_video_index(i)]

    def video_length(self, i: int) -> int:
        i = self._check_video_index(i)
        n = self._all_lengths()[i]
        return n if self.max_num_frames is None else min(n, self.max_num_frames)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            entries = []
            for f, name in zip(self._files, self._names):
                st = f.stat()
                entries.append((name, f.suffix.lower(), st.st_size, st.st_mtime_ns))
            params = {
                "resolution": self.resolution,
                "max_num_frames": self.max_num_frames,
                "num_videos": self.num_videos,
            }
            self._fingerprint = hash_items("mp4", entries, params)
        return self._fingerprint

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        i = self._check_video_index(i)
        indices = self._check_frame_indices(i, frame_indices)
        if not indices:
            return stack_frames([], self.resolution)
        wanted = sorted(set(indices))
        decoded: dict[int, np.ndarray] = {}
        sizes = []
        for k, image in decode_frames(self._files[i], wanted):
            sizes.append(image.size)
            decoded[k] = np.asarray(fit_square(image, self.resolution), dtype=np.uint8)
        missing = [k for k in wanted if k not in decoded]
        if missing:
            if not decoded:
                raise DatasetError(
                    f"mp4: video '{self._files[i]}' decoded no frame at indices {missing[:5]} "
                    f"(counted length {self.video_length(i)})"
                )
            if not self._warned_short:
                self._warned_short = True
                warnings.warn(
                    f"mp4: video '{self._files[i]}' decoded fewer frames than its container reports "
                    f"(frame {missing[0]} missing of {self.video_length(i)}); "
                    "repeating its last decoded frame. (Warned once.)",
                    stacklevel=2,
                )
            last = decoded[max(decoded)]
            for k in missing:
                decoded[k] = decoded.get(max((d for d in decoded if d < k), default=-1), last)
        self._resize.report(self._names[i], sizes)
        return stack_frames([decoded[k] for k in indices], self.resolution)

    @property
    def resized_frames(self) -> int:
        return self._resize.resized_frames

    def raw_frames(self, i: int, errors: list[str]):
        """Yield ``(k, PIL image)`` for every decoded frame of video ``i`` as stored; a decoding failure goes to
        ``errors``."""
        k = -1
        try:
            for k, image in decode_frames(self._files[i], list(range(self.video_length(i)))):
                yield k, image
        except DatasetError as exc:
            errors.append(f"after frame {k}: {exc}")

    # ------------------------------------------------------------------ lengths
    def _all_lengths(self) -> list[int]:
        if self._lengths is None:
            cache = user_cache_dir() / "video_lengths" / f"{hash_items('mp4-lengths', self._raw_identity())}.json"
            try:
                lengths = json.loads(cache.read_text())
                if len(lengths) != len(self._files):
                    raise ValueError
            except (OSError, ValueError):
                lengths = [count_frames(f) for f in self._files]
                with contextlib.suppress(OSError):  # a read-only cache is not an error: lengths are recounted next time
                    atomic_write_json(cache, lengths)
            self._lengths = [int(n) for n in lengths]
        return self._lengths

    def _raw_identity(self) -> list:
        return [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in self._files]


def open_video(path: Path):
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        raise DatasetError(f"mp4: cannot open video '{path}' ({type(exc).__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise DatasetError(f"mp4: '{path}' has no video stream")
    return container


def count_frames(path: Path) -> int:
    """Number of frames of a video file, from the container's packets (no decoding)."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        n = sum(1 for packet in container.demux(stream) if packet.size > 0)
    except Exception as exc:
        raise DatasetError(f"mp4: cannot read video '{path}' ({type(exc).__name__}: {exc})") from exc
    finally:
        container.close()
    if n == 0:
        raise DatasetError(f"mp4: video '{path}' has no frames")
    return n


def decode_frames(path: Path, wanted: list[int]) -> Iterator[tuple[int, "object"]]:
    """Yield ``(index, PIL image)`` for the sorted frame indices ``wanted``; seeks when that pays off."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = _seek_and_decode(container, stream, wanted[0]) if wanted[0] >= _SEEK_MIN_INDEX else None
        if frames is None and wanted[0] >= _SEEK_MIN_INDEX:  # the seek was tried: start over on a fresh handle
            container.close()
            container = open_video(path)
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
        if frames is None:
            frames = enumerate(container.decode(stream))
        pos = 0
        for index, frame in frames:
            while pos < len(wanted) and wanted[pos] < index:  # a frame the decoder never produced stays missing
                pos += 1
            if pos == len(wanted):
                return
            if wanted[pos] == index:
                yield index, frame.to_image()
                pos += 1
                if pos == len(wanted):
                    return
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"mp4: cannot decode video '{path}' ({type(exc).__name__}: {exc})") from exc
    finally:
        container.close()


def _seek_and_decode(container, stream, first: int):
    """Seek to the key frame before frame ``first``; frames are numbered from their timestamps.

    Returns None (decode from the start instead) when the stream has no usable frame rate or timestamps,
    or when the seek lands after the wanted frame.
    """
    rate, time_base = stream.average_rate, stream.time_base
    if not rate or not time_base:
        return None
    start_pts = stream.start_time or 0
    target_pts = start_pts + int((Fraction(first) / Fraction(rate)) / Fraction(time_base))
    container.seek(target_pts, stream=stream, backward=True, any_frame=False)
    decoder = container.decode(stream)
    try:
        head = next(decoder)
    except StopIteration:
        return None
    if head.pts is None:
        return None

    def number(frame) -> int:
        return round(float((frame.pts - start_pts) * time_base * rate))

    if number(head) > first:
        return None

    def frames():
        yield number(head), head
        for frame in decoder:
            if frame.pts is None:
                return
            yield number(frame), frame

    return frames()
