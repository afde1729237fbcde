"""Datasets (frames dir/zip, mp4, synthetic), ClipDataset and fake time stamps, and every bad input."""

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from video_files import write_video

from benchmarks.data import (
    ClipDataset,
    ConsecutiveSampler,
    DatasetError,
    FramesDataset,
    SparseRandomSampler,
    SyntheticDataset,
    VideoFilesDataset,
    sample_fake_times,
)
from registry import DATASETS

CONF = Path(__file__).resolve().parents[1] / "benchmarks" / "conf" / "dataset"


# ---------------------------------------------------------------------------------------------- helpers
def code_frame(video: int, frame: int, size=(8, 8)) -> np.ndarray:
    """A solid frame whose colour encodes (video, frame): R = frame, G = 10 * video (lossless through PNG)."""
    w, h = size
    return np.broadcast_to(np.array([frame, 10 * video, 77], np.uint8), (h, w, 3)).copy()


def make_frames(root: Path, lengths: dict, size=(8, 8), ext="png") -> Path:
    for v, (name, n) in enumerate(sorted(lengths.items())):
        (root / name).mkdir(parents=True)
        for k in range(n):
            Image.fromarray(code_frame(v, k, size)).save(root / name / f"{k:06d}.{ext}")
    return root


def zip_folder(folder: Path, out: Path, top: str | None, dir_entries: bool = True) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            name = f"{top}/{rel}" if top else rel
            if path.is_dir():
                if dir_entries:
                    zf.writestr(name + "/", b"")
            else:
                zf.write(path, name)
    return out


def gray_video(n: int, size=(16, 16)) -> np.ndarray:
    return np.stack([np.full((size[1], size[0], 3), 2 * k + 10, np.uint8) for k in range(n)])


# ---------------------------------------------------------------------------------------------- frames
@pytest.fixture
def frames_dir(tmp_path):
    return make_frames(tmp_path / "ds", {"b_vid": 5, "a_vid": 7, "c_vid": 3})


def check_coded_dataset(ds):
    assert len(ds) == 3 and ds.resolution == 8
    assert [ds.video_name(i) for i in range(3)] == ["a_vid", "b_vid", "c_vid"]
    assert [ds.video_length(i) for i in range(3)] == [7, 5, 3]
    x = ds.read_frames(1, [4, 0, 4])
    assert x.dtype == torch.uint8 and x.shape == (3, 8, 8, 3)
    assert x[:, 0, 0, 0].tolist() == [4, 0, 4] and (x[..., 1] == 10).all()
    assert ds.read_video(0)[:, 0, 0, 0].tolist() == list(range(7))


def test_frames_directory(frames_dir):
    ds = FramesDataset(frames_dir, resolution=8)
    check_coded_dataset(ds)
    assert ds.frame_names(2) == ["000000.png", "000001.png", "000002.png"]
    assert ds.read_frames(0, []).shape == (0, 8, 8, 3)
    with pytest.raises(ValueError, match="frame indices must be integers"):
        ds.read_frames(0, [1.5])
    with pytest.raises(IndexError, match="frame index 7 out of range for video 'a_vid'"):
        ds.read_frames(0, [7])
    with pytest.raises(IndexError, match="video index 3 out of range"):
        ds.video_length(3)


@pytest.mark.parametrize("top,dir_entries", [("myset", True), ("myset", False), (None, False)])
def test_frames_zip_layouts(frames_dir, tmp_path, top, dir_entries):
    ds = FramesDataset(zip_folder(frames_dir, tmp_path / "d.zip", top, dir_entries), resolution=8)
    check_coded_dataset(ds)
    clone = pickle.loads(pickle.dumps(ds))  # an open handle never travels to spawned workers
    assert torch.equal(clone.read_frames(2, [2]), ds.read_frames(2, [2]))


def test_frames_fingerprint_tracks_content_and_parameters(frames_dir, tmp_path):
    fp = FramesDataset(frames_dir, resolution=8).fingerprint()
    assert fp == FramesDataset(frames_dir, resolution=8).fingerprint()
    assert fp != FramesDataset(frames_dir, resolution=4).fingerprint()
    assert fp != FramesDataset(frames_dir, resolution=8, max_num_frames=4).fingerprint()
    assert fp != FramesDataset(frames_dir, resolution=8, num_videos=2).fingerprint()
    zfp = FramesDataset(zip_folder(frames_dir, tmp_path / "a.zip", "t"), resolution=8).fingerprint()
    Image.fromarray(code_frame(9, 9)).save(frames_dir / "b_vid" / "000002.png")  # same size, new content
    changed = frames_dir / "b_vid" / "000002.png"
    os.utime(changed, ns=(changed.stat().st_mtime_ns + 5 * 10**9,) * 2)
    assert FramesDataset(frames_dir, resolution=8).fingerprint() != fp
    assert (
        FramesDataset(zip_folder(frames_dir, tmp_path / "b.zip", "t"), resolution=8).fingerprint() != zfp
    )  # CRC changed


def test_frames_max_num_frames_and_num_videos(frames_dir):
    ds = FramesDataset(frames_dir, resolution=8, max_num_frames=4, num_videos=2)
    assert len(ds) == 2 and [ds.video_length(i) for i in range(2)] == [4, 4]
    with pytest.raises(IndexError):
        ds.read_frames(0, [5])


def test_frames_non_square_and_mixed_sizes_are_resized_and_reported(tmp_path):
    root = tmp_path / "ds"
    (root / "v").mkdir(parents=True)
    wide = np.zeros((16, 48, 3), np.uint8)
    wide[:, 16:32] = 200  # only the centre third is bright: a centre crop keeps just that
    for k in range(3):
        Image.fromarray(wide).save(root / "v" / f"{k:06d}.png")
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(root / "v" / "000003.png")
    ds = FramesDataset(root, resolution=8)
    with pytest.warns(UserWarning) as record:
        x = ds.read_frames(0, [0, 1, 2, 3])
    messages = " ".join(str(w.message) for w in record)
    assert "3 of 4 frames" in messages or "4 of 4 frames" in messages
    assert "48x16" in messages and "centre-cropped" in messages and "mixes frame sizes" in messages
    assert x.shape == (4, 8, 8, 3) and x[:3].min() > 150 and (x[3] == 90).all()
    assert ds.resized_frames == 4


def test_frames_corrupt_frame_fails_at_construction_naming_it(frames_dir, tmp_path, monkeypatch):
    """The quick check runs when the dataset is built: training and evaluation fail in seconds, not hours in."""
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    FramesDataset(frames_dir, resolution=8)  # passes, and is remembered for this content
    (frames_dir / "b_vid" / "000003.png").write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match=r"frame 3 of video 'b_vid': '.*b_vid/000003.png' is not a readable image"):
        FramesDataset(frames_dir, resolution=8)  # changed content: checked again
    with pytest.raises(DatasetError, match=r"'top/b_vid/000003.png' in '.*c.zip' is not a readable image"):
        FramesDataset(zip_folder(frames_dir, tmp_path / "c.zip", "top"), resolution=8)


def test_dataset_check_pass_is_written_in_the_isolated_cache_not_the_home_cache(frames_dir):
    """The suite's own cache folder (tests/conftest.py) takes every cache write: a dataset built with no
    per-test ``SGVB_CACHE_DIR`` leaves its check pass there, under the temp folder, never in ``~/.cache/sgvb``."""
    import tempfile

    from benchmarks.data.frames import quick_check_marker

    isolated = Path(os.environ["SGVB_CACHE_DIR"])
    assert isolated.is_relative_to(tempfile.gettempdir())
    ds = FramesDataset(frames_dir, resolution=8)
    marker = quick_check_marker(ds.fingerprint())
    assert marker.is_file() and marker.is_relative_to(isolated)
    assert not (Path.home() / ".cache" / "sgvb" / "dataset_checks" / marker.name).exists()


def test_frames_corrupt_frame_names_video_and_frame(frames_dir, tmp_path):
    (frames_dir / "b_vid" / "000003.png").write_bytes(b"not a png at all")
    ds = FramesDataset(frames_dir, resolution=8, check=False)
    assert ds.read_frames(1, [2])[0, 0, 0, 0] == 2  # other frames still read
    with pytest.raises(DatasetError, match=r"frame 3 \('000003.png'\) of video 'b_vid'.*000003.png.*corrupt"):
        ds.read_frames(1, [3])
    zds = FramesDataset(zip_folder(frames_dir, tmp_path / "c.zip", "top"), resolution=8, check=False)
    with pytest.raises(DatasetError, match=r"'top/b_vid/000003.png' in '.*c.zip'"):
        zds.read_frames(1, [3])


def test_frames_bad_paths_and_layouts(tmp_path):
    with pytest.raises(DatasetError, match="'.*nowhere' does not exist"):
        FramesDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no frame images .* found in '.*empty'"):
        FramesDataset(tmp_path / "empty")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(DatasetError, match="no frame images .* found in '.*empty.zip'"):
        FramesDataset(tmp_path / "empty.zip")
    buf = np.zeros((4, 4, 3), np.uint8)
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(buf).save(flat / "000000.png")
    with pytest.raises(
        DatasetError, match="unexpected layout .* found '000000.png'.*one sub-folder of frames per video"
    ):
        FramesDataset(flat)
    with pytest.raises(DatasetError, match="unexpected layout"):
        FramesDataset(zip_folder(flat, tmp_path / "flat.zip", None))
    deep = make_frames(tmp_path / "deep" / "a" / "b", {"v": 2}).parents[1]  # deep/a/b/v/frame: too deep
    with pytest.raises(DatasetError, match="no frame images .* expected one sub-folder of frames per video"):
        FramesDataset(deep)
    mixed = make_frames(tmp_path / "mixed", {"v": 2})
    Image.fromarray(buf).save(mixed / "000000.png")  # a stray frame next to the video folders
    with pytest.raises(DatasetError, match="unexpected layout .* found '000000.png'"):
        FramesDataset(mixed)
    (tmp_path / "notzip.zip").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not a zip archive"):
        FramesDataset(tmp_path / "notzip.zip")


def test_frames_unpadded_names_warn(tmp_path):
    root = tmp_path / "ds"
    (root / "v").mkdir(parents=True)
    for k in (1, 2, 10):
        Image.fromarray(code_frame(0, k)).save(root / "v" / f"{k}.png")
    with pytest.warns(UserWarning, match="zero-pad"):
        FramesDataset(root, resolution=8)


# ---------------------------------------------------------------------------------------------- mp4
@pytest.fixture
def video_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    write_video(root / "long.mp4", gray_video(100, size=(24, 16)))  # non-square: resized + cropped
    write_video(root / "sub" / "short.mp4", gray_video(12, size=(16, 16)))
    return root


def test_mp4_dataset_reads_decodes_and_caches_lengths(video_dir, tmp_path):
    ds = DATASETS.build({"_name_": "mp4", "path": str(video_dir)}, resolution=8)
    assert isinstance(ds, VideoFilesDataset)
    assert [ds.video_name(i) for i in range(2)] == ["long", "sub/short"]
    assert [ds.video_length(i) for i in range(2)] == [100, 12]
    assert len(list((tmp_path / "cache" / "video_lengths").glob("*.json"))) == 1
    with pytest.warns(UserWarning, match="24x16"):
        x = ds.read_frames(0, [3, 0, 3, 99])
    assert x.shape == (4, 8, 8, 3) and x.dtype == torch.uint8
    assert np.allclose(x.float().mean(dim=(1, 2, 3)).numpy(), [16, 10, 16, 208], atol=1.5)
    # far-in frames are read after a seek; they must equal a decode from the start
    seeked = ds.read_frames(0, [97, 60])
    sequential = ds.read_video(0)[[97, 60]]
    assert torch.equal(seeked, sequential)
    assert ds.fingerprint() != DATASETS.build("mp4", path=str(video_dir), resolution=16).fingerprint()


def test_mp4_bad_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="does not exist"):
        VideoFilesDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no video files .* found in '.*empty'"):
        VideoFilesDataset(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match="cannot open video '.*broken.mp4'"):  # the up-front check opens every file
        VideoFilesDataset(tmp_path / "bad", resolution=8)
    ds = VideoFilesDataset(tmp_path / "bad", resolution=8, check=False)
    with pytest.raises(DatasetError, match="broken.mp4"):
        ds.video_length(0)


# ---------------------------------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_per_seed_and_differs_across_seeds_and_videos():
    a = SyntheticDataset(resolution=32, num_videos=4, num_frames=64, seed=0)
    b = SyntheticDataset(resolution=32, num_videos=4, num_frames=64, seed=0)
    c = SyntheticDataset(resolution=32, num_videos=4, num_frames=64, seed=1)
    x = a.read_frames(2, range(0, 64, 8))
    assert x.shape == (8, 32, 32, 3) and x.dtype == torch.uint8
    assert torch.equal(x, b.read_frames(2, range(0, 64, 8)))
    assert torch.equal(a.read_frames(2, [40]), x[5:6])  # a frame does not depend on which others are read
    assert (x.float() - c.read_frames(2, range(0, 64, 8)).float()).abs().mean() > 10
    assert (x.float() - a.read_frames(3, range(0, 64, 8)).float()).abs().mean() > 10
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.fingerprint() != SyntheticDataset(resolution=16, num_videos=4, num_frames=64).fingerprint()
    assert [a.video_name(i) for i in range(2)] == ["000000", "000001"] and a.video_length(3) == 64


def test_synthetic_motion_is_smooth_visible_and_not_looping():
    ds = SyntheticDataset(resolution=32, num_videos=5, num_frames=2048)
    for i in range(5):
        v = ds.read_frames(i, range(0, 2048, 8)).float()  # every 8th frame
        step = (v[1:] - v[:-1]).abs().amax(dim=-1).gt(40).float().mean(dim=(1, 2))  # moved pixel fraction per 8 frames
        assert step.mean() > 0.03  # shapes move several pixels per 8 frames
        # no frame repeats a far earlier one: the nearest of all pairs >= 64 frames apart still differs
        flat = v.flatten(1)
        dist = torch.cdist(flat, flat) / flat.shape[1] ** 0.5
        far = torch.triu(torch.ones_like(dist, dtype=torch.bool), diagonal=8)
        assert dist[far].min() > 3
        dense = ds.read_frames(i, range(100, 108)).float()
        assert (dense[1:] - dense[:-1]).abs().mean() < (v[13:14] - v[50:51]).abs().mean()  # smooth: neighbours closer


def test_synthetic_long_video_and_large_resolution_render_on_demand():
    ds = SyntheticDataset(resolution=64, num_videos=2, num_frames=100_000)
    x = ds.read_frames(1, [0, 1023, 50_000, 99_999])
    assert x.shape == (4, 64, 64, 3) and len(set(x.float().mean(dim=(1, 2, 3)).tolist())) == 4
    assert SyntheticDataset(resolution=32, num_frames=1024).read_video(0).shape == (1024, 32, 32, 3)
    with pytest.raises(DatasetError, match="num_videos must be an integer >= 1"):
        SyntheticDataset(num_videos=0)


def test_dataset_config_files_build():
    cfg = OmegaConf.load(CONF / "synthetic.yaml")
    ds = DATASETS.build(cfg, num_frames=16)
    assert isinstance(ds, SyntheticDataset) and ds.resolution == 32 and ds.num_frames == 128
    for name in ("frames", "mp4"):
        cfg = OmegaConf.load(CONF / f"{name}.yaml")
        assert cfg._name_ == name and OmegaConf.is_missing(cfg, "path")


# ---------------------------------------------------------------------------------------------- clips
def test_clip_dataset_windows_times_and_frames(tmp_path):
    root = make_frames(tmp_path / "ds", {"a": 40, "b": 6, "c": 2})  # 'c' is too short for 3 frames
    videos = FramesDataset(root, resolution=8)
    with pytest.warns(UserWarning, match=r"skipped 1 of 3 videos shorter than 3 frames.*'c'"):
        clips = ClipDataset(videos, "sparse_random", seed=0, max_num_frames=16)
    assert len(clips) == 2 and clips.num_skipped == 1 and clips.skipped == ["c"]
    starts = set()
    for _ in range(200):
        item = clips[0]
        assert item["video"] == 0 and item["frames"].shape == (3, 8, 8, 3) and item["times"].dtype == torch.float32
        times = item["times"].numpy()
        assert (np.diff(times) > 0).all() and times.max() <= 15  # relative to a 16-frame window
        absolute = item["frames"][:, 0, 0, 0].numpy().astype(float)  # R encodes the absolute frame index
        offset = absolute - times
        assert np.all(offset == offset[0]) and 0 <= offset[0] <= 40 - 16
        starts.add(offset[0])
    assert len(starts) > 10  # random windows
    item = clips[1]
    assert item["video"] == 1 and item["times"].max() <= 5 and (item["frames"][:, 0, 0, 1] == 10).all()


def test_clip_dataset_with_workers_reads_zip_per_process(frames_dir, tmp_path):
    ds = FramesDataset(zip_folder(frames_dir, tmp_path / "w.zip", "w"), resolution=8)
    ds.read_frames(0, [0])  # the parent opens its handle first; workers must open their own
    clips = ClipDataset(ds, ConsecutiveSampler(num_frames=3), seed=1)
    loader = torch.utils.data.DataLoader(clips, batch_size=3, num_workers=2, shuffle=False)
    batches = list(loader)
    assert len(batches) == 1 and batches[0]["frames"].shape == (3, 3, 8, 8, 3)
    assert batches[0]["video"].tolist() == [0, 1, 2]
    assert (batches[0]["times"].diff(dim=1) == 1).all()


def test_clip_dataset_errors_when_no_video_is_long_enough(frames_dir):
    with pytest.raises(DatasetError, match="all 3 videos .* shorter than the 16 frames"):
        ClipDataset(FramesDataset(frames_dir, resolution=8), ConsecutiveSampler(num_frames=16))
    with pytest.raises(DatasetError, match="max_num_frames=8 is shorter"):
        ClipDataset(FramesDataset(frames_dir, resolution=8), ConsecutiveSampler(num_frames=16), max_num_frames=8)


def test_sample_fake_times_follows_real_lengths():
    rng = np.random.default_rng(0)
    times = sample_fake_times([5, 2000, 1], SparseRandomSampler(), 400, rng, continuous=True, max_num_frames=1024)
    assert times.shape == (400, 3) and times.dtype == torch.float32
    t = times.numpy().astype(np.float64)
    assert t.max() < 1024 and (t[:, 0] != np.round(t[:, 0])).any()
    spans = set(np.round(t[:, 2] - t[:, 0]).astype(int).tolist())
    assert spans == {2, 4, 8, 16, 32}
    short = t[:, 2] <= 4  # clips from the 5-frame video: span 2 or 4, starting below 4
    assert short.any() and (t[short, 0] < 4).all()
    clips = ClipDataset(SyntheticDataset(num_videos=3, num_frames=20), "sparse_random")
    t = clips.sample_fake_times(64, np.random.default_rng(1), continuous=False).numpy()
    assert t.shape == (64, 3) and np.array_equal(t, np.round(t)) and t.max() <= 19
    with pytest.raises(DatasetError, match="no video is long enough"):
        sample_fake_times([1, 2], "sparse_random", 4, rng)


def test_image_size_reads_jpeg_headers_like_pil(tmp_path):
    """The fast header walk used by the up-front check agrees with PIL and rejects what is not an image."""
    import io

    from PIL import Image

    from benchmarks.data.base import image_size

    rng = np.random.default_rng(0)
    for mode, size, kwargs in (
        ("RGB", (37, 21), {}),
        ("L", (16, 48), {}),
        ("RGB", (64, 40), {"progressive": True}),
        ("RGB", (20, 20), {"exif": b"Exif\x00\x00" + b"\x00" * 50}),
        ("RGB", (9, 7), {"quality": 20}),
    ):
        buf = io.BytesIO()
        Image.fromarray(
            rng.integers(0, 255, (size[1], size[0], 3 if mode == "RGB" else 1), dtype=np.uint8).squeeze()
        ).save(buf, "JPEG", **kwargs)
        assert image_size(buf.getvalue()) == size == Image.open(io.BytesIO(buf.getvalue())).size
    png = io.BytesIO()
    Image.fromarray(np.zeros((5, 11, 3), np.uint8)).save(png, "PNG")
    assert image_size(png.getvalue()) == (11, 5)
    for bad in (b"", b"not an image", buf.getvalue()[:40], b"\xff\xd8\xff\xda\x00\x02"):
        with pytest.raises((ValueError, OSError)):  # PIL's UnidentifiedImageError is an OSError
            image_size(bad)
