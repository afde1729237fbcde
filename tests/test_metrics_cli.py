"""``sgvb eval`` end to end: a folder of generated videos against the synthetic dataset."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from metrics.testing import moving_blobs, save_tiny_torchscript_detector

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


def _write_frames(root, videos):
    for i, video in enumerate(videos):
        folder = root / f"video_{i:03d}"
        folder.mkdir(parents=True)
        for t, frame in enumerate(video):
            Image.fromarray(frame.numpy()).save(folder / f"{t:06d}.png")


def _sgvb(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", "eval", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_eval_videos_folder_against_a_dataset_appends_records(tmp_path):
    _write_frames(tmp_path / "fake", moving_blobs(4, 16, 32, seed=5))
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    run_dir = tmp_path / "run"
    args = [
        f"fake.videos={tmp_path / 'fake'}",
        "metrics=[fvd4_16f,fvd4_16f_subsample2f]",
        "dataset=synthetic",
        "dataset.num_videos=6",
        "dataset.num_frames=20",
        f"detector_path={detector}",
        f"run_dir={run_dir}",
        f"cache_dir={tmp_path / 'cache'}",
        "device=cpu",
        "mode=official",
    ]
    done = _sgvb(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()  # one summary line per record, naming the file that holds it
    assert [ln.split(" = ")[0] for ln in lines] == ["fvd4_16f", "fvd4_16f_subsample2f"]
    assert lines[0].endswith(f"-> {run_dir / 'metric-fvd4_16f.jsonl'}") and "{" not in done.stdout
    records = [
        json.loads((run_dir / f"metric-{name}.jsonl").read_text()) for name in ("fvd4_16f", "fvd4_16f_subsample2f")
    ]
    assert [r["metric"] for r in records] == ["fvd4_16f", "fvd4_16f_subsample2f"]
    assert all(r["protocol"]["mode"] == "official" and r["protocol"]["fake_source"] == "videos" for r in records)
    saved = json.loads((run_dir / "metric-fvd4_16f.jsonl").read_text())
    assert saved["value"] == records[0]["value"] and saved["protocol"]["num_real"] == 4


def compose_eval(*overrides):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        return compose("eval", overrides=list(overrides))


def test_eval_config_errors_name_the_key(tmp_path):
    from benchmarks.commands.evaluate import EvalConfigError, run
    from registry import UnknownComponentError

    with pytest.raises(EvalConfigError, match="exactly one of fake.run_dir, fake.checkpoint, fake.videos"):
        run(compose_eval("metrics=[fvd4_16f]", "dataset=synthetic"))
    with pytest.raises(UnknownComponentError, match="unknown metric 'fvdx'"):
        run(compose_eval(f"fake.videos={tmp_path}", "metrics=[fvdx]", "dataset=synthetic"))
    with pytest.raises(EvalConfigError, match="fake.run_dir: .* no checkpoints"):
        run(compose_eval(f"fake.run_dir={tmp_path}", "metrics=[fvd4_16f]"))
    with pytest.raises(EvalConfigError, match="no dataset"):
        run(compose_eval(f"fake.videos={tmp_path}", "metrics=[fvd4_16f]"))


def test_eval_run_folder_uses_the_runs_dataset_and_appends_to_it(tmp_path):
    """A run folder with a checkpoint of the small StyleGAN-V: every checkpoint is evaluated, kimg parsed,
    records land in the run."""
    from benchmarks.commands.evaluate import run
    from benchmarks.config.hydra_setup import load_option
    from benchmarks.records.checkpoint import save_checkpoint, spec_of
    from registry import GENERATORS

    spec = load_option("generator", "stylegan_v_small")
    G = GENERATORS.build(spec, resolution=16)
    state = {"components": {"generator": spec_of(G)}, "G": G.state_dict(), "G_ema": G.state_dict()}
    for kimg in (2, 5):
        save_checkpoint(tmp_path / "run" / "checkpoints" / f"ckpt-{kimg:06d}.pt", state)
    (tmp_path / "run" / "config.yaml").write_text(
        "dataset:\n  _name_: synthetic\n  resolution: 16\n  num_videos: 5\n  num_frames: 12\n"
    )
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    cfg = compose_eval(
        f"fake.run_dir={tmp_path / 'run'}",
        "fake.all_checkpoints=true",
        "metrics=[fvd4_8f]",
        f"detector_path={detector}",
        f"cache_dir={tmp_path / 'cache'}",
        "device=cpu",
    )
    records = run(cfg)
    assert [r["kimg"] for r in records] == [2.0, 5.0]
    assert records[1]["protocol"]["real_cache_hit"] and records[0]["protocol"]["fake_source"] == "generator"
    lines = (tmp_path / "run" / "metric-fvd4_8f.jsonl").read_text().splitlines()
    assert [json.loads(line)["checkpoint"].endswith(f"ckpt-{k:06d}.pt") for line, k in zip(lines, (2, 5))] == [
        True,
        True,
    ]


# ------------------------------------------------------------------------- inputs that make a number wrong (issue 10.2)
def _one_line_error(done):
    lines = [
        ln for ln in done.stderr.strip().splitlines() if ln.startswith("sgvb ")
    ]  # torch's own FutureWarnings aside
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr and "details:" in lines[0], (
        done.stderr
    )
    return lines[0]


def test_eval_refuses_a_videos_folder_with_mixed_frame_sizes_naming_the_odd_ones(tmp_path):
    videos = moving_blobs(3, 8, 16, seed=5)
    _write_frames(tmp_path / "fake", videos)
    _write_frames(tmp_path / "odd", moving_blobs(1, 8, 32, seed=6))
    (tmp_path / "odd" / "video_000").rename(tmp_path / "fake" / "grid")
    _write_frames(tmp_path / "real", moving_blobs(3, 8, 16, seed=7))
    done = _sgvb(
        f"fake.videos={tmp_path / 'fake'}",
        "metrics=[fvd3_8f]",
        "dataset=frames",
        f"dataset.path={tmp_path / 'real'}",
        "allow_stand_in_detectors=true",
        "device=cpu",
        cwd=tmp_path,
    )
    line = _one_line_error(done)
    assert "mixes frame sizes" in line and "'grid' (32x32)" in line and "video_000" not in line


def test_eval_takes_the_datas_own_resolution_and_refuses_a_real_fake_mismatch(tmp_path):
    from benchmarks.commands.evaluate import run

    _write_frames(tmp_path / "real", moving_blobs(4, 8, 16, seed=1))
    _write_frames(tmp_path / "fake", moving_blobs(4, 8, 16, seed=2))
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    common = [
        f"fake.videos={tmp_path / 'fake'}",
        "metrics=[fvd4_8f]",
        "dataset=frames",
        f"dataset.path={tmp_path / 'real'}",
        f"detector_path={detector}",
        f"cache_dir={tmp_path / 'cache'}",
        "device=cpu",
    ]
    (record,) = run(compose_eval(*common))  # the frames preset says 128; evaluation takes the data's 16 px
    assert record["protocol"]["resolution"] == 16
    with pytest.raises(ValueError, match=r"holds 16x16 videos but the real data is evaluated at 32x32"):
        run(compose_eval(*common, "dataset.resolution=32"))


def test_eval_refuses_one_detector_file_for_metrics_that_need_different_detectors(tmp_path):
    from benchmarks.commands.evaluate import EvalConfigError, run

    _write_frames(tmp_path / "fake", moving_blobs(2, 8, 16, seed=2))
    detector = save_tiny_torchscript_detector(tmp_path / "i3d.pt", video=True)
    with pytest.raises(EvalConfigError, match=r"one file .*i3d.pt.*fvd2048_16f -> i3d, fid50k_full -> inception"):
        run(
            compose_eval(
                f"fake.videos={tmp_path / 'fake'}",
                "metrics=[fvd2048_16f,fid50k_full]",
                "dataset=synthetic",
                f"detector_path={detector}",
            )
        )
    # per-metric detector files, in Hydra's command-line grammar
    image = save_tiny_torchscript_detector(tmp_path / "inception.pt", video=False)
    records = run(
        compose_eval(
            f"fake.videos={tmp_path / 'fake'}",
            f"metrics=[fvd2_8f,{{_name_:fid16,detector_path:{image}}}]",
            "dataset=synthetic",
            "dataset.num_videos=2",
            "dataset.num_frames=8",
            "dataset.resolution=16",
            f"detector_path={detector}",
            f"cache_dir={tmp_path / 'cache'}",
            "device=cpu",
        )
    )
    assert [(r["metric"], r["protocol"]["detector"]) for r in records] == [
        ("fvd2_8f", "torchscript:i3d"),
        ("fid16", "torchscript:inception"),
    ]


def test_eval_refuses_fewer_videos_than_the_name_in_one_line_and_allow_fewer_records_it(tmp_path):
    _write_frames(tmp_path / "fake", moving_blobs(3, 8, 16, seed=2))
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    args = [
        f"fake.videos={tmp_path / 'fake'}",
        "metrics=[fvd4_8f]",
        "dataset=synthetic",
        "dataset.num_videos=4",
        "dataset.num_frames=8",
        "dataset.resolution=16",
        f"detector_path={detector}",
        f"cache_dir={tmp_path / 'cache'}",
        "device=cpu",
    ]
    line = _one_line_error(_sgvb(*args, cwd=tmp_path))
    assert "found 3 fake videos" in line and "allow_fewer=true" in line
    env = {**os.environ, "SGVB_TRACEBACK": "1"}
    loud = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", "eval", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "CountError" in loud.stderr
    done = _sgvb(*args, "allow_fewer=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[fewer than its name states]" in done.stdout and "3/4 fake videos" in done.stdout


def test_sgvb_stats_file_is_used_by_eval_without_the_dataset(tmp_path):
    from benchmarks.commands.evaluate import run

    _write_frames(tmp_path / "fake", moving_blobs(4, 8, 16, seed=2))
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    data = ["dataset=synthetic", "dataset.num_videos=4", "dataset.num_frames=12", "dataset.resolution=16"]
    out = tmp_path / "sky_fvd4_8f.npz"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.cli",
            "stats",
            *data,
            "metric=fvd4_8f",
            f"out={out}",
            f"detector_path={detector}",
            f"cache_dir={tmp_path / 'c1'}",
            "device=cpu",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    common = [f"fake.videos={tmp_path / 'fake'}", f"detector_path={detector}", "device=cpu"]
    (direct,) = run(compose_eval(*common, *data, "metrics=[fvd4_8f]", f"cache_dir={tmp_path / 'c2'}"))
    (shared,) = run(compose_eval(*common, f"real_stats={out}", "metrics=[fvd4_8f]", f"cache_dir={tmp_path / 'c3'}"))
    assert (
        shared["value"] == pytest.approx(direct["value"], rel=1e-12)
        and shared["protocol"]["real_cache_hit"] == "reference"
    )
    with pytest.raises(ValueError, match="differing fields: metric: file 'fvd4_8f' vs evaluation 'fvd4_4f'"):
        run(compose_eval(*common, f"real_stats={out}", "metrics=[fvd4_4f]"))


def test_native_frame_sizes_of_every_dataset_kind(tmp_path):
    from benchmarks.commands.eval_inputs import EvalInputError, build_at_own_resolution
    from benchmarks.training.video_io import write_video

    for i, video in enumerate(moving_blobs(2, 4, 24, seed=1)):
        write_video(tmp_path / "mp4" / f"v{i}.mp4", video.numpy(), 25)
    _write_frames(tmp_path / "frames", moving_blobs(2, 4, 20, seed=2))
    assert (
        build_at_own_resolution(
            {"_name_": "mp4", "path": str(tmp_path / "mp4"), "resolution": None}, "dataset"
        ).resolution
        == 24
    )
    assert build_at_own_resolution({"_name_": "frames", "path": str(tmp_path / "frames")}, "dataset").resolution == 20
    assert (
        build_at_own_resolution(
            {"_name_": "frames", "path": str(tmp_path / "frames"), "resolution": 8}, "dataset"
        ).resolution
        == 8
    )
    assert (
        build_at_own_resolution({"_name_": "synthetic", "num_videos": 2, "num_frames": 4}, "dataset").resolution == 32
    )
    wide = tmp_path / "wide" / "v"
    wide.mkdir(parents=True)
    Image.new("RGB", (30, 20)).save(wide / "000000.png")
    with pytest.raises(EvalInputError, match=r"30x20, not square; pass dataset.resolution=R"):
        build_at_own_resolution({"_name_": "frames", "path": str(tmp_path / "wide")}, "dataset")


@pytest.mark.parametrize(
    "command, override, says",
    [
        ("eval", "num_runs=x", "sgvb eval: configuration error: option num_runs=x: "),
        ("eval", "fake.run_dirr=x", "Did you mean 'run_dir'?"),
        ("stats", "seed=x", "sgvb stats: configuration error: option seed=x: "),
    ],
)
def test_eval_and_stats_refuse_a_bad_option_in_one_line_before_running(tmp_path, command, override, says):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", command, override],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
