"""``num_runs`` does each deterministic thing once per evaluation: KID and IS embed a folder's samples once and KID
loads its cached real side once; LVC's real windows are computed once per real side. Numbers are unchanged."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from metrics import cache, consistency, evaluate
from metrics.testing import ArrayVideoDataset, moving_blobs, save_tiny_torchscript_detector


@pytest.fixture
def counted(monkeypatch):
    """Counts of detector calls on generated frames (keyed by batch size) and of real-cache file loads."""
    calls = {"frames": 0, "loads": 0}
    from metrics import samples

    original_features_of, original_load = samples.features_of, cache.load

    def features_of(detector, batches, ctx):
        rows = original_features_of(detector, batches, ctx)
        calls["frames"] += len(rows)
        return rows

    def load(path):
        calls["loads"] += 1
        return original_load(path)

    monkeypatch.setattr(samples, "features_of", features_of)
    monkeypatch.setattr(cache, "load", load)
    return calls


@pytest.mark.parametrize("metric", ["kid24_full", "is24"])
def test_num_runs_embeds_a_folder_once_and_loads_the_real_side_once(tmp_path, counted, metric):
    detector = save_tiny_torchscript_detector(tmp_path / "frames.pt", video=False)
    real = ArrayVideoDataset(moving_blobs(6, 8, 32, seed=1))
    fake = ArrayVideoDataset(moving_blobs(6, 4, 32, seed=2))
    kw = dict(fake=fake, real=real, device="cpu", detector_path=detector, cache_dir=tmp_path / "cache")
    spec = {"_name_": metric, "detector": {"_name_": "torchscript", "video": False}}
    if metric.startswith("is"):  # class probabilities: the tiny network's softmax (called without return_features)
        spec.update(num_splits=2, detector={"_name_": "torchscript", "video": False, "call_kwargs": {}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = evaluate(spec, **kw)  # fills the real cache (KID)
        counted.update(frames=0, loads=0)
        repeated = evaluate(spec, num_runs=3, **kw)
    assert counted["frames"] == 24  # the folder's 24 frames embedded once, not once per run
    assert counted["loads"] == (1 if metric.startswith("kid") else 0)  # the cached real side read once
    assert repeated["runs"][0]["value"] == single["value"]  # run 0 is the plain evaluation, as before


def test_lvc_real_windows_are_computed_once_per_real_side(monkeypatch):
    rng = np.random.default_rng(0)
    feats = lambda n: torch.from_numpy(rng.normal(size=(n, 16, 8)))  # noqa: E731  [B, T, d]
    sides = []
    for n in (6, 6, 7):
        acc = consistency.ConsistencyAccumulator(16, 4, 8, torch.device("cpu"))
        acc.update(feats(n))
        sides.append({k: v.numpy() for k, v in acc.sums.items()})
    gen_a, gen_b, real = sides
    consistency._REAL_WINDOWS.clear()
    value_a, sub_a, curves_a = consistency.summarize(gen_a, real)
    made = []
    original = consistency.window_distances
    monkeypatch.setattr(consistency, "window_distances", lambda *a, **k: made.append(1) or original(*a, **k))
    value_b, _, curves_b = consistency.summarize(gen_b, {k: v.copy() for k, v in real.items()})  # same content
    assert len(made) == 1  # the generated side's windows only
    np.testing.assert_array_equal(curves_a["fd_window_real"], curves_b["fd_window_real"])
    consistency._REAL_WINDOWS.clear()
    again, sub_again, _ = consistency.summarize(gen_a, real)  # recomputed from scratch: the same numbers
    assert (again, sub_again) == (value_a, sub_a)
    assert len(made) == 3  # real and generated windows when nothing is kept


def test_a_cached_real_side_is_read_from_disk_once_per_process(tmp_path, monkeypatch):
    detector = save_tiny_torchscript_detector(tmp_path / "clips.pt", video=True)
    real = ArrayVideoDataset(moving_blobs(6, 8, 32, seed=1))
    fake = ArrayVideoDataset(moving_blobs(6, 8, 32, seed=2))
    kw = dict(fake=fake, real=real, device="cpu", detector_path=detector, cache_dir=tmp_path / "cache")
    reads = []
    original = np.load
    monkeypatch.setattr(np, "load", lambda path, *a, **k: reads.append(path) or original(path, *a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = {"_name_": "kvd6_8f", "detector": {"_name_": "torchscript", "video": True}}
        first = evaluate(spec, **kw)  # computes and writes the real side
        later = [evaluate(spec, **kw) for _ in range(2)]  # later evaluations of a run: the same file, read once
    assert len([p for p in reads if "kvd6_8f-real" in str(p)]) == 1
    assert [r["value"] for r in later] == [first["value"]] * 2
    (path,) = (tmp_path / "cache").glob("kvd6_8f-real-*.npz")
    loaded = cache.load(path)
    loaded["features"][:] = 0  # callers get copies: the kept arrays are never changed through them
    assert cache.load(path)["features"].any()
