"""`sgvb convert`: video files -> frames-layout zip (resize, crop, JPEG quality, metadata, fps, failures)."""

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from video_files import write_video

from benchmarks.cli import main as sgvb
from benchmarks.data import FramesDataset
from benchmarks.data.convert import main as convert_main


def counting_video(n: int, size=(32, 16)) -> np.ndarray:
    """Gray level 4k + 8 in frame k; a textured band keeps JPEG sizes quality-dependent."""
    w, h = size
    rng = np.random.default_rng(0)
    frames = np.stack([np.full((h, w, 3), 4 * k + 8, np.uint8) for k in range(n)])
    frames[:, :, w // 2 - h // 2 : w // 2 + h // 2] = rng.integers(0, 255, size=(n, h, h, 3), dtype=np.uint8) // 2 + 64
    frames[:, : h // 2] = (4 * np.arange(n) + 8)[:, None, None, None]  # the top half keeps the frame code
    return frames


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    (root / "class_a").mkdir(parents=True)
    write_video(root / "class_a" / "clip1.mp4", counting_video(20, size=(32, 16)))  # non-square
    write_video(root / "clip2.mp4", counting_video(8, size=(16, 16)))
    (root / "broken.mp4").write_bytes(b"\x00\x01garbage" * 10)
    (root / "notes.txt").write_text("not a video")
    return root


def read_meta(out: Path) -> dict:
    with zipfile.ZipFile(out) as zf:
        return json.loads(zf.read(f"{out.stem}/dataset.json"))


def test_convert_writes_frames_layout_zip(src, tmp_path, capsys):
    out = tmp_path / "data" / "set.zip"
    with pytest.warns(UserWarning, match=r"skipping '.*broken.mp4'"):
        rc = convert_main([str(src), str(out), "--resolution", "16", "--quality", "90"])
    assert rc == 0 and out.exists()
    assert not [p for p in out.parent.iterdir() if p.name != "set.zip"]  # no temp file left
    assert "skipped 1 that failed to decode: broken.mp4" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert "set/" in names and "set/class_a_clip1/" in names and "set/class_a_clip1/000019.jpg" in names
    meta = read_meta(out)
    assert meta["labels"] is None
    info = meta["sgvb"]
    assert info["resolution"] == 16 and info["jpeg_quality"] == 90
    assert [(s["file"], s["video"], s["frames"]) for s in info["sources"]] == [
        ("class_a/clip1.mp4", "class_a_clip1", 20),
        ("clip2.mp4", "clip2", 8),
    ]
    assert [f["file"] for f in info["failed"]] == ["broken.mp4"]
    ds = FramesDataset(out, resolution=16)
    assert [ds.video_name(i) for i in range(len(ds))] == ["class_a_clip1", "clip2"]
    assert [ds.video_length(i) for i in range(2)] == [20, 8]
    x = ds.read_frames(0, [0, 19])
    assert x.shape == (2, 16, 16, 3)
    assert np.allclose(x[:, :4].float().mean(dim=(1, 2, 3)).numpy(), [8, 84], atol=3)  # frame order kept


def test_convert_really_uses_the_jpeg_quality(src, tmp_path):
    sizes = {}
    for q in (75, 95):
        out = tmp_path / f"q{q}.zip"
        with pytest.warns(UserWarning):
            assert convert_main([str(src), str(out), "--resolution", "16", "--quality", str(q)]) == 0
        with zipfile.ZipFile(out) as zf:
            data = zf.read(f"q{q}/clip2/000003.jpg")
        sizes[q] = len(data)
        # libjpeg scales its base luminance table (first row 16 11 10 16 24 40) by 200 - 2q percent
        expected = [max(1, (base * (200 - 2 * q) + 50) // 100) for base in (16, 11, 10, 16, 24, 40)]
        assert list(Image.open(io.BytesIO(data)).quantization[0][:6]) == expected
    assert sizes[95] > sizes[75]


def test_convert_max_frames_and_fps(src, tmp_path):
    out = tmp_path / "short.zip"
    with pytest.warns(UserWarning):
        assert convert_main([str(src), str(out), "--resolution", "8", "--max-frames", "5"]) == 0
    ds = FramesDataset(out, resolution=8)
    assert [ds.video_length(i) for i in range(2)] == [5, 5]
    out = tmp_path / "fps5.zip"
    with pytest.warns(UserWarning):
        assert sgvb(["convert", str(src), str(out), "--resolution", "16", "--fps", "5"]) == 0  # through the dispatcher
    ds = FramesDataset(out, resolution=16)
    assert [ds.video_length(i) for i in range(2)] == [10, 4]  # 10 fps -> 5 fps: every other frame
    codes = ds.read_video(0)[:, :4].float().mean(dim=(1, 2, 3)).numpy()
    assert np.allclose(codes, 4 * np.arange(0, 20, 2) + 8, atol=4)
    assert read_meta(out)["sgvb"]["fps"] == 5


def _refused(argv, capsys) -> str:
    """``sgvb convert`` refusing a bad input: one line on stderr, exit status 2, no traceback; returns the line."""
    status = convert_main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    err = "\n".join(ln for ln in lines if not re.match(r"convert: \d+/\d+ videos", ln))  # progress lines go first
    assert status == 2 and err.startswith("sgvb convert: error: convert: ") and "\n" not in err, err
    assert "(details: " in err and "Traceback" not in err
    return err


def test_convert_bad_inputs(tmp_path, capsys):
    assert "source folder '" in _refused([str(tmp_path / "missing"), str(tmp_path / "o.zip")], capsys)
    (tmp_path / "empty").mkdir()
    assert "no video files" in _refused([str(tmp_path / "empty"), str(tmp_path / "o.zip")], capsys)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mp4").write_bytes(b"nope")
    (bad / "y.avi").write_bytes(b"nope either")
    with pytest.warns(UserWarning, match="skipping"):
        err = _refused([str(bad), str(tmp_path / "o.zip")], capsys)
    assert "none of the 2 videos" in err and "x.mp4" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "empty"]  # no zip, no temp file
    assert "must end in .zip" in _refused([str(bad), str(tmp_path / "o.tar")], capsys)
    assert "--quality" in _refused([str(bad), str(tmp_path / "o.zip"), "--quality", "0"], capsys)


def test_convert_output_holds_no_clock(src, tmp_path, monkeypatch):
    """The same sources and options give the same bytes, whenever they run (no `created`, fixed member dates)."""
    import time

    from benchmarks.data.convert import convert_videos
    from benchmarks.data.zips import ZIP_DATE

    first, second = tmp_path / "a" / "set.zip", tmp_path / "b" / "set.zip"
    with pytest.warns(UserWarning, match="broken.mp4"):
        convert_videos(src, first, resolution=16, log=lambda _: None)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86400 * 400)  # a run a year later
    with pytest.warns(UserWarning, match="broken.mp4"):
        convert_videos(src, second, resolution=16, log=lambda _: None)
    assert first.read_bytes() == second.read_bytes()
    assert "created" not in read_meta(first)["sgvb"]
    with zipfile.ZipFile(first) as zf:
        assert {info.date_time for info in zf.infolist()} == {ZIP_DATE}
