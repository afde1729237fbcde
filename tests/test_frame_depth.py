"""16-bit PNG/TIFF frames are scaled to 8 bits (not clipped to white), and check-dataset reports the bit depth."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from benchmarks.data.base import bit_depth, fit_square, load_image, to_rgb8
from benchmarks.data.checks import check_dataset
from benchmarks.data.frames import FramesDataset


def write_video(folder, frames: list[Image.Image], suffix: str) -> None:
    folder.mkdir(parents=True)
    for k, image in enumerate(frames):
        image.save(folder / f"{k:03d}{suffix}")


def sixteen_bit(value: int, size: int = 8) -> Image.Image:
    return Image.fromarray(np.full((size, size), value, dtype=np.uint16))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_sixteen_bit_mid_grey_frame_reads_as_mid_grey(tmp_path, suffix):
    write_video(tmp_path / "data" / "v0", [sixteen_bit(32896), sixteen_bit(65535), sixteen_bit(0)], suffix)
    assert Image.open(next((tmp_path / "data" / "v0").iterdir())).mode.startswith("I")
    ds = FramesDataset(str(tmp_path / "data"), resolution=8)
    frames = ds.read_frames(0, [0, 1, 2]).numpy()
    assert frames.dtype == np.uint8
    assert frames[0].mean() == 128 and frames[1].mean() == 255 and frames[2].mean() == 0  # 32896 = 128 * 257


def test_other_modes_keep_converting_as_before():
    rgba = Image.fromarray(np.full((4, 4, 4), [10, 20, 30, 255], dtype=np.uint8))
    assert np.asarray(to_rgb8(rgba))[0, 0].tolist() == [10, 20, 30]
    palette = rgba.convert("RGB").convert("P")
    assert np.asarray(to_rgb8(palette)).shape == (4, 4, 3)
    assert bit_depth(rgba) == 8 and bit_depth(sixteen_bit(1)) == 16
    with pytest.raises(ValueError, match="floating-point"):
        to_rgb8(Image.fromarray(np.zeros((4, 4), dtype=np.float32)))


def test_check_dataset_reports_the_bit_depth(tmp_path):
    write_video(tmp_path / "data" / "v0", [sixteen_bit(1000 * k) for k in range(4)], ".png")
    write_video(tmp_path / "data" / "v1", [Image.new("RGB", (8, 8), (k, k, k)) for k in range(4)], ".png")
    summary = check_dataset(tmp_path / "data", workers=1).summary()
    assert "bit depth: 8-bit (4 frames), 16-bit (4 frames; scaled to 8 bits)" in summary


# ---------------------------------------------------------------- 16-bit colour (PIL cannot write it: hand-made files)
def png16(path, values: np.ndarray) -> None:
    """A 16-bit PNG of ``values`` [H, W, C] (C = 2 grey+alpha, 3 RGB, 4 RGBA), unfiltered rows."""
    h, w, c = values.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, {2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def tiff16(path, values: np.ndarray) -> None:
    """An uncompressed little-endian 16-bit RGB(A) TIFF of ``values`` [H, W, 3 or 4], one strip."""
    h, w, c = values.shape
    data = values.astype("<u2").tobytes()
    tags = {256: (3, w), 257: (3, h), 258: (3, None), 259: (3, 1), 262: (3, 2), 273: (4, None), 277: (3, c)}
    tags |= {278: (3, h), 279: (4, len(data)), 284: (3, 1)} | ({338: (3, 2)} if c == 4 else {})
    bits_at = 8 + 2 + 12 * len(tags) + 4
    strip_at = bits_at + 2 * c
    ifd = struct.pack("<H", len(tags))
    for tag, (kind, value) in sorted(tags.items()):
        value = {258: bits_at, 273: strip_at}.get(tag, value)
        ifd += struct.pack("<HHII", tag, kind, c if tag == 258 else 1, value)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + struct.pack(f"<{c}H", *[16] * c) + data)


COLOUR = np.array([[[386, 255, 65535], [33023, 0, 256]], [[32896, 12850, 25700], [65280, 65535, 1]]], np.uint16)


@pytest.mark.parametrize("kind", ["rgb.png", "rgba.png", "rgb.tif", "rgba.tif"])
def test_sixteen_bit_colour_frames_keep_the_high_byte_and_report_16_bits(tmp_path, kind):
    values = COLOUR if kind.startswith("rgb.") else np.concatenate([COLOUR, np.full((2, 2, 1), 65535, np.uint16)], -1)
    folder = tmp_path / "data" / "v0"
    folder.mkdir(parents=True)
    for k in range(2):
        (png16 if kind.endswith(".png") else tiff16)(folder / f"{k:03d}{kind[-4:]}", values)
    ds = FramesDataset(str(tmp_path / "data"), resolution=2)
    assert ds.read_frames(0, [0]).numpy()[0].tolist() == (COLOUR >> 8).tolist()  # [H, W, 3]
    summary = check_dataset(tmp_path / "data", workers=1).summary()
    assert "bit depth: 16-bit (2 frames; scaled to 8 bits)" in summary


def test_grey_and_colour_sixteen_bit_frames_follow_one_rule(tmp_path):
    """v >> 8 for both: a 16-bit grey frame and the same values as 16-bit RGB read alike (386 -> 1, not 2)."""
    grey = np.array([[386, 33023], [65535, 255]], np.uint16)
    png16(tmp_path / "rgb.png", np.repeat(grey[..., None], 3, axis=-1))
    colour = np.asarray(to_rgb8(load_image(tmp_path / "rgb.png")))
    assert colour.tolist() == np.asarray(to_rgb8(Image.fromarray(grey))).tolist()
    assert colour[..., 0].tolist() == [[1, 128], [255, 0]]


def test_sixteen_bit_grey_frames_are_not_white_after_the_square_crop():
    """What ``sgvb prepare`` does to frame-folder sources (``fit_square``): scale, never clip at 255."""
    frame = sixteen_bit(32896, size=8)
    assert np.asarray(fit_square(frame, 8)).mean() == 128
    assert np.asarray(fit_square(frame, 4)).mean() == 128
