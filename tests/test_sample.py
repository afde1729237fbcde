"""`sgvb sample`: videos of any length / frame rate from a checkpoint, as MP4, GIF or frame folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from test_checkpoint import write_generator_checkpoint

from benchmarks.commands.sample import sample_videos
from benchmarks.training.samples import frame_times

REPO = Path(__file__).resolve().parents[1]


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    path, _ = write_generator_checkpoint(run / "checkpoints" / "ckpt-000003.pt", kimg=3.0)
    return path


def test_sgvb_sample_writes_mp4_and_gif(checkpoint, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.cli",
            "sample",
            f"checkpoint={checkpoint.parent.parent}",
            f"out_dir={tmp_path}",
            "seeds=[0,1]",
            "num_frames=40",
            "time_step=0.25",
            "fps=12.5",
            "device=cpu",
            "cpu_threads=1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    # the videos folder holds only the per-seed videos; the tiled preview lies next to it (issue 10.2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0000.mp4", "seed0001.mp4"]
    assert (tmp_path.parent / f"{tmp_path.name}-preview.mp4").is_file()
    assert count_frames(tmp_path / "seed0000.mp4") == 40
    with av.open(str(tmp_path / "seed0000.mp4")) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(12.5)

    gif = sample_videos(
        checkpoint, out_dir=tmp_path / "gif", format="gif", seeds=[7], num_frames=6, preview=False, device="cpu"
    )
    assert [p.name for p in gif] == ["seed0007.gif"]
    assert Image.open(gif[0]).n_frames == 6


def test_frames_are_reproducible_per_seed_and_slow_motion_interpolates(checkpoint, tmp_path):
    normal = sample_videos(
        checkpoint, out_dir=tmp_path / "a", format="frames", seeds=[0, 3], num_frames=3, preview=False, device="cpu"
    )
    again = sample_videos(
        checkpoint, out_dir=tmp_path / "b", format="frames", seeds=[3], num_frames=5, time_step=0.5, device="cpu"
    )

    def frames(folder):
        return [np.asarray(Image.open(p)) for p in sorted(folder.iterdir())]

    a, b = frames(normal[1]), frames(again[0])
    assert len(b) == 5
    np.testing.assert_array_equal(a[0], b[0])  # t = 0
    np.testing.assert_array_equal(a[1], b[2])  # t = 1: the same frame at half the step
    assert not np.array_equal(b[1], b[0])  # t = 0.5 is a frame of its own
    assert (tmp_path / "a" / "seed0000").is_dir()


def test_default_output_goes_to_the_run_folder(checkpoint):
    written = sample_videos(checkpoint, seeds=[0], num_frames=2, device="cpu")
    assert written[0] == checkpoint.parent.parent / "samples" / "sample-000003.000" / "seed0000.mp4"


def test_bad_requests_are_refused_with_reasons(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="format must be"):
        sample_videos(checkpoint, out_dir=tmp_path, format="avi")
    with pytest.raises(ValueError, match="time_step must be > 0"):
        frame_times(4, time_step=0)
    with pytest.raises(ValueError, match="integer times only"):
        frame_times(4, time_step=0.5, integer=True)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", "sample", f"checkpoint={tmp_path / 'none.pt'}", "cpu_threads=1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "none.pt" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr and "details:" in out.stderr


def test_preview_switch_does_not_clash_with_the_grid_config_group(checkpoint, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.cli",
            "sample",
            f"checkpoint={checkpoint}",
            f"out_dir={tmp_path / 'v'}",
            "seeds=[0,1]",
            "num_frames=2",
            "preview=false",
            "device=cpu",
            "cpu_threads=1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["seed0000.mp4", "seed0001.mp4"]
    with pytest.raises(ValueError, match="inside out_dir"):
        sample_videos(
            checkpoint,
            out_dir=tmp_path / "w",
            seeds=[0, 1],
            num_frames=2,
            preview_path=tmp_path / "w" / "p.mp4",
            device="cpu",
        )


def test_a_wrong_type_or_key_fails_at_composition_in_one_line(checkpoint):
    for override, says in (
        ("num_frames=abc", "option num_frames=abc: "),
        ("seeds=x", "option seeds=x: "),
        ("num_frame=3", "Did you mean 'num_frames'?"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.cli", "sample", f"checkpoint={checkpoint}", override],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (
            out.returncode == 2 and out.stderr.startswith("sgvb sample: configuration error: ") and says in out.stderr
        ), out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def _fail_on_call(real, n: int):
    """``real`` that raises on its ``n``-th call: a write that fails part-way (a full disk, a codec error)."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise OSError("no space left on device")
        return real(*args, **kwargs)

    return wrapped


def test_a_video_write_that_fails_midway_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    """write_mp4 and write_frames (registry.files writers): the previous output stays whole,
    nothing half-written is left."""
    from benchmarks.training.video_io import write_frames, write_mp4

    frames = np.random.default_rng(0).integers(0, 255, (64, 16, 16, 3), dtype=np.uint8)
    mp4, folder = write_mp4(tmp_path / "v.mp4", frames[:4], fps=8), write_frames(tmp_path / "v", frames[:4])
    old_mp4, old_frames = mp4.read_bytes(), sorted(p.name for p in folder.iterdir())

    class FailingVideoFrame:  # av.VideoFrame is an extension type: patch the module attribute write_mp4 looks up
        from_ndarray = staticmethod(
            _fail_on_call(av.VideoFrame.from_ndarray, 60)
        )  # past x264's lookahead: packets are out

    monkeypatch.setattr(av, "VideoFrame", FailingVideoFrame)
    with pytest.raises(OSError, match="no space"):
        write_mp4(mp4, frames, fps=8)
    monkeypatch.setattr(Image, "fromarray", _fail_on_call(Image.fromarray, 4))
    with pytest.raises(OSError, match="no space"):
        write_frames(folder, frames)
    assert mp4.read_bytes() == old_mp4 and sorted(p.name for p in folder.iterdir()) == old_frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v", "v.mp4"]  # no temp file or folder left
    monkeypatch.undo()
    write_frames(folder, frames[:2])  # a finished write replaces the whole folder (the old extra frames go)
    assert sorted(p.name for p in folder.iterdir()) == ["000000.png", "000001.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v", "v.mp4"]
