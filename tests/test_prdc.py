"""Precision/recall/density/coverage: equal to the authors' ``prdc`` package, blockwise, cached, and 1 for a folder
against itself (library and ``sgvb eval`` with stand-in detectors)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from metrics import build_metric, evaluate
from metrics import prdc as prdc_module
from metrics.prdc import knn_radii, prdc
from metrics.testing import ArrayVideoDataset, moving_blobs

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")

KEYS = ("precision", "recall", "density", "coverage")


def _package(real, fake):
    compute_prdc = pytest.importorskip("prdc").compute_prdc  # the dev extra installs it
    pr, dc = compute_prdc(real, fake, nearest_k=3), compute_prdc(real, fake, nearest_k=5)
    return {"precision": pr["precision"], "recall": pr["recall"], "density": dc["density"], "coverage": dc["coverage"]}


@pytest.mark.parametrize("block", [None, 7 * 90], ids=["one-block", "blocks-of-7-rows"])
def test_prdc_equals_the_prdc_package_on_identical_features(monkeypatch, block):
    if block is not None:
        monkeypatch.setattr(prdc_module, "_BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(120, 32))
    fake = np.concatenate([rng.normal(0.4, 1.2, size=(60, 32)), real[:30] + rng.normal(0, 0.05, size=(30, 32))])
    want = _package(real, fake)
    got = prdc(real, fake)
    assert 0 < want["precision"] < 1 and 0 < want["coverage"] < 1  # no saturated score hides a difference
    for key in KEYS:
        assert abs(got[key] - want[key]) <= 1e-12, key
    radii = knn_radii(real, (3, 5))
    assert prdc(real, fake, real_radii=radii) == got  # the cached real side gives the same numbers


def test_knn_radii_are_the_kth_neighbour_distances_excluding_the_point_itself():
    x = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    radii = knn_radii(x, (1, 3))
    np.testing.assert_allclose(radii[1], [1, 1, 2, 4, 8])
    np.testing.assert_allclose(radii[3], [7, 6, 4, 7, 14])
    with pytest.raises(ValueError, match="need more than 5 samples"):
        knn_radii(x, (5,))


def test_prdc_names_direction_and_detectors():
    clips, frames = build_metric("prdc2048_16f"), build_metric("prdc10k_frames")
    assert (clips.name, clips.num_samples, clips.num_frames, clips.detector_spec) == ("prdc2048_16f", 2048, 16, "i3d")
    assert (frames.name, frames.num_samples, frames.num_frames, frames.detector_spec) == (
        "prdc10k_frames",
        10000,
        None,
        "inception",
    )
    assert clips.direction == frames.direction == "higher"
    assert build_metric({"_name_": "prdc64_16f", "detector": "videomae"}).detector_spec == "videomae"
    assert (clips.nearest_k_pr, clips.nearest_k_dc) == (3, 5)


def _clip_features(detector_path, ds):
    det = torch.jit.load(detector_path)
    clips = torch.stack([v.permute(3, 0, 1, 2) for v in ds.videos])  # [B, 3, T, H, W] uint8
    return det(clips, rescale=True, resize=True, return_features=True).detach().numpy()


def test_prdc_metric_on_clips_caches_the_real_radii_and_is_one_against_itself(tmp_path, video_detector):
    real = ArrayVideoDataset(moving_blobs(8, 8, 16, seed=1))  # every video exactly 8 frames: real offsets are 0
    fake = ArrayVideoDataset(moving_blobs(8, 8, 16, seed=2))
    spec = {"_name_": "prdc", "num_samples": 8, "num_frames": 8, "detector": "i3d"}
    kwargs = dict(real=real, detector_path=video_detector, cache_dir=tmp_path / "cache", batch_size=4)
    rec = evaluate(spec, fake=fake, **kwargs)
    want = prdc(_clip_features(video_detector, real), _clip_features(video_detector, fake))
    assert rec["results"] == pytest.approx(
        {"prdc8_8f": want["coverage"], **{f"prdc8_8f_{k}": want[k] for k in KEYS}}, abs=1e-6
    )
    assert rec["value"] == rec["results"]["prdc8_8f_coverage"]
    p = rec["protocol"]
    assert (p["direction"], p["headline"], p["items"], p["real_cache_hit"]) == ("higher", "coverage", "clips", False)
    assert evaluate(spec, fake=fake, **kwargs)["protocol"]["real_cache_hit"] is True
    cached = [np.load(f) for f in (tmp_path / "cache").rglob("*.npz")]
    assert cached and all({"features", "radii_k3", "radii_k5"} <= set(c.files) for c in cached)
    same = evaluate(spec, fake=real, **kwargs)["results"]
    assert [same[f"prdc8_8f_{k}"] for k in ("precision", "recall", "coverage")] == [1.0, 1.0, 1.0]


def test_prdc_metric_on_frames_is_one_against_itself(tmp_path, image_detector):
    real = ArrayVideoDataset(moving_blobs(3, 4, 16, seed=1))  # 12 frames, all of them drawn
    rec = evaluate(
        {"_name_": "prdc", "num_samples": 12, "num_frames": None, "detector": "inception", "clip_length": 4},
        fake=real,
        real=real,
        detector_path=image_detector,
        cache_dir=tmp_path / "cache",
    )
    assert rec["metric"] == "prdc12_frames" and rec["protocol"]["items"] == "frames"
    assert [rec["results"][f"prdc12_frames_{k}"] for k in ("precision", "recall", "coverage")] == [1.0, 1.0, 1.0]


@pytest.mark.slow
def test_sgvb_eval_of_a_folder_against_itself_gives_precision_recall_coverage_one(tmp_path):
    folder = tmp_path / "videos"
    for i, video in enumerate(moving_blobs(6, 16, 32, seed=5)):  # 16 frames each: the real offsets are 0
        (folder / f"video_{i:03d}").mkdir(parents=True)
        for t, frame in enumerate(video):
            Image.fromarray(frame.numpy()).save(folder / f"video_{i:03d}" / f"{t:06d}.png")
    env = {**os.environ, "SGVB_OFFLINE": "1", "SGVB_WEIGHTS_DIR": str(tmp_path / "no-weights")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", "eval", f"fake.videos={folder}", "metrics=[prdc6_16f]"]
        + ["dataset=frames", f"dataset.path={folder}", "allow_stand_in_detectors=true", "device=cpu"]
        + [f"run_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "metric-prdc6_16f.jsonl").read_text().splitlines()]
    assert record["protocol"]["stand_in"] is True
    assert [record["results"][f"prdc6_16f_{k}"] for k in ("precision", "recall", "coverage")] == [1.0, 1.0, 1.0]


def test_sgvb_list_metrics_shows_the_kvd_family_and_the_prdc_metric():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "list", "metrics"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    names = {line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()}
    assert {"kvd", "kvd2048_16f", "prdc", "prdc2048_16f", "prdc10k_frames"} <= names


def test_prdcs_clip_selection_borrowed_from_kvd_is_pinned_too():
    """PRDC takes its clips through helpers in ``metrics.kvd``, which PRDC's own fingerprint (its module) misses."""
    import hashlib
    import inspect

    from metrics import kvd
    from metrics.prdc import PRDC
    from metrics.protocol import code_without_docstrings

    digest = hashlib.sha256()
    for helper in (kvd.select_real, kvd.clip_rows, kvd.fake_clip_features):
        digest.update(code_without_docstrings(inspect.getsource(helper)).encode())
    now = digest.hexdigest()[:16]
    assert (PRDC.PROTOCOL_VERSION, now) == (1, "46e5ee71b3beb99e"), (
        f"metrics.kvd's clip helpers changed ({now}): bump PRDC.PROTOCOL_VERSION (and KVD's) and re-pin here and in "
        "tests/test_protocol.py"
    )


KVD_SPEC = {"_name_": "kvd", "num_videos": 7, "num_frames": 8, "detector": "i3d"}
PRDC_SPEC = {"_name_": "prdc", "num_samples": 7, "num_frames": 8, "detector": "i3d", "nearest_k_dc": 4}


def _data():
    return ArrayVideoDataset(moving_blobs(7, 12, 16, seed=1)), ArrayVideoDataset(moving_blobs(7, 12, 16, seed=2))


def _two_process_worker(rank, world, init_file, detector, cache_dir, out_dir):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        real, fake = _data()
        kwargs = dict(fake=fake, real=real, detector_path=detector, cache_dir=cache_dir, batch_size=2)
        out = {"kvd": evaluate(KVD_SPEC, **kwargs)["value"], "prdc": evaluate(PRDC_SPEC, **kwargs)["results"]}
        (out_dir / f"rank{rank}.json").write_text(json.dumps(out))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_give_the_kvd_and_prdc_of_one(tmp_path, video_detector):
    """Rows are gathered once across processes and the real radii are summed from rank 0's copy only."""
    torch.multiprocessing.spawn(
        _two_process_worker, args=(2, str(tmp_path / "init"), video_detector, str(tmp_path / "c2"), tmp_path), nprocs=2
    )
    real, fake = _data()
    kwargs = dict(fake=fake, real=real, detector_path=video_detector, cache_dir=tmp_path / "c1", batch_size=3)
    one = {"kvd": evaluate(KVD_SPEC, **kwargs)["value"], "prdc": evaluate(PRDC_SPEC, **kwargs)["results"]}
    for rank in range(2):
        two = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert two["kvd"] == pytest.approx(one["kvd"], rel=1e-4, abs=1e-7)
        assert two["prdc"] == pytest.approx(one["prdc"], abs=1e-9)
    (radii_two,), (radii_one,) = (
        [np.load(f)["radii_k4"] for f in (tmp_path / c).rglob("prdc*.npz")] for c in ("c2", "c1")
    )
    np.testing.assert_allclose(np.sort(radii_two), np.sort(radii_one), rtol=1e-5)
