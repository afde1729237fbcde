"""ADA-style video augmentation: per-clip consistency, exactness of the blit transforms, the gate probabilities,
the adaptive p rule, checkpoint state and the configs."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from benchmarks.training.augment import (
    VideoAugment,
    apply_colour,
    apply_geometry,
    rotate2d,
    sample_colour,
    sample_geometry,
    scale2d,
    translate2d,
)
from registry import AUGMENTATIONS

CONF_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "conf" / "augmentation"


def _videos(b=4, t=3, h=16, w=16, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, h, w, generator=g) * 2 - 1


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- augmentation


def test_shape_dtype_and_changes_with_p_one():
    aug = VideoAugment(p=1.0)
    x = _videos()
    y = aug(x, generator=_seeded(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert (y - x).abs().mean() > 0.05
    y16 = aug(x.bfloat16(), generator=_seeded(1))
    assert y16.dtype == torch.bfloat16 and y16.shape == x.shape


def test_p_zero_and_none_are_identity():
    x = _videos()
    assert torch.equal(VideoAugment(p=0.0)(x), x)
    none = AUGMENTATIONS.build("none")
    assert none.p == 0.0 and not none.adaptive
    assert torch.equal(none(x), x)


def test_identity_matrices_leave_clips_unchanged():
    x = _videos(b=2, h=9, w=12)  # odd and non-square sizes: pixel centres must line up
    assert torch.allclose(apply_geometry(x, torch.eye(3).expand(2, 3, 3)), x, atol=1e-5)
    assert torch.allclose(apply_colour(x, torch.eye(4).expand(2, 4, 4)), x, atol=1e-6)


def test_blit_transforms_are_exact():
    x = _videos(b=1, t=2, h=8, w=8)
    one = torch.ones(1)
    flipped = apply_geometry(x, scale2d(-one, one))
    assert torch.allclose(flipped, x.flip(-1), atol=1e-5)
    quarter = apply_geometry(x, rotate2d(one * math.pi / 2))
    assert torch.allclose(quarter, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
    # output pixel j reads input pixel j + 2; past the border the image is mirrored (edge pixel repeated)
    shifted = apply_geometry(x, translate2d(2 * one, 0 * one))
    expected = torch.cat([x[..., 2:], x[..., -1:], x[..., -2:-1]], dim=-1)
    assert torch.allclose(shifted, expected, atol=1e-5)


def test_every_frame_of_a_clip_gets_the_same_transform():
    aug = VideoAugment(p=1.0)
    frame = _videos(b=6, t=1)
    still = frame.expand(6, 5, 3, 16, 16).contiguous()  # clips whose frames are all the same
    out = aug(still, generator=_seeded(3))
    assert (out - still).abs().mean() > 0.05
    assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-5)
    # the parameters depend on the clip, not on its length: frame 0 comes out the same for T = 1 and T = 4
    x = _videos(b=6, t=4)
    assert torch.allclose(aug(x, generator=_seeded(4))[:, :1], aug(x[:, :1], generator=_seeded(4)), atol=1e-5)


def test_clips_get_different_transforms():
    aug = VideoAugment(p=1.0)
    same = _videos(b=1, t=2).expand(8, 2, 3, 16, 16).contiguous()
    out = aug(same, generator=_seeded(5))
    flat = out.flatten(1)
    distances = torch.cdist(flat, flat) + torch.eye(8) * 1e9
    assert distances.min() > 1e-2


def test_gradients_flow_to_the_input():
    x = _videos(b=3, t=2).requires_grad_(True)
    VideoAugment(p=1.0)(x, generator=_seeded(6)).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bf16_cpu_autocast():
    aug = VideoAugment(p=0.8)
    x = _videos(b=2, t=2).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = aug(x, generator=_seeded(7))
        loss = (y * 2).float().mean()
    loss.backward()
    assert y.shape == x.shape and torch.isfinite(y).all() and torch.isfinite(x.grad).all()


def test_gate_probabilities_match_ada():
    """Geometry 'g': scale, two rotations at 1-sqrt(1-p), aniso, translation -> identity with (1-p)^4.
    Colour: brightness, contrast, hue, saturation at p; luma flip at p/2 -> identity with (1-p)^4 (1-p/2)."""
    n, p = 20000, 0.3
    geom = sample_geometry(n, p, size=(16, 16), blit=False, geom=True, generator=_seeded(8))
    geom_identity = (geom - torch.eye(3)).abs().amax(dim=(1, 2)) < 1e-6
    assert geom_identity.float().mean().item() == pytest.approx((1 - p) ** 4, abs=0.015)
    colour = sample_colour(n, p, generator=_seeded(9))
    colour_identity = (colour - torch.eye(4)).abs().amax(dim=(1, 2)) < 1e-6
    assert colour_identity.float().mean().item() == pytest.approx((1 - p) ** 4 * (1 - p / 2), abs=0.015)
    blit = sample_geometry(n, 1.0, size=(16, 16), blit=True, geom=False, generator=_seeded(10))
    mirrored = torch.linalg.det(blit[:, :2, :2]) < 0
    assert mirrored.float().mean().item() == pytest.approx(0.5, abs=0.02)
    shift = blit[:, :2, 2]
    assert torch.equal(shift, shift.round()) and shift.abs().max() <= 2  # |round(0.125 * 16)|


def test_colour_keeps_grey_grey_and_changes_hue():
    matrix = sample_colour(64, 1.0, generator=_seeded(11))
    grey = torch.linspace(-1, 1, 5).view(1, 1, 1, 5, 1).expand(64, 1, 3, 5, 1)
    out = apply_colour(grey, matrix)
    assert torch.allclose(out[:, :, 0], out[:, :, 1], atol=1e-5) and torch.allclose(
        out[:, :, 1], out[:, :, 2], atol=1e-5
    )
    red = torch.tensor([0.8, -0.8, -0.8]).view(1, 1, 3, 1, 1).expand(64, 1, 3, 1, 1)
    chroma = apply_colour(red, matrix).squeeze()  # [64, 3]
    assert (chroma - chroma.mean(dim=1, keepdim=True)).abs().amax(dim=1).min() > 0  # still coloured
    assert chroma.argmax(dim=1).unique().numel() > 1  # the dominant channel moves: hue rotated


def test_bad_input_and_options_are_named():
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        VideoAugment(p=0.5)(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match="'pipe'"):
        VideoAugment(pipe="bgx")
    with pytest.raises(ValueError, match="'p'"):
        VideoAugment(p=1.5)
    with pytest.raises(ValueError, match="'interval'"):
        VideoAugment(interval=0)


def test_pipe_selects_groups():
    x = _videos(b=4, t=2)
    colour_only = VideoAugment(p=1.0, pipe="c")(x, generator=_seeded(12))
    # a colour transform is per-pixel: a pixel's output depends only on that pixel
    assert torch.allclose(
        colour_only[..., :1, :1], VideoAugment(p=1.0, pipe="c")(x[..., :1, :1], generator=_seeded(12)), atol=1e-5
    )
    assert VideoAugment(pipe="CB").pipe == "bc"


# ----------------------------------------------------------------------------- adaptive p


def test_p_rises_above_target_and_falls_below():
    aug = VideoAugment(p=0.0, target=0.6, ada_kimg=100)
    for _ in range(4):
        aug.accumulate(torch.tensor([1.0, 2.0, 3.0, -1.0, 5.0]))  # signs sum to 3 of 5: r_t = 0.6
    aug.adjust(256)
    assert aug.rt == pytest.approx(0.6) and aug.p == 0.0  # exactly at target: no move
    for _ in range(4):
        aug.accumulate(torch.ones(64))
    assert aug.adjust(256) == pytest.approx(256 / 100_000)
    assert aug.rt == 1.0
    aug.accumulate(torch.ones(64))
    aug.adjust(256)
    assert aug.p == pytest.approx(512 / 100_000)
    aug.accumulate(-torch.ones(64))
    aug.adjust(256)
    assert aug.p == pytest.approx(256 / 100_000) and aug.rt == -1.0
    for _ in range(3):
        aug.accumulate(torch.tensor([-1.0, 1.0]))
        aug.adjust(256)
    assert aug.p == 0.0  # clamped
    assert aug.adjust(256) == 0.0  # nothing accumulated: no move


def test_p_is_capped_at_one_and_fixed_p_does_not_move():
    aug = VideoAugment(p=0.99, ada_kimg=0.001)
    aug.accumulate(torch.ones(4))
    assert aug.adjust(64) == 1.0
    fixed = VideoAugment(p=0.2, adaptive=False)
    fixed.accumulate(torch.ones(8))
    assert fixed.adjust(1000) == 0.2 and fixed.rt == 1.0


def test_state_round_trip_with_weights_only_load():
    aug = VideoAugment(p=0.0)
    aug.accumulate(torch.ones(8))
    aug.adjust(5000)
    aug.accumulate(torch.tensor([1.0, -1.0, 1.0]))  # pending statistics survive the checkpoint
    parent = torch.nn.ModuleDict({"augment": aug})
    buffer = io.BytesIO()
    torch.save({"augment": aug.state_dict(), "nested": parent.state_dict()}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)

    restored = VideoAugment()
    restored.load_state_dict(loaded["augment"])
    assert restored.p == aug.p == pytest.approx(0.05) and restored.rt == 1.0
    nested = torch.nn.ModuleDict({"augment": VideoAugment()})
    nested.load_state_dict(loaded["nested"])
    assert nested["augment"].p == aug.p
    restored.accumulate(torch.ones(1))
    aug.accumulate(torch.ones(1))
    assert restored.adjust(100) == aug.adjust(100)
    assert restored.rt == aug.rt == pytest.approx(0.5)  # (1 - 1 + 1 + 1) / 4

    fixed = VideoAugment(p=0.1, adaptive=False)
    fixed.load_state_dict(loaded["augment"])
    assert fixed.p == 0.1  # a fixed p is the config's choice
    with pytest.raises(KeyError, match="missing"):
        VideoAugment().load_state_dict({"_extra_state": {"p": 0.3}})


def test_statistics_are_all_reduced_under_torch_distributed(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        aug = VideoAugment()
        aug.accumulate(torch.ones(4))
        assert aug.adjust(100) == pytest.approx(0.001) and aug.rt == 1.0
    finally:
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_builds(path):
    aug = AUGMENTATIONS.build(OmegaConf.load(path))
    assert isinstance(aug, VideoAugment)
    x = _videos(b=2, t=2, h=8, w=8)
    assert aug(x).shape == x.shape


def test_ada_config_matches_stylegan_v():
    aug = AUGMENTATIONS.build(OmegaConf.load(CONF_DIR / "ada.yaml"))
    assert (aug.adaptive, aug.target, aug.interval, aug.ada_kimg, aug.pipe, aug.p) == (True, 0.6, 4, 100.0, "bgc", 0.0)
    assert {p.stem for p in CONF_DIR.glob("*.yaml")} >= {"ada", "none"}


def test_geometric_warp_has_a_differentiable_input_gradient_for_r1():
    """R1 backpropagates through d D(augment(x)) / dx; CUDA builds lack grid_sampler_2d_backward's derivative,
    so the warp brings its own: equal to F.grid_sample and its gradients, checked to second order."""
    import torch.nn.functional as F

    from benchmarks.training.augment import _WarpFrames

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 9, 12, 12, dtype=torch.float64, generator=g, requires_grad=True)
    theta = torch.tensor(
        [[[0.9, 0.2, 0.1], [-0.1, 1.1, 0.05]], [[1.0, -0.3, 0.0], [0.3, 1.0, -0.2]]], dtype=torch.float64
    )
    grid = F.affine_grid(theta, [2, 9, 12, 12], align_corners=False)
    w = torch.randn(2, 9, 12, 12, dtype=torch.float64, generator=g, requires_grad=True)

    def r1_terms(warp):
        y = warp(x)
        (gx,) = torch.autograd.grad((y * w).pow(2).sum(), x, create_graph=True)
        (gw,) = torch.autograd.grad(gx.pow(2).sum(), w)
        return y, gx, gw

    ours = r1_terms(lambda v: _WarpFrames.apply(v, grid))
    ref = r1_terms(lambda v: F.grid_sample(v, grid, mode="bilinear", padding_mode="reflection", align_corners=False))
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradgradcheck(lambda v: _WarpFrames.apply(v, grid), (x,))
