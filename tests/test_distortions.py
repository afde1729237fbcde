"""Each registered distortion does exactly what it says on a known input (uint8 batches, seeded)."""

import math

import pytest
import torch

from metrics.distortions import hue_rotation
from registry import DISTORTIONS
from registry.interfaces import DISTORTION_FAMILIES

T, H = 8, 8


def ramp_videos(b: int = 3, s: int = 4 * T) -> torch.Tensor:
    """uint8 [B, S, H, W, 3]: frame t of video b is the constant colour (10 b + t) in every channel,
    so frames name themselves."""
    ids = (10 * torch.arange(b)[:, None] + torch.arange(s)[None]).to(torch.uint8)  # [B, S]
    return ids[:, :, None, None, None].expand(b, s, H, H, 3).contiguous()


def frame_ids(videos: torch.Tensor) -> torch.Tensor:
    return videos[:, :, 0, 0, 0].long()  # [B, T]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_distortion_is_identity_at_strength_zero_and_keeps_dtype_and_shape():
    videos = torch.randint(0, 256, (3, 4 * T, H, H, 3), dtype=torch.uint8)
    for name in DISTORTIONS.list():
        d = DISTORTIONS.build(name)
        assert d.family in DISTORTION_FAMILIES, name
        assert torch.equal(d(videos, 0.0, T, gen()), videos[:, :T]), name
        out = d(videos, 1.0, T, gen())
        assert out.dtype == torch.uint8 and out.shape == (3, T, H, H, 3), name
        assert torch.equal(out, d(videos, 1.0, T, gen())), f"{name} is not reproducible from its generator"


def test_frame_freeze_holds_every_kth_frame():
    out = DISTORTIONS.build({"_name_": "frame_freeze", "max_hold": 4})(ramp_videos(), 1.0, T, gen())
    assert frame_ids(out)[0].tolist() == [0, 0, 0, 0, 4, 4, 4, 4]


def test_window_shuffle_permutes_inside_each_window_only():
    d = DISTORTIONS.build({"_name_": "window_shuffle", "max_window": 4})
    ids = frame_ids(d(ramp_videos(), 1.0, T, gen()))
    for b in range(3):
        assert sorted(ids[b, :4].tolist()) == [10 * b + i for i in range(4)]
        assert sorted(ids[b, 4:].tolist()) == [10 * b + i for i in range(4, 8)]
    assert not torch.equal(ids, frame_ids(ramp_videos())[:, :T])


def test_segment_reversal_reverses_the_chosen_fraction_of_segments():
    d = DISTORTIONS.build({"_name_": "segment_reversal", "segments": 2})
    assert frame_ids(d(ramp_videos(), 1.0, T, gen()))[0].tolist() == [3, 2, 1, 0, 7, 6, 5, 4]
    half = frame_ids(d(ramp_videos(), 0.5, T, gen()))
    for row in half.tolist():
        base = row[0] - row[0] % 10
        assert [r - base for r in row] in ([3, 2, 1, 0, 4, 5, 6, 7], [0, 1, 2, 3, 7, 6, 5, 4])


def test_speed_change_takes_every_fth_source_frame():
    d = DISTORTIONS.build({"_name_": "speed_change", "max_speed": 4})
    assert d.source_frames(T) == 4 * T
    assert frame_ids(d(ramp_videos(), 1.0, T, gen()))[0].tolist() == [4 * t for t in range(T)]
    assert frame_ids(d(ramp_videos(), 0.5, T, gen()))[0].tolist() == [2 * t for t in range(T)]


def test_loop_repeats_the_first_frames_and_is_frozen_at_full_strength():
    d = DISTORTIONS.build("loop")
    assert frame_ids(d(ramp_videos(), 0.5, T, gen()))[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert frame_ids(d(ramp_videos(), 1.0, T, gen()))[0].tolist() == [0] * T


def test_frame_drops_keep_order_and_frame_zero_and_skip_the_dropped_fraction():
    d = DISTORTIONS.build({"_name_": "frame_drops", "max_fraction": 0.5})
    assert d.source_frames(T) == 2 * T
    ids = frame_ids(d(ramp_videos(), 1.0, T, gen()))
    for b, row in enumerate(ids.tolist()):
        local = [r - 10 * b for r in row]
        assert local[0] == 0 and local == sorted(set(local)) and local[-1] < 2 * T
    assert (ids[:, -1] - 10 * torch.arange(3)).float().mean() > T  # content jumped ahead


def test_content_switch_cuts_to_the_next_video_of_the_batch():
    d = DISTORTIONS.build({"_name_": "content_switch", "max_switches": 1})
    ids = frame_ids(d(ramp_videos(), 1.0, T, gen()))
    assert ids[0].tolist() == [0, 1, 2, 3, 14, 15, 16, 17]  # after the cut: video 1 at the same times
    assert ids[2].tolist() == [20, 21, 22, 23, 4, 5, 6, 7]  # the last video borrows from the first
    with pytest.raises(ValueError, match="at least 2 videos"):
        d(ramp_videos(1), 1.0, T, gen())


def test_flicker_scales_each_frame_by_one_gain_within_the_amplitude():
    videos = torch.full((2, T, H, H, 3), 100, dtype=torch.uint8)
    out = DISTORTIONS.build({"_name_": "flicker", "max_amplitude": 0.5})(videos, 1.0, T, gen()).float()
    per_frame = out[:, :, 0, 0, 0]
    assert torch.equal(out, per_frame[:, :, None, None, None].expand_as(out))  # one gain per frame
    assert per_frame.min() >= 50 and per_frame.max() <= 150 and per_frame.std() > 5


def test_slow_drift_fades_linearly_to_grey():
    videos = torch.zeros(1, 5, H, H, 3, dtype=torch.uint8)
    out = DISTORTIONS.build("slow_drift")(videos, 1.0, 5, gen())
    assert out[0, :, 0, 0, 0].tolist() == [0, 32, 64, 96, 128]


def test_colour_shift_of_120_degrees_cycles_the_channels_and_keeps_grey():
    assert torch.allclose(
        hue_rotation(120.0), torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=torch.float64), atol=1e-12
    )
    videos = torch.zeros(1, T, H, H, 3, dtype=torch.uint8)
    videos[..., 0] = 200  # red
    videos[:, :, :2] = 90  # a grey band
    out = DISTORTIONS.build("colour_shift")(videos, 2 / 3, T, gen())
    assert torch.equal(out[:, :, 2:], videos[:, :, 2:].roll(1, dims=-1))  # red -> green
    assert torch.equal(out[:, :, :2], videos[:, :, :2])


def test_gaussian_blur_spreads_an_impulse_into_the_gaussian_and_keeps_flat_frames():
    sigma = 1.0
    videos = torch.zeros(1, 1, 15, 15, 3, dtype=torch.uint8)
    videos[0, 0, 7, 7] = 255
    out = DISTORTIONS.build({"_name_": "gaussian_blur", "max_sigma": sigma})(videos, 1.0, 1, gen())
    x = torch.arange(-7, 8, dtype=torch.float64)
    g = torch.exp(-0.5 * x**2 / sigma**2)
    g = torch.where(x.abs() <= 3, g, 0.0)
    g /= g.sum()
    expected = (255 * torch.outer(g, g)).round()
    assert (out[0, 0, :, :, 0].double() - expected).abs().max() <= 1
    flat = torch.full((1, 2, 8, 8, 3), 77, dtype=torch.uint8)
    assert torch.equal(DISTORTIONS.build("gaussian_blur")(flat, 1.0, 2, gen()), flat)


def test_gaussian_noise_has_the_stated_std():
    videos = torch.full((2, 4, 32, 32, 3), 128, dtype=torch.uint8)
    out = DISTORTIONS.build({"_name_": "gaussian_noise", "max_std": 20})(videos, 0.5, 4, gen()).float()
    assert out.mean().item() == pytest.approx(128, abs=0.5)
    assert out.std().item() == pytest.approx(10, rel=0.05)


def test_jpeg_is_the_libjpeg_round_trip_and_degrades_with_strength():
    from metrics.distortions import jpeg_round_trip

    torch.manual_seed(0)
    videos = torch.randint(0, 256, (1, 2, 16, 16, 3), dtype=torch.uint8)
    d = DISTORTIONS.build("jpeg")
    assert d.parameter(1.0) == 5 and d.parameter(0.5) == 52
    out = d(videos, 0.5, 2, gen())
    assert torch.equal(out[0, 1], torch.from_numpy(jpeg_round_trip(videos[0, 1].numpy(), 52)))
    assert not torch.equal(out, videos)
    err = [(d(videos, s, 2, gen()).float() - videos.float()).abs().mean() for s in (0.25, 1.0)]
    assert err[0] < err[1]


def test_bad_input_is_refused_with_the_reason():
    d = DISTORTIONS.build("speed_change")
    with pytest.raises(ValueError, match="needs 32 source frames"):
        d(ramp_videos(s=T), 1.0, T, gen())
    with pytest.raises(ValueError, match="strength must be in"):
        d(ramp_videos(), 1.5, T, gen())
    with pytest.raises(ValueError, match="uint8"):
        d(ramp_videos().float(), 0.5, T, gen())


def test_parameters_follow_the_documented_maps():
    assert DISTORTIONS.build("gaussian_blur").parameter(0.5) == 1.0
    assert DISTORTIONS.build("frame_freeze").parameter(1.0) == 16
    assert DISTORTIONS.build("speed_change").parameter(0.5) == pytest.approx(2.0)
    assert DISTORTIONS.build("content_switch").parameter(0.25) == 1
    assert math.isclose(DISTORTIONS.build("frame_drops").parameter(1.0), 0.75)
