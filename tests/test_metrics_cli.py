"""``sgvb eval`` end to end: a folder of generated videos against the synthetic dataset."""
import json
import subprocess
import sys
from pathlib import Path

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
    return subprocess.run([sys.executable, "-m", "benchmarks.cli", "eval", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_eval_videos_folder_against_a_dataset_appends_records(tmp_path):
    _write_frames(tmp_path / "fake", moving_blobs(4, 16, 32, seed=5))
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    run_dir = tmp_path / "run"
    args = [f"fake.videos={tmp_path / 'fake'}", "metrics=[fvd4_16f,fvd4_16f_subsample2f]", "dataset=synthetic", "dataset.num_videos=6",
            "dataset.num_frames=20", f"detector_path={detector}", f"run_dir={run_dir}", f"cache_dir={tmp_path / 'cache'}", "device=cpu", "mode=official"]
    done = _sgvb(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["metric"] for r in records] == ["fvd4_16f", "fvd4_16f_subsample2f"]
    assert all(r["protocol"]["mode"] == "official" and r["protocol"]["fake_source"] == "videos" for r in records)
    saved = json.loads((run_dir / "metric-fvd4_16f.jsonl").read_text())
    assert saved["value"] == records[0]["value"] and saved["protocol"]["num_real"] == 4



def _compose(*overrides):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        return compose("eval", overrides=list(overrides))


def test_eval_config_errors_name_the_key(tmp_path):
    from benchmarks.evaluate import EvalConfigError, run
    from registry import UnknownComponentError

    with pytest.raises(EvalConfigError, match="exactly one of fake.run_dir, fake.checkpoint, fake.videos"):
        run(_compose("metrics=[fvd4_16f]", "dataset=synthetic"))
    with pytest.raises(UnknownComponentError, match="unknown metric 'fvdx'"):
        run(_compose(f"fake.videos={tmp_path}", "metrics=[fvdx]", "dataset=synthetic"))
    with pytest.raises(EvalConfigError, match="fake.run_dir: .* no checkpoints"):
        run(_compose(f"fake.run_dir={tmp_path}", "metrics=[fvd4_16f]"))
    with pytest.raises(EvalConfigError, match="no dataset"):
        run(_compose(f"fake.videos={tmp_path}", "metrics=[fvd4_16f]"))


def test_eval_run_folder_uses_the_runs_dataset_and_appends_to_it(tmp_path):
    """A run folder with a checkpoint of the small StyleGAN-V: every checkpoint is evaluated, kimg parsed, records land in the run."""
    from benchmarks.evaluate import run
    from benchmarks.hydra_setup import load_option
    from benchmarks.training.checkpoint import save_checkpoint, spec_of
    from registry import GENERATORS

    spec = load_option("generator", "stylegan_v_small")
    G = GENERATORS.build(spec, resolution=16)
    state = {"components": {"generator": spec_of(G)}, "G": G.state_dict(), "G_ema": G.state_dict()}
    for kimg in (2, 5):
        save_checkpoint(tmp_path / "run" / "checkpoints" / f"ckpt-{kimg:06d}.pt", state)
    (tmp_path / "run" / "config.yaml").write_text("dataset:\n  _name_: synthetic\n  resolution: 16\n  num_videos: 5\n  num_frames: 12\n")
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    cfg = _compose(f"fake.run_dir={tmp_path / 'run'}", "fake.all_checkpoints=true", "metrics=[fvd4_8f]", f"detector_path={detector}",
                   f"cache_dir={tmp_path / 'cache'}", "device=cpu")
    records = run(cfg)
    assert [r["kimg"] for r in records] == [2.0, 5.0]
    assert records[1]["protocol"]["real_cache_hit"] and records[0]["protocol"]["fake_source"] == "generator"
    lines = (tmp_path / "run" / "metric-fvd4_8f.jsonl").read_text().splitlines()
    assert [json.loads(line)["checkpoint"].endswith(f"ckpt-{k:06d}.pt") for line, k in zip(lines, (2, 5))] == [True, True]
