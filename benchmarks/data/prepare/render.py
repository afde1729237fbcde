"""One video of a raw dataset -> one finished part (a small zip of ``%06d.jpg`` frames), in a worker process.

A worker streams: it decodes a frame, crops and resizes it, encodes it as JPEG and appends it to the
part, so at most one source frame (plus the decoder's own buffers) is in memory, whatever the video's
length or resolution. The part is written to a temporary name and renamed only when complete, so a
killed worker leaves nothing that a resumed run could mistake for a finished video; a worker whose
run was killed stops (``die_with_parent``) and never renames a part into place.
"""

from __future__ import annotations

import ctypes
import dataclasses
import io
import json
import os
import signal
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.data.base import DatasetError, crop_box, crop_then_resize, fit_square, load_image
from benchmarks.data.convert import decode_resampled
from benchmarks.data.frames import IMAGE_EXTENSIONS
from benchmarks.data.video_files import decode_frames
from benchmarks.data.zips import ZIP_DATE
from registry.files import atomic_path
from registry.interfaces import VideoJob

CROPS = VideoJob.CROPS
MASK_THRESHOLD = 5  # a mask pixel belongs to the face when any channel exceeds this (the official FFS value)
PART_INFO = "info.json"


class ParentGone(RuntimeError):
    """The run that started this worker is gone (killed): its part must not be put in place."""


def die_with_parent(parent: int) -> None:
    """Pool initializer: ask Linux to SIGKILL this worker when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the parent check in render_part still keeps an orphan's part out
    if os.getppid() != parent:
        os._exit(1)


def frame_files(folder: Path) -> list[Path]:
    """Image files of a frame folder in time (= sorted name) order; hidden files are skipped."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def _open_image(path: Path) -> Image.Image:
    try:
        return load_image(path)  # 16-bit frames: to_rgb8 (in the crops) scales them, never clips to white
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError ... for bad files
        raise DatasetError(f"cannot read frame '{path}': not a readable image ({type(exc).__name__}: {exc})") from exc


def source_frames(job: VideoJob, fps: float | None) -> Iterator[Image.Image]:
    """The job's source frames as PIL images, streamed."""
    path = Path(job.source)
    if job.kind == "frames":
        files = frame_files(path)
        if not files:
            raise DatasetError(f"'{path}' holds no frame images ({', '.join(IMAGE_EXTENSIONS)})")
        stop = None if job.count is None else job.start + job.count
        for f in files[job.start : stop]:
            yield _open_image(f)
        return
    if job.count is not None:  # a range of a long video: seek to its start (no decoding of what comes before)
        for _, image in decode_frames(path, list(range(job.start, job.start + job.count))):
            yield image
        return
    for k, image in enumerate(decode_resampled(path, fps=fps)):
        if k >= job.start:
            yield image


def mask_box(mask: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box (left, top, right, bottom) of the mask's face pixels, or None when it has none."""
    a = np.asarray(mask.convert("RGB")).max(axis=2) > MASK_THRESHOLD
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def square_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """The smallest square holding ``box``, centred on it, moved (not shrunk) to lie inside the frame.

    A box wider than the frame's shorter side is capped at that side (the crop can never leave the frame).
    """
    left, top, right, bottom = box
    side = min(max(right - left, bottom - top), width, height)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, x0 + side, y0 + side


def face_boxes(job: VideoJob, fps: float | None) -> list[tuple[int, int, int, int]]:
    """One square crop box per frame from the mask video (first pass; only boxes are kept).

    Frames whose mask is empty borrow the nearest earlier box (the first non-empty one at the start);
    ``mask_per_video`` uses the union of all boxes, squared, for every frame (stable, wider crops).
    """
    mask_job = dataclasses.replace(job, source=job.mask, kind="video", crop="fit", mask=None)
    raw, size = [], None
    for image in source_frames(mask_job, fps):
        size = image.size
        raw.append(mask_box(image))
    found = [b for b in raw if b is not None]
    if not found:
        raise DatasetError(
            f"mask video '{job.mask}' has no face pixels (no value above {MASK_THRESHOLD}) "
            f"in any of its {len(raw)} frames"
        )
    if job.crop == "mask_per_video":
        union = (min(b[0] for b in found), min(b[1] for b in found), max(b[2] for b in found), max(b[3] for b in found))
        return [square_box(union, *size)] * len(raw)
    boxes, last = [], found[0]
    for b in raw:
        last = b if b is not None else last
        boxes.append(square_box(last, *size))
    return boxes


def processed_frames(job: VideoJob, resolution: int, fps: float | None) -> Iterator[Image.Image]:
    """Source frames cropped and resized to ``resolution`` squared."""
    if job.crop == "fit":
        yield from (fit_square(im, resolution) for im in source_frames(job, fps))
    elif job.crop == "crop_resize":
        yield from (crop_then_resize(im, resolution) for im in source_frames(job, fps))
    elif job.crop in ("mask_per_frame", "mask_per_video"):
        boxes = face_boxes(job, fps)
        for k, image in enumerate(source_frames(job, fps)):
            if k >= len(boxes):  # the original outlasts its mask: stop where the mask stops
                return
            left, top, right, bottom = boxes[k]
            if right > image.size[0] or bottom > image.size[1]:
                raise DatasetError(
                    f"'{job.source}' ({image.size[0]}x{image.size[1]}) is smaller than its mask video '{job.mask}'; "
                    "expected equal sizes"
                )
            yield crop_box(image, boxes[k], resolution)
    else:
        raise DatasetError(f"unknown crop '{job.crop}' (expected one of {CROPS})")


def render_part(
    job: VideoJob, part: str, resolution: int, quality: int, fps: float | None, parent: int | None = None
) -> dict:
    """Write ``job``'s frames to the part zip ``part`` (atomically); returns its info (frames, source).

    ``parent``: the pid of the run that asked (a pool worker's parent); if it is gone when the part is done,
    the part is dropped instead of renamed into place (a killed run's orphan never writes behind a resumed one).
    """
    count = 0
    try:
        with atomic_path(part, sweep=False) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for image in processed_frames(job, resolution, fps):
                buf = io.BytesIO()
                image.save(buf, format="JPEG", quality=quality)
                zf.writestr(zipfile.ZipInfo(f"{count:06d}.jpg", date_time=ZIP_DATE), buf.getvalue())
                count += 1
            if count == 0:
                raise DatasetError(f"'{job.source}' decoded to no frames")
            if job.count is not None and count != job.count:
                raise DatasetError(
                    f"'{job.source}' gave {count} frames from frame {job.start} on; expected {job.count}"
                )
            info = {"video": job.name, "frames": count, "source": job.source, **job.info}
            zf.writestr(zipfile.ZipInfo(PART_INFO, date_time=ZIP_DATE), json.dumps(info))
            if parent is not None and os.getppid() != parent:
                raise ParentGone(f"the prepare that asked for '{part}' is gone")
    except (ParentGone, DatasetError):
        raise
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) == Path(part):  # writing the part failed (a full disk):
            raise  # the error names the output's part file, not the video that was being read
        raise DatasetError(f"cannot prepare '{job.source}': {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # PyAV / PIL failures: name the source
        raise DatasetError(f"cannot prepare '{job.source}': {type(exc).__name__}: {exc}") from exc
    return info
