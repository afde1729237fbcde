"""Adversarial losses (registered in LOSSES) and the R1 gradient penalty.

A loss only maps logits to per-sample losses (the contract, with its hooks, is
``registry.interfaces.GANLoss``); the loop owns networks, phases and weights, so a new loss is a few lines:

    @LOSSES.register("my_loss")
    class MyLoss(GANLoss):
        def generator(self, fake_logits): ...            # -> [B]
        def discriminator(self, real_logits, fake_logits): ...  # -> ([B], [B])

The lazy R1 regulariser is the loop's (``trainer.r1_gamma``, per discriminator ``_r1_gamma_``), the
same for every loss; set it to 0 to train hinge or least-squares GANs without it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from registry import LOSSES
from registry.interfaces import GANLoss


@LOSSES.register("non_saturating", aliases=["logistic", "stylegan2", "ns"])
class NonSaturatingLoss(GANLoss):
    """StyleGAN2/StyleGAN-V: G minimises softplus(-D(G(z))); D minimises softplus(D(fake)) + softplus(-D(real))."""

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits)

    def discriminator(self, real_logits, fake_logits):
        return F.softplus(-real_logits), F.softplus(fake_logits)


@LOSSES.register("hinge")
class HingeLoss(GANLoss):
    """Hinge loss (BigGAN, DIGAN's INR-GAN lineage): D pushes real logits above 1 and fake below -1."""

    def generator(self, fake_logits):
        return -fake_logits

    def discriminator(self, real_logits, fake_logits):
        return F.relu(1.0 - real_logits), F.relu(1.0 + fake_logits)


@LOSSES.register("lsgan", aliases=["least_squares"])
class LeastSquaresLoss(GANLoss):
    """Least-squares GAN (Mao et al.): targets 1 for real, 0 for fake; G pulls fakes to 1."""

    def generator(self, fake_logits):
        return 0.5 * (fake_logits - 1.0).square()

    def discriminator(self, real_logits, fake_logits):
        return 0.5 * (real_logits - 1.0).square(), 0.5 * fake_logits.square()


def r1_penalty(real_logits: torch.Tensor, real_frames: torch.Tensor) -> torch.Tensor:
    """Squared gradient norm of D at real clips, summed per frame and averaged over the clip's frames.

    ``real_frames [B, k, C, H, W]`` must require grad and ``real_logits [B]`` come from them. Averaging
    over frames (not summing) is what the official StyleGAN-V loss does, so γ means the same for any k.
    Returns ``[B]``.
    """
    (grads,) = torch.autograd.grad(
        outputs=[real_logits.sum()], inputs=[real_frames], create_graph=True, only_inputs=True
    )
    per_frame = rearrange(grads.float().square(), "b k c h w -> b k (c h w)").sum(dim=2)  # [B, k]
    return per_frame.mean(dim=1)
