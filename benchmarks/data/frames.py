"""The StyleGAN-V frames layout: one folder of image files per video, in a directory or a zip, and the cheap
up-front check every such dataset runs when it is built (``quick_check``; the full check is ``checks.py``)."""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from benchmarks.data.base import (
    DatasetError,
    ResizeReporter,
    VideoDataset,
    fit_square,
    hash_items,
    image_size,
    load_image,
    stack_frames,
    to_rgb8,
)
from registry import DATASETS
from registry.files import user_cache_dir

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LAYOUT_HELP = (
    "expected one sub-folder of frames per video: '<video>/<frame>.jpg' (or .png), optionally all under one "
    "top-level folder: '<top>/<video>/<frame>.jpg'"
)


@DATASETS.register("frames", aliases=["frame_folder"])
class FramesDataset(VideoDataset):
    """Videos stored as frames: ``path`` is a directory or a ``.zip`` (StyleGAN-V's format).

    Accepted layouts (directory or zip alike): ``<video>/<frame>.<ext>`` at the root, or the same under a
    single top-level folder ``<top>/<video>/<frame>.<ext>`` (what ``zip -r name.zip name/`` and
    ``sgvb convert`` produce); directory entries in a zip are optional. Frames of a video are ordered by
    sorted file name (so names must be zero-padded, e.g. ``%06d.jpg``); other files (``dataset.json``)
    are ignored. Videos may have different lengths. Frames not ``resolution`` squared are resized
    (shorter side, LANCZOS) and centre-cropped, with a warning.

    ``max_num_frames`` keeps only the first frames of each video (None: all); ``num_videos`` keeps the
    first videos in name order (None: all). Random windows for training are ``ClipDataset``'s job.
    The zip is opened lazily once per process, so forked DataLoader workers each get their own handle.
    ``check`` runs the cheap up-front check (every frame's header; see ``quick_check``), so a missing
    or corrupt frame fails at construction with its name rather than hours into training or evaluation.
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
        if self.resolution < 1:
            raise DatasetError(f"frames: resolution must be positive, got {resolution!r}")
        if self.max_num_frames is not None and self.max_num_frames < 1:
            raise DatasetError(f"frames: max_num_frames must be >= 1 or None, got {max_num_frames!r}")
        if not self.path.exists():
            raise DatasetError(f"frames: dataset path '{self.path}' does not exist")
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None
        self._is_zip = self.path.is_file()
        if self._is_zip:
            if not zipfile.is_zipfile(self.path):
                raise DatasetError(f"frames: '{self.path}' is a file but not a zip archive; give a directory or a .zip")
            with zipfile.ZipFile(self.path) as zf:
                infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
            self._entry_ids = {name: (info.CRC, info.file_size) for name, info in infos.items()}
            names = list(infos)
        else:
            names = _walk_files(self.path)
            self._entry_ids = None
        prefix, videos = _group_by_video(names, str(self.path))
        self._prefix = prefix
        video_names = sorted(videos)
        if self.num_videos is not None:
            if self.num_videos < 1:
                raise DatasetError(f"frames: num_videos must be >= 1 or None, got {num_videos!r}")
            video_names = video_names[: self.num_videos]
        self._videos = video_names
        self._frames = [videos[v] for v in video_names]
        self._fingerprint: str | None = None
        self._resize = ResizeReporter(f"frames dataset '{self.path}'", self.resolution)
        if check:
            quick_check(self)

    # ------------------------------------------------------------------ contract
    def __len__(self) -> int:
        return len(self._videos)

    def video_name(self, i: int) -> str:
        return self._videos[self._check_video_index(i)]

    def video_length(self, i: int) -> int:
        n = len(self._frames[self._check_video_index(i)])
        return n if self.max_num_frames is None else min(n, self.max_num_frames)

    def frame_names(self, i: int) -> list[str]:
        """File names of video ``i``'s frames in time order."""
        i = self._check_video_index(i)
        return self._frames[i][: self.video_length(i)]

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        i = self._check_video_index(i)
        indices = self._check_frame_indices(i, frame_indices)
        video = self._videos[i]
        decoded: dict[int, np.ndarray] = {}
        sizes = []
        for k in dict.fromkeys(indices):
            frame = self._frames[i][k]
            image = self._load_image(video, frame, k)
            sizes.append(image.size)
            decoded[k] = np.asarray(fit_square(image, self.resolution), dtype=np.uint8)
        self._resize.report(video, sizes)
        return stack_frames([decoded[k] for k in indices], self.resolution)

    @property
    def resized_frames(self) -> int:
        return self._resize.resized_frames

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            entries = []
            for video, frames in zip(self._videos, self._frames):
                for frame in frames:
                    rel = self._member(video, frame)
                    if self._is_zip:
                        entries.append((rel, *self._entry_ids[rel]))
                    else:
                        st = (self.path / rel).stat()
                        entries.append((rel, st.st_size, st.st_mtime_ns))
            params = {
                "resolution": self.resolution,
                "max_num_frames": self.max_num_frames,
                "num_videos": self.num_videos,
            }
            self._fingerprint = hash_items("frames", "zip" if self._is_zip else "dir", entries, params)
        return self._fingerprint

    # ------------------------------------------------------------------ checks
    def frame_size(self, i: int, k: int) -> tuple[int, int]:
        """(width, height) of frame ``k`` of video ``i`` as stored, from its header (no pixel decoding).

        The file is read whole (one read; in a zip this also verifies its CRC) and its header parsed from
        memory (``image_size``), far faster than letting PIL read it piecewise from the archive.
        """
        video, frame = self._videos[i], self._frames[i][k]
        member = self._member(video, frame)
        try:
            return image_size(self._zipfile().read(member) if self._is_zip else (self.path / member).read_bytes())
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError ... for bad files
            where = f"'{member}' in '{self.path}'" if self._is_zip else f"'{self.path / member}'"
            raise DatasetError(
                f"frame {k} of video '{video}': {where} is not a readable image ({_reason(exc)})"
            ) from exc

    def raw_frames(self, i: int, errors: list[str]):
        """Yield ``(k, PIL image)`` for every frame of video ``i`` as stored (its own mode: ``to_rgb8`` gives what
        training reads, ``bit_depth`` says how many bits it has); unreadable frames go to ``errors``."""
        video = self._videos[i]
        for k, frame in enumerate(self.frame_names(i)):
            try:
                yield k, self._open_image(video, frame, k)
            except DatasetError as exc:
                errors.append(str(exc))

    # ------------------------------------------------------------------ reading
    def _member(self, video: str, frame: str) -> str:
        return f"{self._prefix}{video}/{frame}"

    def _zipfile(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._zip_pid = os.getpid()
        return self._zip

    def _load_image(self, video: str, frame: str, index: int) -> Image.Image:
        """The frame as 8-bit RGB (16-bit frames scaled, not clipped: ``to_rgb8``)."""
        image = self._open_image(video, frame, index)
        try:
            return to_rgb8(image)
        except ValueError as exc:
            member = self._member(video, frame)
            where = f"'{member}' in '{self.path}'" if self._is_zip else f"'{self.path / member}'"
            raise DatasetError(f"frame {index} ('{frame}') of video '{video}': {where}: {exc}") from None

    def _open_image(self, video: str, frame: str, index: int) -> Image.Image:
        member = self._member(video, frame)
        where = f"'{member}' in '{self.path}'" if self._is_zip else f"'{self.path / member}'"
        try:
            if self._is_zip:
                data = self._zipfile().read(member)
            else:
                data = (self.path / member).read_bytes()
            return load_image(data)
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError ... for bad files
            raise DatasetError(
                f"cannot read frame {index} ('{frame}') of video '{video}': {where} is unreadable or corrupt "
                f"({_reason(exc)})"
            ) from exc

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_zip"], state["_zip_pid"] = None, None  # never pickle an open handle (spawned workers)
        return state

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


def quick_check_marker(fingerprint: str) -> Path:
    """The file that remembers a passed quick check of this exact content (``$SGVB_CACHE_DIR/dataset_checks``)."""
    return user_cache_dir() / "dataset_checks" / f"quick-{fingerprint}.ok"


def quick_check(dataset: FramesDataset) -> None:
    """Cheap up-front check of a frames dataset: every frame's header opens as an image (no pixel decoding).

    Raises DatasetError naming the first bad frame. Sizes are left to the reads (which resize and warn)
    and to the full check (``sgvb check-dataset``). Skipped when this exact content (and these dataset
    parameters) passed before: a pass is remembered per fingerprint, so an unchanged dataset is checked once.
    """
    marker = quick_check_marker(dataset.fingerprint())
    if marker.exists():
        return
    for i in range(len(dataset)):
        for k in range(dataset.video_length(i)):
            dataset.frame_size(i, k)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # a read-only cache only means checking again next time
        pass


def _reason(exc: Exception) -> str:
    """Why a frame did not open, without PIL's in-memory stream repr."""
    return "no image format recognised" if isinstance(exc, UnidentifiedImageError) else f"{type(exc).__name__}: {exc}"


def _walk_files(root: Path) -> list[str]:
    """Relative posix paths of files up to three levels below ``root`` (enough for both layouts)."""
    found = []
    root_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).parts) - root_depth
        dirnames[:] = [] if depth >= 2 else sorted(dirnames)
        rel = Path(dirpath).relative_to(root)
        found.extend((rel / f).as_posix() for f in filenames)
    return found


def _group_by_video(names: list[str], source: str) -> tuple[str, dict[str, list[str]]]:
    """Image paths -> (prefix to strip, {video: sorted frame names}); clear errors for wrong layouts."""
    images = []
    for name in names:
        parts = PurePosixPath(name).parts
        if any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue
        if PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS:
            images.append(parts)
    if not images:
        raise DatasetError(
            f"frames: no frame images ({', '.join(IMAGE_EXTENSIONS)}) found in '{source}'; {LAYOUT_HELP}"
        )
    depths = {len(p) for p in images}
    tops = {p[0] for p in images}
    if depths == {3} and len(tops) == 1:
        prefix = f"{next(iter(tops))}/"
        images = [p[1:] for p in images]
    elif depths == {2}:
        prefix = ""
    else:
        odd = next(p for p in images if len(p) != 2)
        raise DatasetError(f"frames: unexpected layout in '{source}': found '{'/'.join(odd)}'; {LAYOUT_HELP}")
    videos: dict[str, list[str]] = {}
    for video, frame in images:
        videos.setdefault(video, []).append(frame)
    for frames in videos.values():
        frames.sort()
    for video, frames in videos.items():
        stems = [PurePosixPath(f).stem for f in frames]
        if all(s.isdigit() for s in stems) and len({len(s) for s in stems}) > 1:
            warnings.warn(
                f"frames: video '{video}' in '{source}' has frame names that are numbers of different widths "
                f"(e.g. '{frames[0]}', '{frames[-1]}'); frames are ordered by sorted name, so zero-pad them (%06d.jpg)",
                stacklevel=3,
            )
            break
    return prefix, videos
