"""`sgvb check-dataset`: every frame read once, problems reported on one screen, non-zero exit on errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.data.checks import check_dataset
from benchmarks.data.checks import main as check_main
from tests.video_files import write_video


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))


def video_dir(root, name, n, seed, size=(8, 8)):
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{k:06d}.png")
    return folder


def clean_tree(root):
    for i in range(3):
        video_dir(root, f"v{i}", 20, seed=i)
    return root


def test_clean_dataset_passes(tmp_path, capsys):
    root = clean_tree(tmp_path / "ds")
    assert check_main([str(root), "--protocol", "fvd2048_16f", "--sampler", "sparse_random", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "3 videos, 60 frames read" in out and "8x8 (60 frames)" in out
    assert "fewer than the 2048 it takes (it uses all 3)" in out  # a note, not an error
    assert out.strip().splitlines()[-1].startswith("0 error(s), 1 warning(s)")


def test_every_problem_is_reported_and_fails(tmp_path, capsys):
    root = clean_tree(tmp_path / "ds")
    (root / "v1" / "000007.png").write_bytes(b"garbage")  # a corrupt frame
    video_dir(root, "wide", 20, seed=9, size=(12, 8))  # non-square, mixed sizes
    video_dir(root, "short", 4, seed=10)  # too short for 16-frame FVD
    dup = video_dir(root, "v0_copy", 0, seed=0)
    for f in sorted((root / "v0").iterdir()):
        (dup / f.name).write_bytes(f.read_bytes())
    report = check_dataset(root, protocols=("fvd2048_16f",), workers=1)
    errors, warnings = "\n".join(report.errors), "\n".join(report.warnings)
    assert "1 unreadable or corrupt frame(s)" in errors and "v1/000007.png" in errors
    assert "mixed frame sizes: 1 video(s) differ from the most common 8x8: 'wide' (12x8)" in errors
    assert "non-square frames: 12x8 (20 frames)" in errors
    assert "protocol fvd2048_16f: 1 video(s) shorter than 16 frames are skipped: 'short' (4)" in warnings
    assert "'v0' = 'v0_copy'" in warnings
    assert check_main([str(root), "--protocol", "fvd2048_16f"]) == 1
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 12 and "3 error(s)" in out


def test_protocol_nothing_long_enough_is_an_error(tmp_path):
    root = clean_tree(tmp_path / "ds")
    report = check_dataset(root, protocols=("fvd2048_128f",), workers=1)
    assert report.errors == ["protocol fvd2048_128f: needs videos of 128 frames; none of the 3 has that many"]


def test_video_files_and_zip(tmp_path):
    write_video(tmp_path / "vids" / "a.mp4", np.zeros((5, 16, 16, 3), np.uint8))
    write_video(tmp_path / "vids" / "b.mp4", np.full((5, 16, 24, 3), 200, np.uint8))
    report = check_dataset(tmp_path / "vids", workers=1)
    assert [s.length for s in report.scans] == [5, 5]
    assert any("non-square frames: 24x16 (5 frames)" in e for e in report.errors)


def test_bad_arguments_are_one_line_with_exit_status_2(tmp_path, capsys):
    """A bad argument is a user error (status 2, one line); problems found in the data are status 1."""
    for argv, says in (
        ([str(tmp_path / "nowhere")], "nowhere' does not exist"),
        ([str(clean_tree(tmp_path / "ds")), "--protocol", "fvd_nonsense"], "--protocol 'fvd_nonsense'"),
    ):
        status = check_main(argv)
        err = capsys.readouterr().err.strip()
        assert status == 2 and err.startswith("sgvb check-dataset: error: ") and says in err and "\n" not in err, err


def test_training_and_evaluation_fail_up_front_naming_a_corrupt_frame(tmp_path):
    """The cheap check lives in the dataset classes, so `sgvb train` and `sgvb eval` stop before any work."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from benchmarks.commands.evaluate import run as run_eval
    from benchmarks.data import DatasetError
    from benchmarks.training.job import train
    from tests.test_train import TINY, tiny_config

    root = clean_tree(tmp_path / "ds")
    (root / "v2" / "000011.png").write_bytes(b"")
    frames = ["dataset=frames", f"dataset.path={root}", "dataset.resolution=8"]
    with pytest.raises(
        ValueError, match=r"frame 11 of video 'v2': '.*v2/000011.png' is not a readable image"
    ):  # a ConfigError
        train(
            tiny_config(f"run_dir={tmp_path / 'run'}", *frames, base=[o for o in TINY if not o.startswith("dataset.")])
        )
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose(
            "eval",
            overrides=[*frames, f"fake.videos={clean_tree(tmp_path / 'fake')}", "metrics=[fvd2_4f]", "device=cpu"],
        )
    with pytest.raises(DatasetError, match=r"v2/000011.png' is not a readable image"):
        run_eval(cfg)


def test_no_import_circle_among_the_data_modules():
    """``checks`` (the full check) uses the dataset classes; the classes run their own quick check and never import
    ``checks``: the data modules' imports (lazy ones included) form no circle."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks" / "data"
    names = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    imports = {}
    for name in names:
        tree = ast.parse((folder / f"{name}.py").read_text())
        found = {
            n.module.rsplit(".", 1)[-1]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("benchmarks.data.")
        }
        imports[name] = found & names - {name}

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in imports[start])

    circles = sorted(name for name in names if reaches(name, name, {name}))
    assert circles == [], f"modules on an import circle: {circles}"


def test_check_dataset_and_the_prepare_manifest_agree_on_the_lengths(tmp_path):
    """An even number of videos: both print the median of ``length_stats`` (the mean of the two middle lengths);
    check-dataset used to print the upper middle one (7 here, the manifest 6)."""
    import re

    from benchmarks.data.prepare import prepare_dataset
    from tests.test_prepare import write_frames

    for video, clip, n in (("a", "a0", 5), ("a", "a1", 7), ("b", "b0", 3), ("b", "b1", 12)):
        write_frames(tmp_path / "raw" / "sky_train" / video / clip, n, seed=n)
    out = tmp_path / "sky.zip"
    manifest = prepare_dataset("sky_timelapse", tmp_path / "raw", out, resolution=8, workers=1, log=lambda _: None)
    summary = check_dataset(out, workers=1).summary()
    shown = re.search(r"length min/median/mean/max (\S+)/(\S+)/(\S+)/(\S+)", summary)
    assert shown, summary
    assert [float(v) for v in shown.groups()] == [manifest["length"][k] for k in ("min", "median", "mean", "max")]
    assert manifest["length"] == {"min": 3, "median": 6.0, "mean": 6.75, "max": 12}
