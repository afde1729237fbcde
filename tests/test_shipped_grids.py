"""Every shipped grid and experiment works on your data: each composes with ``dataset=frames``, ``dataset=mp4`` (a
folder of video files) and every prepared benchmark's entry (``dataset=sky_timelapse`` ...), and the composed dataset
builds (no key of the grid's own synthetic data leaks into yours); the quickstart grid runs on a frames folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from PIL import Image

from benchmarks.cli import main as sgvb
from benchmarks.config import hydra_setup
from benchmarks.grids import grid
from benchmarks.training.components import build_dataset

CONF = Path(__file__).resolve().parents[1] / "benchmarks" / "conf"
PREPARED = sorted(
    p.stem for p in (CONF / "dataset").glob("*.yaml") if "sgvb prepare" in p.read_text()
)  # each prepared benchmark's entry
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
NUM_VIDEOS, NUM_FRAMES, SIZE = 4, 20, 16


def _video(k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    return rng.integers(0, 256, (NUM_FRAMES, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def user_data(tmp_path_factory) -> dict[str, Path]:
    """A user's own data in both layouts: a frames folder and a folder of mp4 files."""
    from tests.video_files import write_video

    root = tmp_path_factory.mktemp("user_data")
    for k in range(NUM_VIDEOS):
        for t, frame in enumerate(_video(k)):
            (root / "frames" / f"video{k}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame).save(root / "frames" / f"video{k}" / f"{t:06d}.png")
        write_video(root / "videos" / f"video{k}.mp4", _video(k))
    return {"frames": root / "frames", "mp4": root / "videos"}


def dataset_choices(user_data: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(label, overrides) of every dataset kind a user may give a grid, each pointed at the user's data."""
    choices = [(kind, [f"dataset={kind}", f"dataset.path={path}"]) for kind, path in user_data.items()]
    choices += [(name, [f"dataset={name}", f"dataset.path={user_data['frames']}"]) for name in PREPARED]
    return [(label, [*overrides, f"dataset.resolution={SIZE}", "dataset.check=false"]) for label, overrides in choices]


@pytest.fixture(scope="module")
def composer():
    hydra_setup.install()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        yield lambda overrides: compose("train", overrides=overrides)
    GlobalHydra.instance().clear()


def _built_videos(cfg) -> int:
    dataset = build_dataset(OmegaConf.to_container(cfg.dataset, resolve=True))
    assert len(dataset) == NUM_VIDEOS and dataset.video_length(0) == NUM_FRAMES
    return len(dataset)


def test_prepared_benchmarks_are_found():
    assert {"sky_timelapse", "ucf101", "ffs", "taichi", "mead", "rainbow_jelly"} <= set(PREPARED)


@pytest.mark.parametrize("name", grid.available_grids())
def test_every_shipped_grid_builds_every_kind_of_dataset(name, composer, user_data):
    """Fails where a grid sets a key of its own dataset (``dataset.num_frames``) that the user's dataset rejects."""
    for label, overrides in dataset_choices(user_data):
        cfg = composer([f"+grid={name}", *overrides])
        assert cfg.dataset._name_ == ("mp4" if label == "mp4" else "frames"), (name, label)
        assert _built_videos(cfg) == NUM_VIDEOS, (name, label)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_builds_every_kind_of_dataset(name, composer, user_data):
    for label, overrides in dataset_choices(user_data):
        cfg = composer([f"experiment={name}", *overrides])
        assert _built_videos(cfg) == NUM_VIDEOS, (name, label)


def test_tiny_grids_keep_their_synthetic_data_by_default(composer):
    """Without a dataset on the command line the quickstart and models grids train on 256 synthetic videos of
    128 frames (the quickstart table's data, unchanged)."""
    for name in ("quickstart", "models"):
        dataset = OmegaConf.to_container(composer([f"+grid={name}"]).dataset)
        assert dataset == {"_name_": "synthetic", "resolution": 32, "num_videos": 256, "num_frames": 128, "seed": 0}


@pytest.mark.slow
def test_quickstart_grid_runs_on_a_frames_folder(tmp_path: Path, monkeypatch, user_data, capsys):
    """The issue's failing command, at a tiny size: one quickstart job on the user's frames folder trains and is
    evaluated (stand-in detectors offline)."""
    import metrics.weights

    def offline(url, dest, sha256):
        raise OSError("no network in tests")

    monkeypatch.setattr(metrics.weights, "_download", offline)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    args = [
        "grid",
        "quickstart",
        "dataset=frames",
        f"dataset.path={user_data['frames']}",
        f"dataset.resolution={SIZE}",
        "generator.positional_encoding=acyclic",
        "seed=0",
        "trainer.total_kimg=0.02",
        "trainer.snapshot_kimg=0.02",
        "trainer.eval_kimg=0.02",
        "trainer.kimg_per_tick=0.02",
        "generator.channel_max=16",
        "discriminator.channel_max=16",
        "samples.videos=2",
        "samples.frames=4",
        "samples.long_frames=8",
        "progress=false",
        "metrics=[{_name_:fvd,num_videos:4,num_frames:16}]",
    ]
    assert sgvb(args) == 0, capsys.readouterr()
    assert "1 jobs: 1 done" in capsys.readouterr().out
