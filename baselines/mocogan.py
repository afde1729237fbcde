"""MoCoGAN (Tulyakov et al., CVPR 2018): content code + GRU motion codes -> DCGAN image generator.

A video is a fixed content code ``z_c`` plus a trajectory of motion codes ``z_m(t)`` produced by a
GRU cell driven by Gaussian noise from a random initial state; every frame is an independent DCGAN
render of ``[z_c, z_m(t)]``. Integer time only (one GRU step per frame), autoregressive.

Kept from the official code: content 50-d, motion 10-d, ``GRUCell(10, 10)`` with random initial
hidden state and N(0, I) step inputs, DCGAN generator (transposed 4x4 convs, BatchNorm, ReLU, tanh,
``ngf`` 64 at 64x64). Simplifications: no category code (unconditional); any power-of-two
resolution >= 8 (one extra up-sampling stage per doubling, widths capped at ``channel_max``).
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from registry import GENERATORS

from .recurrent import RecurrentVideoGenerator


class DCGANImageGenerator(nn.Module):
    """``[N, latent_dim] -> [N, 3, R, R]`` in [-1, 1]: 4x4 transposed conv, then x2 stages, BatchNorm + ReLU."""

    def __init__(self, *, latent_dim: int, resolution: int, ngf: int = 64, channel_max: int = 512):
        super().__init__()
        log2 = int(round(math.log2(resolution)))
        if resolution < 8 or 2**log2 != resolution:
            raise ValueError(f"mocogan: resolution must be a power of two >= 8, got {resolution}")
        num_up = log2 - 2  # 4x4 -> R
        widths = [min(ngf * 2 ** (num_up - 1 - i), channel_max) for i in range(num_up)]  # 64x64: 512, 256, 128, 64
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net(latents[:, :, None, None])


@GENERATORS.register("mocogan")
class MoCoGANGenerator(RecurrentVideoGenerator):
    """MoCoGAN: ``G(z, t)`` with ``z = z_content [B, content_dim]``; motion from a GRU stepped per frame."""

    def __init__(
        self,
        *,
        resolution: int = 64,
        content_dim: int = 50,
        motion_dim: int = 10,
        ngf: int = 64,
        channel_max: int = 512,
    ):
        super().__init__()
        self.resolution, self.z_dim = int(resolution), int(content_dim)
        self.content_dim, self.motion_dim = int(content_dim), int(motion_dim)
        self.motion_noise_dim = self.motion_dim
        self.gru = nn.GRUCell(self.motion_dim, self.motion_dim)
        self.image = DCGANImageGenerator(
            latent_dim=self.content_dim + self.motion_dim, resolution=self.resolution, ngf=ngf, channel_max=channel_max
        )

    def init_motion(self, z, truncation_psi, noise0):
        if truncation_psi != 1:
            raise ValueError("mocogan has no mapping network, so truncation_psi must be 1")
        if z.ndim != 2 or z.shape[1] != self.content_dim:
            raise ValueError(f"mocogan: z must be [B, {self.content_dim}], got {list(z.shape)}")
        return z, noise0  # the GRU's random initial hidden state is step 0's noise

    def motion_step(self, content, state, noise):
        return self.gru(noise, state)

    def frame_code(self, content, state):
        return torch.cat([content, state], dim=1)

    def render(self, content, codes):
        frames = self.image(rearrange(codes, "b t d -> (b t) d"))  # [(B T), 3, R, R]
        return rearrange(frames, "(b t) c h w -> b t c h w", b=codes.shape[0])
