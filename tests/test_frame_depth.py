"""16-bit PNG/TIFF frames are scaled to 8 bits (not clipped to white), and check-dataset reports the bit depth."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.data.checks import check_dataset
from benchmarks.data.frames import FramesDataset, bit_depth, to_rgb8


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
