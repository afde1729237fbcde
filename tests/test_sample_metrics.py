"""KID, IS and video IS: the estimators against independent formulas, names, directions,
and end-to-end runs on stand-ins."""

import warnings

import numpy as np
import pytest
from sklearn.metrics.pairwise import polynomial_kernel

from metrics import build_metric, evaluate
from metrics.inception_score import split_scores
from metrics.kid import kernel_distance
from metrics.testing import ArrayVideoDataset, TinyVideoGenerator, moving_blobs
from registry import METRICS

pytestmark = pytest.mark.filterwarnings(
    "ignore:USING A STAND-IN:RuntimeWarning", "ignore:.*skipped.*shorter:RuntimeWarning"
)


def test_kid_with_one_full_subset_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 8)), rng.normal(0.3, 1.0, size=(40, 8))
    kxx, kyy, kxy = (polynomial_kernel(a, b, degree=3, gamma=1 / 8, coef0=1) for a, b in ((x, x), (y, y), (x, y)))
    m = 40
    mmd = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
    # a subset of all m samples is a permutation, which the MMD does not see
    assert kernel_distance(x, y, num_subsets=1, max_subset_size=1000, seed=3) == pytest.approx(mmd, rel=1e-10)
    assert kernel_distance(x, y, num_subsets=5, max_subset_size=1000, seed=3) == pytest.approx(mmd, rel=1e-10)
    assert kernel_distance(x, y, num_subsets=3, max_subset_size=20, seed=0) != kernel_distance(
        x, y, num_subsets=3, max_subset_size=20, seed=1
    )
    f32 = kernel_distance(x, y, num_subsets=4, max_subset_size=25, seed=1, dtype=np.float32)
    assert f32 == pytest.approx(kernel_distance(x, y, num_subsets=4, max_subset_size=25, seed=1), rel=1e-4)


def test_inception_score_of_known_distributions():
    uniform = np.full((20, 5), 0.2)
    assert split_scores(uniform, 2) == pytest.approx((1.0, 0.0))
    eps = 1e-12
    one_hot = np.full((20, 4), eps)
    one_hot[np.arange(20), np.arange(20) % 4] = 1 - 3 * eps  # every split sees each class equally often, confidently
    mean, std = split_scores(one_hot, 5)
    assert mean == pytest.approx(4.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)
    # shuffling before splitting (the official video IS) changes the splits, not the per-split formula
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6) * 0.3, size=30)
    expect = [np.exp(np.mean([np.sum(q * np.log(q / part.mean(0))) for q in part])) for part in np.split(p, 3)]
    assert split_scores(p, 3) == pytest.approx((np.mean(expect), np.std(expect)), rel=1e-12)
    shuffled = p.copy()
    np.random.RandomState(42).shuffle(shuffled)
    assert split_scores(p, 3, shuffle_seed=42) == split_scores(shuffled, 3)


def test_names_presets_and_directions():
    assert METRICS.get("kid50k_full").direction == "lower" and METRICS.get("fvd2048_16f").direction == "lower"
    assert METRICS.get("is50k").direction == "higher" and METRICS.get("isv2048_ucf").direction == "higher"
    kid = build_metric("kid50k_full")
    assert (kid.num_fake, kid.max_real, kid.num_subsets, kid.max_subset_size) == (50000, 1_000_000, 100, 1000)
    assert build_metric("kid2k_full").num_fake == 2000
    assert (build_metric("is50k").num_fake, build_metric("is50k").num_splits) == (50000, 10)
    isv = build_metric("isv2048_ucf")
    assert (isv.num_videos, isv.num_frames, isv.num_splits, isv.shuffle_seed, isv.detector_spec) == (
        2048,
        16,
        10,
        42,
        "c3d_ucf101",
    )
    assert build_metric("isv64_ucf").num_videos == 64


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    from metrics import detectors

    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.delenv("SGVB_WEIGHTS_DIR", raising=False)
    detectors._LOADED.clear()
    yield tmp_path
    detectors._LOADED.clear()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_kid_and_is_end_to_end_on_stand_ins(offline):
    real = ArrayVideoDataset(moving_blobs(2, 4, 32, seed=0))
    G = TinyVideoGenerator(resolution=32)
    kw = dict(fake=G, real=real, allow_stand_in_detectors=True, cache_dir=offline / "stats", batch_size=8)
    spec = {"_name_": "kid", "num_fake": 6, "max_real": 7, "num_subsets": 3, "max_subset_size": 5, "clip_length": 4}
    kid = evaluate(spec, **kw)
    assert kid["metric"] == "kid6_full" and np.isfinite(kid["value"])
    assert kid["protocol"]["num_real"] == 7 and kid["protocol"]["num_fake"] == 6 and kid["protocol"]["stand_in"]
    assert kid["protocol"]["direction"] == "lower" and not kid["protocol"]["real_cache_hit"]
    again = evaluate(spec, **kw)
    assert again["protocol"]["real_cache_hit"] and again["value"] == kid["value"]
    score = evaluate({"_name_": "is", "num_fake": 6, "num_splits": 3, "clip_length": 4}, **kw)
    assert set(score["results"]) == {"is6_mean", "is6_std"} and score["value"] >= 1.0 - 1e-9
    assert score["protocol"]["detector"] == "inception_probs[stand-in]" and score["protocol"]["direction"] == "higher"


def test_video_inception_score_on_the_c3d_stand_in(offline):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = TinyVideoGenerator(resolution=32)
        real = ArrayVideoDataset(moving_blobs(2, 16, 32, seed=0))
        rec = evaluate(
            {"_name_": "isv", "num_videos": 4, "num_splits": 2, "num_frames": 8},
            fake=G,
            real=real,
            allow_stand_in_detectors=True,
            batch_size=4,
        )
        official = evaluate(
            {"_name_": "isv", "num_videos": 4, "num_splits": 2, "num_frames": 8},
            fake=G,
            real=real,
            allow_stand_in_detectors=True,
            batch_size=4,
            mode="official",
        )
    assert rec["metric"] == "isv4_ucf" and rec["protocol"]["detector"] == "c3d_ucf101[stand-in]"
    assert rec["results"]["isv4_ucf_mean"] >= 1.0 - 1e-9 and rec["protocol"]["shuffle_seed"] == 42
    assert official["value"] == pytest.approx(rec["value"], rel=1e-5)  # float32 official arithmetic vs float64
    with pytest.raises(ValueError, match="video detector"):
        evaluate(
            {"_name_": "isv", "num_videos": 6, "num_splits": 2, "detector": "dino_vits16"},
            fake=G,
            real=real,
            allow_stand_in_detectors=True,
        )


def test_video_inception_score_of_a_folder_refuses_too_short_videos_in_official_mode(offline):
    """As FVD does: official mode names the short fake videos instead of skipping them
    (the folder path lost ``mode``)."""
    fake = ArrayVideoDataset([moving_blobs(1, n, 32, seed=i)[0] for i, n in enumerate([8, 3, 8, 8])])
    spec = {"_name_": "isv", "num_videos": 3, "num_splits": 1, "num_frames": 8}
    with pytest.raises(ValueError, match=r"shorter than the 8 frames .*'video_000001' \(3\)"):
        evaluate(spec, fake=fake, real=fake, allow_stand_in_detectors=True, batch_size=4, mode="official")
    assert (
        evaluate(spec, fake=fake, real=fake, allow_stand_in_detectors=True, batch_size=4)["protocol"]["num_fake"] == 3
    )
