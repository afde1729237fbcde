"""`sgvb prepare`: tiny raw trees in each benchmark's published layout, built here, prepared into frames zips."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.commands.prepare import main as prepare_main
from benchmarks.data import DatasetError, FramesDataset
from benchmarks.data.prepare import PrepareError, length_histogram, prepare_dataset, staging_dir
from benchmarks.data.prepare.render import square_box
from tests.video_files import write_video

R = 16


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))


def quiet(*_):
    pass


def solid(color, w=24, h=16) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, dtype=np.uint8), (h, w, 3)).copy()


def write_frames(folder: Path, n: int, w=24, h=16, seed=0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        Image.fromarray(solid(rng.integers(0, 255, 3), w, h)).save(folder / f"frame_{k:05d}.jpg", quality=95)
    return folder


def counting_video(path: Path, n: int, w=24, h=16) -> Path:
    """Frame k is a solid grey of level 8k: frame order is readable from the output."""
    return write_video(path, np.stack([solid((8 * k,) * 3, w, h) for k in range(n)]))


def read_manifest(out: Path) -> dict:
    return json.loads(out.with_suffix(".json").read_text())


def check_output(out: Path, videos: int) -> FramesDataset:
    """The zip is StyleGAN-V's layout (top folder with directory entries) and the manifest matches it."""
    manifest = read_manifest(out)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    top = out.stem
    assert names[0] == f"{top}/" and f"{top}/dataset.json" in names
    frames = [n for n in names if n.endswith(".jpg")]
    assert all(
        len(Path(n).parts) == 3 and n.startswith(f"{top}/") and Path(n).stem.isdigit() and len(Path(n).stem) == 6
        for n in frames
    )
    ds = FramesDataset(out, resolution=manifest["resolution"])
    assert len(ds) == manifest["videos"] == videos
    assert sum(ds.lengths()) == manifest["frames"] == len(frames)
    assert manifest["fingerprint"] == ds.fingerprint()  # the metric cache's key, not a second fingerprint
    assert sum(manifest["length_histogram"].values()) == videos
    with zipfile.ZipFile(out) as zf:
        inner = json.loads(zf.read(f"{top}/dataset.json"))
    assert inner["labels"] is None and inner["sgvb"]["fingerprint"] == ds.fingerprint()
    assert not staging_dir(out).exists()
    return ds


# ------------------------------------------------------------------------------------------------ raw trees
def sky_tree(root: Path) -> Path:
    write_frames(root / "sky_train" / "vidA" / "vidA_1", 4, seed=1)
    write_frames(root / "sky_train" / "vidA" / "vidA_2", 5, seed=2)
    write_frames(root / "sky_train" / "vidB" / "vidB_1", 3, seed=3)
    write_frames(root / "sky_test" / "vidC" / "vidC_1", 2, seed=4)
    return root


def ffs_tree(root: Path, split="train", names=("000", "001")) -> Path:
    """Originals: grey background with a red 8x8 'face' that moves; masks: the face's pixels in white.

    Even positions keep yuv420's 2x2 chroma blocks inside the face, so the decoded face is cleanly red."""
    for name, x0 in zip(names, (2, 12)):
        originals, masks = [], []
        for k in range(4):
            frame, mask = solid((90, 90, 90), 32, 24), solid((0, 0, 0), 32, 24)
            x = x0 + 2 * k
            frame[8:16, x : x + 8] = (230, 20, 20)
            mask[8:16, x : x + 8] = 255
            originals.append(frame), masks.append(mask)
        write_video(root / split / "original" / f"{name}.avi", np.stack(originals))
        write_video(root / split / "mask" / f"{name}.avi", np.stack(masks))
    return root


CLASSES = ["ApplyEyeMakeup", "HandstandPushups"]


def ucf_tree(root: Path) -> Path:
    train, test = [], []
    for c, cls in enumerate(CLASSES):
        file_cls = "HandStandPushups" if cls == "HandstandPushups" else cls  # the real list/file case mismatch
        for g in (1, 2):
            rel = f"{cls}/v_{file_cls}_g0{g}_c01.avi"
            write_video(root / "UCF-101" / rel, np.stack([solid((40 * c + 10 * g,) * 3, 20, 16)] * 3))
            (train if g == 2 else test).append(rel)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    (lists / "trainlist01.txt").write_text(
        "".join(
            f"{r.replace('HandStandPushups/', 'HandstandPushups/')} {CLASSES.index(r.split('/')[0]) + 1}\n"
            for r in train
        )
    )
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    return root


# ------------------------------------------------------------------------------------------------ per dataset
def test_sky_timelapse_splits_and_manifest(tmp_path):
    raw = sky_tree(tmp_path / "raw")
    out = tmp_path / "sky_16.zip"
    manifest = prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=2, log=quiet)
    ds = check_output(out, videos=3)
    assert [ds.video_name(i) for i in range(3)] == ["vidA_1", "vidA_2", "vidB_1"]
    assert manifest["split"] == "train" and manifest["dataset"] == "sky_timelapse"
    assert manifest["length"] == {"min": 3, "median": 4, "mean": 4.0, "max": 5}
    assert manifest["length_histogram"] == {"2-3": 1, "4-7": 2}
    assert manifest["preprocessing"]["jpeg_quality"] == 75
    # shorter side LANCZOS + centre crop of the source (solid colours survive JPEG closely)
    source = np.asarray(Image.open(sorted((raw / "sky_train/vidA/vidA_2").iterdir())[1]))
    assert np.abs(ds.read_frames(1, [1]).numpy()[0].astype(int) - source[0, 0].astype(int)).max() <= 6
    all_out = tmp_path / "sky_all.zip"
    assert (
        prepare_dataset("sky_timelapse", raw, all_out, resolution=R, split="all", workers=1, log=quiet)["videos"] == 4
    )


def test_ffs_face_crops_follow_the_mask(tmp_path):
    raw = ffs_tree(tmp_path / "raw")
    ffs_tree(raw, split="val", names=("100", "101"))
    out = tmp_path / "ffs.zip"
    prepare_dataset("ffs", raw, out, resolution=8, workers=1, log=quiet)
    ds = check_output(out, videos=2)
    frames = ds.read_video(0).numpy().astype(int)  # the crop is the face: red everywhere, every frame
    assert frames.shape == (4, 8, 8, 3)
    assert (frames[..., 0] > 180).mean() > 0.9 and (frames[..., 1] < 80).mean() > 0.9
    wide = tmp_path / "ffs_wide.zip"
    manifest = prepare_dataset(
        "ffs", raw, wide, resolution=8, split="all", options={"crop": "per_video"}, workers=1, log=quiet
    )
    assert manifest["videos"] == 4 and {v["split"] for v in manifest["per_video"]} == {"train", "val"}
    frames = FramesDataset(wide, resolution=8).read_video(0).numpy().astype(int)
    assert (frames[..., 0] > 180).mean() < 0.9  # one union box per video: the moving face leaves background in view


def test_square_box_is_square_centred_and_inside():
    assert square_box((10, 4, 16, 8), 32, 24) == (10, 3, 16, 9)
    assert square_box((0, 0, 4, 2), 32, 24) == (0, 0, 4, 4)  # moved inside, not shrunk
    assert square_box((0, 0, 40, 24), 32, 24) == (8, 0, 32, 24)  # capped at the shorter side, kept inside


def test_ucf101_official_lists_case_and_classes(tmp_path):
    raw = ucf_tree(tmp_path / "raw")
    for split, n in (("train", 2), ("test", 2), ("all", 4)):
        out = tmp_path / f"ucf_{split}.zip"
        manifest = prepare_dataset("ucf101", raw, out, resolution=R, split=split, workers=2, log=quiet)
        check_output(out, videos=n)
        assert manifest["split"] == split and manifest["options"] == {"fold": 1}
        assert {v["class"] for v in manifest["per_video"]} == set(CLASSES)
    labels = {v["video"]: v["label"] for v in manifest["per_video"]}
    assert labels["v_HandStandPushups_g01_c01"] == 1 and labels["v_ApplyEyeMakeup_g02_c01"] == 0


def test_taichi_videos_and_frame_folders(tmp_path):
    raw = tmp_path / "raw"
    counting_video(raw / "train" / "a.mp4", 5)
    write_frames(raw / "train" / "b", 3)
    counting_video(raw / "test" / "c.mp4", 4)
    out = tmp_path / "taichi.zip"
    prepare_dataset("taichi", raw, out, resolution=R, workers=1, log=quiet)
    ds = check_output(out, videos=2)
    assert ds.lengths() == [5, 3]


def test_rainbow_jelly_fixed_length_clips_in_order(tmp_path):
    video = counting_video(tmp_path / "jelly.mp4", 26)
    out = tmp_path / "jelly.zip"
    manifest = prepare_dataset(
        "rainbow_jelly", video, out, resolution=R, options={"start_frame": 3, "clip_length": 7}, workers=2, log=quiet
    )
    ds = check_output(out, videos=3)  # (26 - 3) // 7 clips; the 2-frame tail is dropped
    assert ds.lengths() == [7, 7, 7] and manifest["options"] == {"start_frame": 3, "clip_length": 7}
    levels = ds.read_video(1).numpy()[:, 8, 8, 0].astype(int)
    np.testing.assert_allclose(levels, 8 * np.arange(10, 17), atol=3)  # clip 1 = source frames 10..16


def test_mead_front_view_names(tmp_path):
    raw = tmp_path / "raw"
    counting_video(raw / "M003" / "video" / "front" / "angry" / "level_1" / "001.mp4", 3, w=32, h=18)
    counting_video(raw / "M003" / "video" / "left_30" / "angry" / "level_1" / "001.mp4", 3, w=32, h=18)
    counting_video(raw / "W009" / "video" / "front" / "happy" / "level_2" / "002.mp4", 4, w=32, h=18)
    out = tmp_path / "mead.zip"
    manifest = prepare_dataset("mead", raw, out, resolution=R, workers=1, log=quiet)
    ds = check_output(out, videos=2)
    assert [ds.video_name(i) for i in range(2)] == ["M003_angry_level_1_001", "W009_happy_level_2_002"]
    assert manifest["split"] == "all" and manifest["options"] == {"view": "front"}


# ------------------------------------------------------------------------------------------------ resume
def test_failed_prepare_resumes_and_never_leaves_a_partial_zip(tmp_path):
    raw = sky_tree(tmp_path / "raw")
    broken = sorted((raw / "sky_train/vidB/vidB_1").iterdir())[1]
    good = broken.read_bytes()
    broken.write_bytes(b"not a jpeg")
    out = tmp_path / "sky.zip"
    with pytest.raises(DatasetError, match="frame_00001.jpg"):
        prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=quiet)
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert sorted(p.name for p in (staging_dir(out) / "videos").iterdir()) == ["vidA_1.zip", "vidA_2.zip"]
    with pytest.raises(PrepareError, match="other settings.*quality"):
        prepare_dataset("sky_timelapse", raw, out, resolution=R, quality=90, workers=1, log=quiet)
    broken.write_bytes(good)
    lines = []
    resumed = prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=lines.append)
    assert lines[0].startswith("resuming: 2 of 3 videos")
    fresh = prepare_dataset("sky_timelapse", raw, tmp_path / "fresh" / "sky.zip", resolution=R, workers=2, log=quiet)
    assert resumed["fingerprint"] == fresh["fingerprint"]  # same name, same frames: a resumed run equals a fresh one
    with zipfile.ZipFile(out) as a, zipfile.ZipFile(tmp_path / "fresh" / "sky.zip") as b:
        assert [(i.filename, i.CRC) for i in a.infolist() if i.filename.endswith(".jpg")] == [
            (i.filename, i.CRC) for i in b.infolist() if i.filename.endswith(".jpg")
        ]
    with pytest.raises(PrepareError, match="already exists"):
        prepare_dataset("sky_timelapse", raw, out, resolution=R, log=quiet)


# ------------------------------------------------------------------------------------------------ bad raw input
@pytest.mark.parametrize(
    "case, pattern",
    [
        ("sky_no_train", r"sky_train.*not found: expected 'sky_train/'"),
        ("ucf_no_list", r"trainlist01\.txt' not found: expected the official UCF101 split files"),
        ("ucf_missing_video", r"v_Gone_g01_c01\.avi' listed in '.*trainlist01\.txt' not found"),
        ("ffs_no_mask", r"no mask video for '.*001\.avi': expected '.*mask/001\.avi'"),
        ("jelly_unreadable", r"cannot open video '.*jelly\.mp4'"),
        ("bad_split", r"--split must be one of all, got 'train'"),
        ("bad_option", r"ucf101: --crop does not apply \(it takes --fold\)"),
    ],
)
def test_bad_raw_input_is_one_line_naming_the_file(tmp_path, capsys, case, pattern):
    raw = tmp_path / "raw"
    name, extra = {
        "sky_no_train": ("sky_timelapse", []),
        "ucf_no_list": ("ucf101", []),
        "ucf_missing_video": ("ucf101", []),
        "ffs_no_mask": ("ffs", []),
        "jelly_unreadable": ("rainbow_jelly", []),
        "bad_split": ("rainbow_jelly", ["--split", "train"]),
        "bad_option": ("ucf101", ["--crop", "per_video"]),
    }[case]
    if case == "sky_no_train":
        write_frames(raw / "sky_test" / "v" / "v_1", 2)
    elif case.startswith("ucf") or case == "bad_option":
        ucf_tree(raw)
        if case == "ucf_no_list":
            (raw / "ucfTrainTestlist" / "trainlist01.txt").unlink()
        if case == "ucf_missing_video":
            with open(raw / "ucfTrainTestlist" / "trainlist01.txt", "a") as f:
                f.write("Gone/v_Gone_g01_c01.avi 3\n")
    elif case == "ffs_no_mask":
        ffs_tree(raw)
        (raw / "train" / "mask" / "001.avi").unlink()
    else:
        raw.mkdir()
        (raw / "jelly.mp4").write_bytes(b"\x00" * 100)
    code = prepare_main([name, str(raw), str(tmp_path / "out.zip"), "--resolution", "8", "--workers", "1", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("sgvb prepare: error: ")
    assert __import__("re").search(pattern, err), err


def test_length_histogram_buckets():
    assert length_histogram([1, 15, 16, 31, 32, 128, 1000]) == {
        "1-1": 1,
        "8-15": 1,
        "16-31": 2,
        "32-63": 1,
        "128-255": 1,
        "512-1023": 1,
    }


def test_sgvb_commands_prepare_then_check(tmp_path, capsys):
    from benchmarks.cli import main as sgvb

    raw = tmp_path / "raw"
    counting_video(raw / "train" / "a.mp4", 4)
    counting_video(raw / "train" / "b.mp4", 6)
    out = tmp_path / "data" / "taichi_16.zip"
    assert sgvb(["prepare", "taichi", str(raw), str(out), "--resolution", "16", "--workers", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sgvb(["check-dataset", str(out), "--protocol", "fvd2_4f", "--workers", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("OK: no problems found")
    assert sgvb(["prepare", "taichi", str(raw), str(tmp_path / "x.zip"), "--fps", "0"]) == 2
    assert "--fps 0.0 is not allowed (must be positive)" in capsys.readouterr().err
