"""GAN losses (registered) and the R1 penalty."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks.training.ema import ema_beta, update_ema
from benchmarks.training.losses import r1_penalty
from registry import LOSSES


def test_losses_are_registered_under_their_names_and_aliases():
    assert {"non_saturating", "hinge", "lsgan"} <= set(LOSSES.list())
    assert type(LOSSES.build("logistic")) is type(LOSSES.build("non_saturating"))


@pytest.mark.parametrize(
    "name, real_target, fake_target, g_target",
    [
        # logits: real = [2, -1], fake = [0.5, -3]
        ("non_saturating", lambda r: F.softplus(-r), lambda f: F.softplus(f), lambda f: F.softplus(-f)),
        ("hinge", lambda r: torch.relu(1 - r), lambda f: torch.relu(1 + f), lambda f: -f),
        ("lsgan", lambda r: 0.5 * (r - 1) ** 2, lambda f: 0.5 * f**2, lambda f: 0.5 * (f - 1) ** 2),
    ],
)
def test_loss_values(name, real_target, fake_target, g_target):
    loss = LOSSES.build(name)
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d_real, d_fake = loss.discriminator(real, fake)
    assert d_real.shape == d_fake.shape == (2,)
    torch.testing.assert_close(d_real, real_target(real))
    torch.testing.assert_close(d_fake, fake_target(fake))
    torch.testing.assert_close(loss.generator(fake), g_target(fake))


def test_non_saturating_d_loss_decreases_as_d_separates_real_from_fake():
    loss = LOSSES.build("non_saturating")
    weak = sum(x.mean() for x in loss.discriminator(torch.zeros(4), torch.zeros(4)))
    strong = sum(x.mean() for x in loss.discriminator(torch.full((4,), 3.0), torch.full((4,), -3.0)))
    assert strong < weak


def test_r1_is_the_per_frame_squared_gradient_norm_averaged_over_frames():
    torch.manual_seed(0)
    frames = torch.randn(3, 4, 3, 5, 5, requires_grad=True)  # [B, k, C, H, W]
    weights = torch.randn(4, 3, 5, 5)
    logits = (frames.square() * weights).sum(dim=(1, 2, 3, 4))  # grad of frame k = 2 x_k w_k
    penalty = r1_penalty(logits, frames)
    grads = 2 * frames.detach() * weights
    expected = grads.square().sum(dim=(2, 3, 4)).mean(dim=1)  # per frame, then the clip's mean
    torch.testing.assert_close(penalty, expected)
    penalty.sum().backward()  # create_graph: the penalty itself is differentiable (it trains D)
    assert frames.grad is not None and torch.isfinite(frames.grad).all()


def test_ema_half_life_counts_videos():
    assert ema_beta(batch_videos=64, ema_kimg=20) == pytest.approx(0.5 ** (64 / 20000))
    assert ema_beta(batch_videos=64, ema_kimg=0) == 0.0
    model, ema = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(1.0), ema.weight.fill_(0.0)
    update_ema(ema, model, beta=0.75)
    torch.testing.assert_close(ema.weight, torch.full((2, 2), 0.25))


def test_a_nan_parameter_is_named_with_the_kimg():
    from benchmarks.training.faults import TrainingDiverged, check_parameters

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    check_parameters({"G": model}, kimg=1.0)  # finite: no error
    with torch.no_grad():
        model[1].bias.fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match=r"parameter 'G\.1\.bias' holds NaN/Inf at kimg 12\.500"):
        check_parameters({"G": model}, kimg=12.5)
