"""KID, IS and video IS: the estimators against independent formulas, names, directions,
and end-to-end runs on stand-ins."""

import warnings

import numpy as np
import pytest
import torch
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


def test_official_kid50k_full_is_in_stylegan_vs_unit_times_1000(offline, monkeypatch):
    """StyleGAN-V's ``compute_kid`` returns kid * 1000. Hand-derived on 1-d features x = {0, 1} (generated),
    y = {1, 2} (real), k(a, b) = (a*b + 1)^3, m = 2 (every subset is all of them, in some order):
    off-diagonal k(x, x) = 2 * 1 = 2, k(y, y) = 2 * 27 = 54, so (2 + 54) / (m - 1) = 56; k(x, y) sums to
    1 + 1 + 8 + 27 = 37, times 2 / m = 37; MMD^2 = (56 - 37) / m = 9.5 raw, 9500 in StyleGAN-V's unit."""
    from metrics import samples

    monkeypatch.setattr(samples, "features_of", lambda *a, **k: np.array([[0.0], [1.0]], np.float32))
    monkeypatch.setattr(samples, "feature_slots", lambda *a, **k: torch.tensor([[1.0], [2.0]]))
    assert build_metric("kid50k_full").official_scale == 1000.0
    real = ArrayVideoDataset(moving_blobs(2, 4, 32, seed=0))
    G = TinyVideoGenerator(resolution=32)
    kw = dict(fake=G, real=real, allow_stand_in_detectors=True, batch_size=8)
    spec = {"_name_": "kid", "num_fake": 2, "max_real": 2, "num_subsets": 3, "max_subset_size": 1000}
    official = evaluate(spec, **kw, mode="official", cache_dir=offline / "a")
    default = evaluate(spec, **kw, cache_dir=offline / "b")
    assert official["value"] == 9500.0 and official["protocol"]["unit"] == "x1000"
    assert default["value"] == 9.5 and default["protocol"]["unit"] == "raw"
    ada = evaluate({**spec, "official_scale": 1}, **kw, mode="official", cache_dir=offline / "c")
    assert ada["value"] == 9.5 and ada["protocol"]["unit"] == "raw"  # StyleGAN2-ADA's convention


def _official_kid(gen: np.ndarray, real: np.ndarray, *, num_subsets: int, max_subset_size: int, seed: int) -> float:
    """StyleGAN-V's KID as its code computes it (re-derived): float32 features, subsets from the *global* numpy
    stream (seeded here), unbiased polynomial MMD^2 averaged over subsets, times 1000."""
    np.random.seed(seed)
    d, m = real.shape[1], min(real.shape[0], gen.shape[0], max_subset_size)
    total = 0
    for _ in range(num_subsets):
        x = gen[np.random.choice(gen.shape[0], m, replace=False)]
        y = real[np.random.choice(real.shape[0], m, replace=False)]
        within = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        across = (x @ y.T / d + 1) ** 3
        total += (within.sum() - np.diag(within).sum()) / (m - 1) - across.sum() * 2 / m
    return float(total / num_subsets / m) * 1000


def _official_is(probs: np.ndarray, num_splits: int, shuffle_seed: int | None = None) -> tuple[float, float]:
    """The official (Inception / video) IS as re-derived from its code: float32 probabilities, optionally shuffled
    by ``RandomState(42)``, ``num_splits`` consecutive parts, exp of the mean KL to the part's marginal."""
    probs = probs.copy()
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(probs)
    n, scores = len(probs), []
    for i in range(num_splits):
        part = probs[i * n // num_splits : (i + 1) * n // num_splits]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


def test_official_kid_is_and_video_is_are_bit_equal_to_the_official_computation(offline, monkeypatch):
    """The official code feeds its detectors dense (contiguous) tensors; ours produced channels-last views
    (``rearrange``) whose features differed by ~2e-7, so official-mode KID/IS/video IS were not bit-exact. Every
    detector now makes its input contiguous: the same inputs, computed the official way, give the same numbers."""
    from metrics import samples

    seen = {}
    real_features_of, real_slots = samples.features_of, samples.feature_slots

    def recording(original, key):
        def run(detector, batches, ctx):
            batches = list(batches)
            out = original(detector, iter(batches), ctx)
            seen.setdefault(key, []).append((detector, batches, np.asarray(out)))
            return out

        return run

    monkeypatch.setattr(samples, "features_of", recording(real_features_of, "fake"))
    monkeypatch.setattr(samples, "feature_slots", recording(real_slots, "real"))

    def official_features(key):
        detector, batches, ours = seen[key][-1]
        official = np.concatenate([detector(b.contiguous()).float().numpy() for b in batches])
        assert np.array_equal(ours, official)  # bit-identical features (real frames came channels-last: 9e-8 off)
        return official

    real = ArrayVideoDataset(moving_blobs(3, 8, 32, seed=0))
    G = TinyVideoGenerator(resolution=32)
    kw = dict(fake=G, real=real, allow_stand_in_detectors=True, batch_size=8, mode="official", seed=3)
    spec = {"_name_": "kid", "num_fake": 12, "max_real": 10, "num_subsets": 4, "max_subset_size": 6, "clip_length": 4}
    kid = evaluate(spec, **kw, cache_dir=offline / "kid")
    assert any(b.stride(1) == 1 for _, bs, _ in seen["real"] for b in bs)  # channels-last frames: used to differ
    expect = _official_kid(
        official_features("fake"), official_features("real"), num_subsets=4, max_subset_size=6, seed=3
    )
    assert kid["value"] == expect

    score = evaluate({"_name_": "is", "num_fake": 12, "num_splits": 3, "clip_length": 4}, **kw)
    assert (score["results"]["is12_mean"], score["results"]["is12_std"]) == _official_is(official_features("fake"), 3)

    isv = evaluate({"_name_": "isv", "num_videos": 6, "num_splits": 2, "num_frames": 8}, **kw)
    probs = official_features("fake")
    assert (isv["results"]["isv6_ucf_mean"], isv["results"]["isv6_ucf_std"]) == _official_is(probs, 2, 42)


def test_is_and_video_is_on_fewer_items_than_the_name_states_are_refused_or_flagged(offline):
    """The official code returns NaN on fewer samples than the name states (its splits index by the requested count):
    official mode refuses; the default mode refuses unless allow_fewer, then records counts and fewer_than_name."""
    from metrics.base import CountError

    fake = ArrayVideoDataset(moving_blobs(3, 8, 32, seed=1))  # 3 videos, 24 frames
    kw = dict(fake=fake, real=fake, allow_stand_in_detectors=True, batch_size=8)
    for spec, what in (
        ({"_name_": "is", "num_fake": 30, "num_splits": 3}, "24 fake frames"),
        ({"_name_": "isv", "num_videos": 5, "num_splits": 3, "num_frames": 8}, "3 fake videos"),
    ):
        with pytest.raises(CountError, match=f"found {what}.*official code returns NaN"):
            evaluate(spec, **kw, mode="official")
        with pytest.raises(CountError, match="allow_fewer"):
            evaluate(spec, **kw)
        with pytest.warns(RuntimeWarning, match="fewer than"):
            rec = evaluate(spec, **kw, allow_fewer=True)
        used = int(what.split()[0])
        assert rec["protocol"]["fewer_than_name"] and rec["protocol"]["num_fake"] == used
        assert list(rec["protocol"]["counts"].values()) == [{"requested": spec.get("num_fake", 5), "used": used}]


def test_fid_sees_the_features_the_official_code_sees(offline, monkeypatch):
    """FID's frames reach the Inception as channels-last views too (real frames from ``cat``): the detector makes them
    contiguous, so every feature row is bit-equal to the official call's (the 2048-d scipy sqrtm of official mode is
    too slow for a unit test; the statistics and the formula are pinned in tests/test_frechet.py)."""
    from metrics import detectors

    calls = []
    forward = detectors.ImageNetworkDetector.forward

    def recording(self, x):
        out = forward(self, x)
        calls.append((self, x, out))
        return out

    monkeypatch.setattr(detectors.ImageNetworkDetector, "forward", recording)
    real = ArrayVideoDataset(moving_blobs(3, 8, 32, seed=0))
    kw = dict(fake=TinyVideoGenerator(resolution=32), real=real, allow_stand_in_detectors=True, batch_size=8)
    fid = evaluate({"_name_": "fid", "num_fake": 12, "clip_length": 4}, **kw, seed=3)
    assert np.isfinite(fid["value"]) and len(calls) >= 2
    assert any(x.stride(1) == 1 for _, x, _ in calls)  # channels-last frames: features used to be ~1e-7 off
    assert all(torch.equal(out, forward(det, x.contiguous())) for det, x, out in calls)
