"""MoCoGAN-HD's loss family: relativistic average least-squares GAN, with a WGAN-GP penalty.

Relativistic average LSGAN (Jolicoeur-Martineau 2018, as MoCoGAN-HD's ``Relativistic_Average_LSGAN``):
a clip is judged relative to the mean logit of the other batch,

    D: (D(r) - mean D(f) - 1)^2 + (D(f) - mean D(r))^2
    G: (D(f) - mean D(r) - 1)^2 + (D(r) - mean D(f))^2

so the generator loss needs the real logits too (``needs_real_logits_for_generator``). The gradient
penalty ``gp_weight * (||grad D(x_hat)|| - 1)^2`` at random interpolates of real and fake clips is the
standard per-sample norm over the whole clip (the official code takes the norm over channels only,
which we treat as a bug); the harness applies it to the discriminators whose loss sets ``gp_weight``.
"""

from __future__ import annotations

import torch
from einops import rearrange

from registry import LOSSES
from registry.interfaces import GANLoss


@LOSSES.register("ralsgan", aliases=["relativistic_lsgan", "mocogan_hd"])
class RelativisticAverageLSGAN(GANLoss):
    """Per-sample RaLSGAN losses from logits ``[B]``; ``gp_weight`` > 0 adds a WGAN-GP on the D."""

    needs_real_logits_for_generator = True

    def __init__(self, gp_weight: float = 0.0):
        if gp_weight < 0:
            raise ValueError(f"ralsgan: gp_weight must be >= 0, got {gp_weight}")
        self.gp_weight = float(gp_weight)

    def generator(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if real_logits is None:
            raise ValueError("ralsgan is relativistic: the generator loss needs the real logits of the same step")
        real_logits = real_logits.detach()
        return 0.5 * ((fake_logits - real_logits.mean() - 1).square() + (real_logits - fake_logits.mean()).square())

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            0.5 * (real_logits - fake_logits.mean() - 1).square(),
            0.5 * (fake_logits - real_logits.mean()).square(),
        )

    def penalty(
        self, discriminator, real_frames: torch.Tensor, fake_frames: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """WGAN-GP ``[B]`` (already multiplied by ``gp_weight``) at interpolates of real and fake clips."""
        return self.gp_weight * gradient_penalty(discriminator, real_frames, fake_frames, t)


def gradient_penalty(
    discriminator, real_frames: torch.Tensor, fake_frames: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """``(||grad_x D(x_hat, t)|| - 1)^2`` per clip ``[B]``, ``x_hat`` a random per-clip mix of real and fake."""
    if real_frames.shape != fake_frames.shape:
        raise ValueError(
            f"gradient_penalty: real {list(real_frames.shape)} and fake {list(fake_frames.shape)} clips differ in shape"
        )
    alpha = torch.rand(real_frames.shape[0], 1, 1, 1, 1, device=real_frames.device, dtype=real_frames.dtype)
    mixed = (alpha * real_frames.detach() + (1 - alpha) * fake_frames.detach()).requires_grad_(True)
    logits = discriminator(mixed, t)
    (grads,) = torch.autograd.grad(outputs=[logits.sum()], inputs=[mixed], create_graph=True, only_inputs=True)
    norms = rearrange(grads.float(), "b k c h w -> b (k c h w)").norm(dim=1)
    return (norms - 1).square()
