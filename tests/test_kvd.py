"""KVD: DIGAN's unbiased polynomial-kernel MMD² over all videos (values by hand, scikit-learn's kernel, the metric)."""

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import polynomial_kernel

from metrics import build_metric, evaluate, kvd
from metrics.kvd import polynomial_mmd2
from metrics.testing import ArrayVideoDataset, moving_blobs

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


def test_kvd_equals_values_derived_by_hand_from_the_formula():
    # d = 2, gamma = 1/2: k(a, b) = (a.b/2 + 1)^3. K_XX off-diagonal: x1.x2 = 0 -> 1 (mean 1); K_YY off-diagonal:
    # y1.y2 = 0 -> 1 (mean 1); K_XY: x1.y1 = x2.y1 = 1 -> 3.375, x1.y2 = x2.y2 = 0 -> 1 (mean 8.75/4 = 2.1875).
    x, y = [[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]
    assert polynomial_mmd2(x, y) == pytest.approx(1 + 1 - 2 * 2.1875, abs=1e-15)  # -2.375
    # d = 1, gamma = 1, m = 3, n = 2 (unequal sides): k(a, b) = (ab + 1)^3.
    # XX pairs (0,1) 1, (0,2) 1, (1,2) 27 -> 2*29/(3*2); YY pair (1,3) 64 -> 2*64/(2*1);
    # XY: 1, 1, 8, 64, 27, 343 -> 444/(3*2) = 74. KVD = 29/3 + 64 - 148 = -223/3.
    assert polynomial_mmd2([[0.0], [1.0], [2.0]], [[1.0], [3.0]]) == pytest.approx(-223 / 3, rel=1e-14)
    # the sides play symmetric roles
    assert polynomial_mmd2([[1.0], [3.0]], [[0.0], [1.0], [2.0]]) == pytest.approx(-223 / 3, rel=1e-14)


def _digan_formula(x, y):
    """The reference formula written with scikit-learn's kernel at its defaults (degree 3, gamma 1/d, coef0 1)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x), polynomial_kernel(y), polynomial_kernel(x, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.sum() / (m * n)
    )


def test_kvd_equals_scikit_learns_polynomial_kernel_mmd_in_any_block_size(monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 400)), rng.normal(0.3, 1.1, size=(45, 400))
    want = _digan_formula(x, y)
    assert abs(want) > 1e-3  # a real difference, not a cancellation to zero
    assert polynomial_mmd2(x, y) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(kvd, "_BLOCK_ELEMENTS", 7 * 45)  # rows in blocks of 7 (xx), 6 (yy), 7 (xy): diagonals offset
    assert polynomial_mmd2(x, y) == pytest.approx(want, rel=1e-12)
    # the official mode computes in float32 as scikit-learn does on DIGAN's float32 features
    assert polynomial_mmd2(x, y, dtype=np.float32) == pytest.approx(want, rel=1e-3)
    with pytest.raises(ValueError, match="at least 2 videos per side"):
        polynomial_mmd2(x[:1], y)


def test_kvd_names_direction_and_digans_detector():
    m = build_metric("kvd2048_16f")
    assert (m.name, m.num_videos, m.num_frames, m.direction, m.detector_spec) == (
        "kvd2048_16f",
        2048,
        16,
        "lower",
        "i3d_videogpt",
    )
    assert build_metric("kvd256_32f").num_frames == 32
    assert build_metric({"_name_": "kvd", "num_videos": 64, "detector": "i3d"}).name == "kvd64_16f"


def test_kvd_metric_is_the_mmd_of_the_detectors_clip_features(tmp_path, video_detector):
    videos = moving_blobs(6, 8, 16, seed=3)  # every video exactly 8 frames: real offsets are all 0
    real = ArrayVideoDataset(videos)
    fake = ArrayVideoDataset(moving_blobs(5, 8, 16, seed=4) + videos[:1])
    spec = {"_name_": "kvd", "num_videos": 6, "num_frames": 8, "detector": "i3d"}
    kwargs = dict(real=real, detector_path=video_detector, cache_dir=tmp_path / "cache", batch_size=4)
    rec = evaluate(spec, fake=fake, **kwargs)

    det = torch.jit.load(video_detector)

    def feats(ds):
        clips = torch.stack([v.permute(3, 0, 1, 2) for v in ds.videos])  # [B, 3, T, H, W] uint8
        return det(clips, rescale=True, resize=True, return_features=True).detach().double().numpy()

    want = _digan_formula(feats(fake), feats(real))
    assert rec["value"] == pytest.approx(want, rel=1e-5, abs=1e-9)
    p = rec["protocol"]
    assert (p["num_real"], p["num_fake"], p["direction"], p["real_cache_hit"]) == (6, 6, "lower", False)
    assert p["protocol_id"].startswith("kvd6_8f/v1/default/")
    again = evaluate(spec, fake=fake, **kwargs)
    assert again["protocol"]["real_cache_hit"] is True and again["value"] == rec["value"]
    # a side against itself: the unbiased estimate is not 0 (the cross term keeps the diagonal), as DIGAN's
    same = feats(real)
    assert evaluate(spec, fake=real, **kwargs)["value"] == pytest.approx(_digan_formula(same, same), rel=1e-5)


def test_kvd_and_prdc_of_a_generator_sample_its_clips_and_frames(tmp_path, video_detector, image_detector):
    from metrics.testing import TinyVideoGenerator

    real = ArrayVideoDataset(moving_blobs(6, 8, 16, seed=3))
    G = TinyVideoGenerator(resolution=16)
    kw = dict(fake=G, real=real, cache_dir=tmp_path / "cache", batch_size=4)
    rec = evaluate({"_name_": "kvd6_8f", "detector": "i3d"}, detector_path=video_detector, **kw)
    p = rec["protocol"]
    assert (p["fake_source"], p["num_fake"], p["fake_quantization"]) == ("generator", 6, "round")
    assert (
        np.isfinite(rec["value"])
        and rec["value"]
        == evaluate(  # the same seed draws the same clips
            {"_name_": "kvd6_8f", "detector": "i3d"}, detector_path=video_detector, **kw
        )["value"]
    )
    frames = evaluate({"_name_": "prdc20_frames", "clip_length": 4}, detector_path=image_detector, **kw)
    assert frames["protocol"]["num_fake"] == 20 and frames["protocol"]["num_real"] == 20
    assert all(0 <= frames["results"][f"prdc20_frames_{k}"] <= 1 for k in ("precision", "recall", "coverage"))
