"""The helpers every dataset shares: square fitting, hashing, errors.

The contract, ``VideoDataset``, is in ``registry.interfaces``.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from registry.interfaces import VideoDataset  # noqa: F401 (re-exported: the contract)


class DatasetError(ValueError):
    """Bad dataset input (missing path, wrong layout, unreadable frame); the message names the file at fault."""


def fit_square(image: Image.Image, resolution: int) -> Image.Image:
    """Resize the shorter side to ``resolution`` (LANCZOS), then centre-crop to a square; RGB out.

    This is what every dataset and the converter do to frames that are not already ``resolution``
    squared, so non-square or odd-sized sources never stretch.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    if (w, h) == (resolution, resolution):
        return image
    scale = resolution / min(w, h)
    new_w, new_h = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    image = image.resize((new_w, new_h), Image.LANCZOS)
    left, top = (new_w - resolution) // 2, (new_h - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


def crop_then_resize(image: Image.Image, resolution: int) -> Image.Image:
    """Centre-crop to a square first, then resize it to ``resolution`` (LANCZOS); RGB out.

    The order of StyleGAN-V's single-video converter (RainbowJelly); :func:`fit_square` resizes first.
    The two agree on geometry and differ only in resampling, but a bit-faithful rebuild needs the order.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return crop_box(image, (left, top, left + side, top + side), resolution)


def crop_box(image: Image.Image, box: tuple[int, int, int, int], resolution: int) -> Image.Image:
    """Crop ``box`` = (left, top, right, bottom) and resize it to ``resolution`` squared (LANCZOS); RGB out."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    image = image.crop(box)
    return image if image.size == (resolution, resolution) else image.resize((resolution, resolution), Image.LANCZOS)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image from its header, without decoding pixels.

    JPEG headers are walked marker by marker here (about 50x faster than PIL's parser, which matters when
    every frame of a 100k-frame dataset is checked up front); other formats go through ``PIL.Image.open``.
    Raises ValueError or PIL's errors for data that is no image.
    """
    if data[:2] != b"\xff\xd8":
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ValueError(f"JPEG header corrupt at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_SOF:
            if i + 9 > n:
                break
            height, width = struct.unpack_from(">HH", data, i + 5)
            if not width or not height:
                raise ValueError(f"JPEG frame header gives size {width}x{height}")
            return width, height
        if marker == 0xD9 or marker == 0xDA:  # end of image / start of scan before any frame header
            raise ValueError("JPEG has no frame header (SOF) before its image data")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            i += 2
            continue
        i += 2 + struct.unpack_from(">H", data, i + 2)[0]
    raise ValueError("JPEG header truncated before its frame header (SOF)")


class ResizeReporter:
    """Counts frames that needed resizing and warns once per dataset (and once for mixed sizes within a video)."""

    def __init__(self, dataset_desc: str, resolution: int):
        self.dataset_desc = dataset_desc
        self.resolution = resolution
        self.resized_frames = 0
        self._warned_resize = False
        self._warned_mixed = False

    def report(self, video: str, sizes: Sequence[tuple[int, int]]) -> None:
        """``sizes``: (width, height) of each frame just read from ``video``."""
        target = (self.resolution, self.resolution)
        off = [s for s in sizes if s != target]
        self.resized_frames += len(off)
        if off and not self._warned_resize:
            self._warned_resize = True
            warnings.warn(
                f"{self.dataset_desc}: {len(off)} of {len(sizes)} frames read from video '{video}' are "
                f"{off[0][0]}x{off[0][1]}, not {target[0]}x{target[1]}; frames are resized (shorter side, LANCZOS) "
                f"and centre-cropped to {target[0]}x{target[1]}. "
                "Convert the data once (`sgvb convert`) to avoid this cost. "
                f"(Warned once; `resized_frames` keeps the running count.)",
                stacklevel=3,
            )
        distinct = sorted(set(sizes))
        if len(distinct) > 1 and not self._warned_mixed:
            self._warned_mixed = True
            counts = {s: sum(1 for x in sizes if x == s) for s in distinct}
            desc = ", ".join(f"{n} frames of {w}x{h}" for (w, h), n in counts.items())
            warnings.warn(
                f"{self.dataset_desc}: video '{video}' mixes frame sizes ({desc}); each frame is resized "
                f"(shorter side) and centre-cropped to {target[0]}x{target[1]} independently. (Warned once.)",
                stacklevel=3,
            )


def stack_frames(frames: Sequence[np.ndarray], resolution: int) -> torch.Tensor:
    """uint8 ``[H, W, C]`` arrays -> uint8 tensor ``[T, H, W, C]`` (``[0, R, R, 3]`` when empty)."""
    if not frames:
        return torch.zeros(0, resolution, resolution, 3, dtype=torch.uint8)
    return torch.from_numpy(np.stack(frames, axis=0))


def hash_items(*items: Any) -> str:
    """A short stable hash (sha256, 16 hex) of JSON-serialisable items."""
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
