"""The helpers every dataset shares: square fitting, hashing, errors.

The contract, ``VideoDataset``, is in ``registry.interfaces``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import statistics
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


SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # PNG/TIFF 16-bit grey; "I" as PIL may widen it
STORED_BITS = "sgvb_stored_bits"  # image.info key: bits per channel in the file (PIL forgets it for colour)


def load_image(source: bytes | os.PathLike) -> Image.Image:
    """Open and decode one image file, noting its bits per channel as stored in ``image.info[STORED_BITS]``.

    Why: PIL decodes 16-bit colour PNG/TIFF (RGB, RGBA, grey+alpha) straight to 8-bit modes, keeping each value's
    high byte, and nothing after decoding says the file had 16 bits; only the decoder's raw mode (``RGB;16B``)
    does, and it is gone once the image is loaded. PIL's exceptions pass through (callers name the file).
    """
    image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    raw = image.tile[0].args if image.tile else None
    raw = raw[0] if isinstance(raw, tuple) and raw else raw
    if isinstance(raw, str) and ";16" in raw:
        image.info[STORED_BITS] = 16
    image.load()
    return image


def bit_depth(image: Image.Image) -> int:
    """Bits per channel of a frame as stored: 16 for 16-bit PNG/TIFF (grey ``I;16``/``I``, and colour read through
    ``load_image``), 32 for float, else 8 (1 for bilevel)."""
    if image.mode in SIXTEEN_BIT_MODES:
        return 16
    return image.info.get(STORED_BITS) or {"F": 32, "1": 1}.get(image.mode, 8)


def to_rgb8(image: Image.Image) -> Image.Image:
    """8-bit RGB of any frame. 16-bit values keep their high byte (``v >> 8``), the rule PIL applies to 16-bit colour
    while decoding and libpng's: grey and colour 16-bit frames read alike, and a 16-bit file made from 8-bit values
    (``v * 257``) gives them back exactly. PIL's ``convert("RGB")`` would clip 16-bit grey at 255 (a mid-grey
    frame read as white); palette, RGBA, LA and the 8-bit modes go through it, which is right for them. Float
    frames (no defined range) are refused."""
    if image.mode == "RGB":
        return image
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError(f"{image.mode} frame holds values outside 0..65535 ({values.min()}..{values.max()})")
        grey = (values >> 8).astype(np.uint8)  # [H, W]
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=-1))  # [H, W, 3]
    if image.mode == "F":
        raise ValueError("a floating-point frame has no defined range; convert it to 8- or 16-bit images first")
    return image.convert("RGB")


def fit_square(image: Image.Image, resolution: int) -> Image.Image:
    """Resize the shorter side to ``resolution`` (LANCZOS), then centre-crop to a square; RGB out.

    This is what every dataset and the converter do to frames that are not already ``resolution``
    squared, so non-square or odd-sized sources never stretch.
    """
    image = to_rgb8(image)
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
    image = to_rgb8(image)
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return crop_box(image, (left, top, left + side, top + side), resolution)


def crop_box(image: Image.Image, box: tuple[int, int, int, int], resolution: int) -> Image.Image:
    """Crop ``box`` = (left, top, right, bottom) and resize it to ``resolution`` squared (LANCZOS); RGB out."""
    image = to_rgb8(image)
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


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    """Min, median, mean and max of video lengths in frames: the one summary ``sgvb prepare``'s manifest and
    ``sgvb check-dataset`` both print (they used to take different medians of an even count: the mean of the two
    middle lengths, and the upper one). The median is ``statistics.median`` (the mean of the middle two)."""
    if not lengths:
        raise ValueError("no video lengths to summarise")
    return {
        "min": min(lengths),
        "median": statistics.median(lengths),
        "mean": round(statistics.fmean(lengths), 2),
        "max": max(lengths),
    }


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
