"""FVMD: equal to the reference package ``fvmd`` 1.0.0 (pinned values), its histogram and estimator by hand, the
PIPs++ layout, and the metric through ``metrics.evaluate`` with the stand-in tracker."""

import hashlib
import math

import numpy as np
import pytest
import torch

from benchmarks.speed import parity_fvmd
from metrics import build_metric, evaluate, fvmd
from metrics.detectors import PIPS2, pips2
from metrics.pips import PUBLISHED, PIPsPlusPlus, grid_points
from metrics.testing import ArrayVideoDataset, moving_blobs
from metrics.weights import MissingWeightsError, WeightsError
from registry import DETECTORS, METRICS

pytestmark = pytest.mark.filterwarnings("ignore:USING A STAND-IN DETECTOR:RuntimeWarning")


@pytest.fixture(scope="module")
def checkpoint():
    return parity_fvmd.random_pips_checkpoint()


# ----------------------------------------------------------------------------------------- the reference's numbers
def test_features_and_value_equal_the_reference_packages_on_small_inputs(checkpoint):
    """Pinned from ``python -m benchmarks.speed.parity_fvmd --case small --write-fixture`` (fvmd 1.0.0 in its own
    environment, same random weights in the published layout): resize, tracker, motion fields, histograms and
    estimator all take part, so a change in any of them fails here."""
    with np.load(parity_fvmd.FIXTURE) as data:
        pinned = {k: data[k] for k in data.files}
    case = parity_fvmd.CASES["small"]
    real, fake = parity_fvmd.case_videos(case)
    digest = hashlib.sha256(real.tobytes() + fake.tobytes()).hexdigest()
    assert digest == str(pinned["videos_sha256"]), "the test videos changed: re-pin with parity_fvmd --write-fixture"
    ours = parity_fvmd.ours(case, checkpoint, real, fake)
    np.testing.assert_array_equal(ours["real"], pinned["real"])  # histograms exactly
    np.testing.assert_array_equal(ours["fake"], pinned["fake"])
    assert len(np.unique(pinned["real"])) > 4  # histograms with content, not all zero
    assert ours["value"] == pytest.approx(float(pinned["value"]), rel=1e-5)
    assert ours["value_official"] == pytest.approx(float(pinned["value"]), rel=1e-9)


def test_pips_plus_plus_has_the_published_key_layout_and_loads_it_strictly(checkpoint):
    model = PIPsPlusPlus(**PUBLISHED)
    state = checkpoint["model_state_dict"]
    assert set(model.state_dict()) == set(state) and len(state) == 82
    assert sum(v.numel() for v in state.values()) == 17_565_410
    assert tuple(state["delta_block.first_block_conv.conv.weight"].shape) == (128, 3 * 4 * 49 + 128 + 2, 3)
    assert tuple(state["delta_block.dense.weight"].shape) == (2, 1024)
    broken = dict(state)
    broken.pop("norm.weight")  # a key the forward pass never reads must still be there
    with pytest.raises(RuntimeError, match="norm.weight"):
        model.load_state_dict(broken)


# ----------------------------------------------------------------------------------------- definitions by hand
def test_histograms_by_hand_direction_bins_log_magnitudes_and_cube_order():
    # 20 x 20 grid, 4 frames: one time cube, 4 x 4 cells of 5 x 5 points (100 vectors per cube). Bin =
    # floor((atan2(x, y) + pi) / (pi / 4)); weight = ceil(log2(min(|v|, 255) + 1)) / 8. (Axis-aligned vectors sit
    # exactly on bin edges, where float32 rounding decides, as in the reference: avoided here.)
    v = torch.zeros(1, 4, 20, 20, 2)
    v[:, :, :5, :5] = torch.tensor([3.0, 1.0])  # cell (0, 0): 1.25 rad -> 5.59 -> bin 5; ceil(log2 4.16) = 3
    v[:, :, :5, 5:10] = torch.tensor([0.3, 0.5])  # cell (0, 1): 0.54 rad -> 4.69 -> bin 4; ceil(log2 1.58) = 1
    v[:, :, 5:10, :5] = torch.tensor([-300.0, -10.0])  # cell (1, 0): -1.60 rad -> 1.96 -> bin 1; clipped: 8
    v[:, :, 5:10, 5:10] = torch.tensor([-0.1, -0.5])  # cell (1, 1): -2.94 rad -> 0.25 -> bin 0; 1
    v[:, :, 10:15, 10:15] = torch.tensor([0.1, -0.5])  # cell (2, 2): 2.94 rad -> 7.75 -> bin 7; 1
    v[:, :, 15:, 15:] = torch.tensor([2.0, 1.0])  # cell (3, 3): 1.11 rad -> 5.41 -> bin 5; ceil(log2 3.24) = 2
    hist = fvmd.motion_histograms(v.reshape(1, 4, 400, 2)).reshape(4, 4, 8)  # (row, column, bin)
    want = torch.zeros(4, 4, 8)
    want[0, 0, 5], want[0, 1, 4], want[1, 0, 1] = 100 * 3 / 8, 100 / 8, 100.0
    want[1, 1, 0], want[2, 2, 7], want[3, 3, 5] = 100 / 8, 100 / 8, 100 * 2 / 8
    torch.testing.assert_close(hist, want, rtol=0, atol=0)  # zero vectors weigh nothing
    assert fvmd.feature_dim(16) == 1024 and fvmd.feature_dim(8) == 512


def test_motion_fields_keep_the_reference_acceleration():
    """The reference passes trajectories (not velocities) to its acceleration function: at constant speed its
    "acceleration" is the velocity from frame 2 on, not zero."""
    traj = torch.arange(5.0).view(1, 5, 1, 1).expand(1, 5, 3, 2) * torch.tensor([2.0, -1.0])  # constant velocity
    velocity, acceleration = fvmd.motion_fields(traj)
    assert velocity[0, :, 0].tolist() == [[0, 0], [2, -1], [2, -1], [2, -1], [2, -1]]
    assert acceleration[0, :, 0].tolist() == [[0, 0], [0, 0], [2, -1], [2, -1], [2, -1]]


def test_estimator_adds_epsilon_in_the_cross_term_only():
    # diagonal covariances: tr sqrt((S1 + eI)(S2 + eI)) = sum_i sqrt((a_i + e)(b_i + e))
    a, b, e = np.array([1.0, 4.0, 0.0]), np.array([9.0, 1.0, 0.0]), 1e-5
    mu1, mu2 = np.array([1.0, 0.0, 2.0]), np.array([0.0, 0.0, 0.0])
    want = 1 + 4 + a.sum() + b.sum() - 2 * np.sqrt((a + e) * (b + e)).sum()
    for official in (False, True):
        got = fvmd.fvmd_distance(mu1, np.diag(a), mu2, np.diag(b), official=official)
        assert got == pytest.approx(want, rel=1e-12)
    # a set against itself: -2 e d (the offset makes the distance slightly negative), as the reference gives
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    same = fvmd.fvmd_distance(x.mean(0), np.cov(x, rowvar=False), x.mean(0), np.cov(x, rowvar=False))
    assert same == pytest.approx(-2 * e * 6, rel=1e-6)


def test_resize_is_torchvisions_on_uint8_tensors():
    from torchvision.transforms import InterpolationMode, Resize

    frames = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 3, 20, 30), dtype=np.uint8))
    want = Resize(32, interpolation=InterpolationMode.BILINEAR)(frames)  # the reference's transform
    got = fvmd.resize_shorter_side(frames, 32)
    assert got.shape == (3, 3, 32, 48) and torch.equal(got, want)
    down = Resize(8, interpolation=InterpolationMode.BILINEAR)(frames)  # downsampling: antialiased
    assert torch.equal(fvmd.resize_shorter_side(frames, 8), down)


def test_grid_points_are_the_references_20_by_20_grid_8_pixels_in():
    xy = grid_points(1, 20, 256, 256)[0]
    assert xy.shape == (400, 2)
    assert xy[0].tolist() == [8.0, 8.0] and xy[19].tolist() == [248.0, 8.0]  # x first, rows of constant y
    assert xy[20].tolist() == pytest.approx([8.0, 8 + 240 / 19], rel=1e-7)


# ----------------------------------------------------------------------------------------- the metric
def test_names_direction_and_refusals():
    m = build_metric("fvmd2048_16f")
    assert (m.name, m.num_videos, m.num_frames, m.direction, m.detector_spec) == (
        "fvmd2048_16f",
        2048,
        16,
        "lower",
        "pips2",
    )
    assert build_metric("fvmd64_8f").num_frames == 8
    assert {"fvmd", "fvmd2048_16f"} <= set(METRICS.list()) and "pips2" in DETECTORS.list()  # sgvb list shows them
    with pytest.raises(ValueError, match="multiple of 4"):
        build_metric("fvmd64_10f")


def test_fvmd_through_evaluate_with_the_stand_in_tracker(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.setenv("SGVB_WEIGHTS_DIR", str(tmp_path / "no_weights"))
    real = ArrayVideoDataset(moving_blobs(2, 4, 32, seed=3))
    fake = ArrayVideoDataset(moving_blobs(2, 4, 32, seed=4, speed=4.0))
    kw = dict(real=real, allow_stand_in_detectors=True, cache_dir=tmp_path / "cache")
    rec = evaluate("fvmd2_4f", fake=fake, **kw)
    p = rec["protocol"]
    assert p["protocol_id"].startswith("fvmd2_4f/v1/default/pips2-stand-in/32px")
    assert (p["stand_in"], p["direction"], p["num_real"], p["num_fake"], p["detector_resolution"]) == (
        True,
        "lower",
        2,
        2,
        64,
    )
    assert (p["tracked_points"], p["track_iters"], p["real_cache_hit"]) == (400, 16, False)
    same = evaluate("fvmd2_4f", fake=real, **kw)  # a set against itself: -2 e d, d = 256
    assert same["protocol"]["real_cache_hit"] is True
    assert same["value"] == pytest.approx(-2 * 1e-5 * 256, rel=1e-3)
    assert rec["value"] > 1.0  # four times faster motion is far from the real set
    from metrics.testing import TinyVideoGenerator

    sampled = evaluate("fvmd2_4f", fake=TinyVideoGenerator(resolution=32), **kw)
    assert sampled["protocol"]["fake_source"] == "generator" and math.isfinite(sampled["value"])


def test_weights_missing_refused_and_loaded(tmp_path, monkeypatch, checkpoint):
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.setenv("SGVB_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=r"pips2_weights\.pth.*releases/download/pips2_weights"):
        pips2()
    (tmp_path / PIPS2.file_name).write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="is not a PIPs.. checkpoint"):
        pips2()
    torch.save(checkpoint, tmp_path / PIPS2.file_name)
    det = pips2(num_frames=8)
    assert (det.name, det.stand_in, det.feature_dim, det.input_resolution) == ("pips2", False, 512, 256)
    assert det.sha256 and len(det.sha256) == 64  # recorded (no published checksum to compare with)
    with pytest.raises(ValueError, match="tracks clips of 8 frames, got 4"):
        det(torch.zeros(1, 3, 4, 32, 32, dtype=torch.uint8))
    assert torch.equal(det.model.delta_block.dense.bias, checkpoint["model_state_dict"]["delta_block.dense.bias"])


def test_a_stand_in_too_small_to_track_is_refused_in_one_line():
    """At 32 or 48 px the narrow PIPs++'s coarsest correlation level is under 2 x 2, its tracks are NaN and the
    histograms failed with ``index -9223372036854775808 is out of bounds``."""
    from metrics.detectors import pips2

    with pytest.raises(ValueError, match=r"stand_in_resolution=48 is too small .* use 64 or more"):
        pips2(allow_stand_in=True, stand_in_resolution=48)
