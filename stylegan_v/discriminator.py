"""The StyleGAN-V discriminator: per-frame StyleGAN2 'resnet' blocks, channel-concat fusion, time-gap conditioning.

    frames [B, k, 3, H, W] --per-frame blocks--> [B*k, C/2, 16, 16]
        --concat in time order--> [B, k*C/2, 16, 16] --shared blocks--> 4x4 --epilogue (mbstd)--> h [B, 512]
    gaps t_{j+1} - t_j --[Embedding(round gap) ‖ 20 sinusoids] per gap, concatenated--> 2-layer mapping --> c [B, 512]
    logit = <h, c> / sqrt(512)                                   (conditioning="projection", official)

``conditioning="hyper"`` (registered as ``stylegan_v_hyper``, the paper's first version): conv0 of
every block is a modulated conv whose style is an affine map of c; no projection.
``conditioning="none"``: no time-gap input at all (the ablation's lower bound).

Fusion resolution: 16x16 as the official model (the last per-frame block, at 32x32, keeps half the
channels). Inputs of 16x16 fuse at 8x8, i.e. always at ``min(16, resolution // 2)``, so at least one
per-frame block exists. With ``num_frames=1`` there are no gaps and no halving: this is exactly the
StyleGAN2 'resnet' image discriminator.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from registry import DISCRIMINATORS
from registry.interfaces import VideoDiscriminator

from .layers import (
    DiscriminatorBlock,
    DiscriminatorEpilogue,
    MappingNetwork,
    channels_for,
    check_shape,
    log2_resolution,
)

__all__ = ["CONDITIONINGS", "StyleGANVDiscriminator", "StyleGANVHyperDiscriminator", "TimeGapEncoder"]

CONDITIONINGS = ("projection", "hyper", "none")


class TimeGapEncoder(nn.Module):
    """Gaps between consecutive frame times -> ``[B, (k-1) * (embed_dim + 2 * num_sinusoids)]``.

    Per gap δ: a learned embedding of round(δ) (gaps are clamped to [0, max_gap - 1]) concatenated with
    sin/cos(π 2^m δ / max_gap), m = 0..num_sinusoids-1 (official ``TemporalDifferenceEncoder``).
    """

    def __init__(self, num_frames: int, *, max_gap: int = 1024, embed_dim: int = 256, num_sinusoids: int = 10):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"TimeGapEncoder needs >= 2 frames, got {num_frames}")
        self.num_frames, self.max_gap = num_frames, max_gap
        self.embedding = nn.Embedding(max_gap, embed_dim)
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(num_sinusoids) / max_gap, persistent=False)
        self.out_dim = (num_frames - 1) * (embed_dim + 2 * num_sinusoids)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        check_shape(t, [None, self.num_frames], "TimeGapEncoder t")
        gaps = (t[:, 1:] - t[:, :-1]).float()  # [B, k-1]
        idx = gaps.round().long().clamp(0, self.max_gap - 1)
        phase = gaps[:, :, None] * self.frequencies  # [B, k-1, S]
        feats = torch.cat([self.embedding(idx).float(), phase.sin(), phase.cos()], dim=2)  # [B, k-1, E + 2S]
        return rearrange(feats, "b g d -> b (g d)")


@DISCRIMINATORS.register("stylegan_v", aliases=["stylegan-v", "styleganv"])
class StyleGANVDiscriminator(VideoDiscriminator):
    """StyleGAN-V's holistic discriminator; defaults = the official 256² model with 3 frames per clip."""

    sampler = "sparse_random"
    needs_dense_clips = False

    def __init__(
        self,
        *,
        num_frames: int = 3,
        resolution: int = 256,
        channel_base: int | None = None,
        channel_max: int = 512,
        conditioning: str = "projection",
        max_gap: int = 1024,
        conv_clamp: float | None = 256,
        mbstd_group_size: int = 4,
        img_channels: int = 3,
    ):
        super().__init__()
        log2_resolution(resolution, minimum=16)
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got '{conditioning}'")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if channel_base is None:
            channel_base = 16384 if resolution < 512 else 32768
        if num_frames == 1:
            conditioning = "none"  # a single frame has no time gaps to condition on
        self.num_frames, self.resolution, self.img_channels, self.conditioning = (
            num_frames,
            resolution,
            img_channels,
            conditioning,
        )

        def ch(r):
            return channels_for(r, channel_base=channel_base, channel_max=channel_max)

        cmap_dim = ch(4)

        if conditioning != "none":
            self.time_encoder = TimeGapEncoder(num_frames, max_gap=max_gap)
            self.time_mapping = MappingNetwork(
                z_dim=0, c_dim=self.time_encoder.out_dim, w_dim=cmap_dim, num_layers=2, w_avg_beta=None
            )
        else:
            self.time_encoder = self.time_mapping = None
        style_dim = cmap_dim if conditioning == "hyper" else 0

        self.fusion_resolution = min(16, resolution // 2)
        block_kwargs = dict(img_channels=img_channels, conv_clamp=conv_clamp, style_dim=style_dim)
        self.frame_blocks = nn.ModuleList()
        r = resolution
        while r > self.fusion_resolution:
            out = ch(r // 2)
            if r // 2 == self.fusion_resolution and num_frames > 1:
                out //= 2  # official num_frames_div_factor: keep the fused width in check
            self.frame_blocks.append(
                DiscriminatorBlock(0 if r == resolution else ch(r), ch(r), out, resolution=r, **block_kwargs)
            )
            r //= 2
        self.clip_blocks = nn.ModuleList()
        in_ch = num_frames * self.frame_blocks[-1].out_channels
        while r > 4:
            self.clip_blocks.append(DiscriminatorBlock(in_ch, ch(r), ch(r // 2), resolution=r, **block_kwargs))
            in_ch, r = ch(r // 2), r // 2
        self.epilogue = DiscriminatorEpilogue(
            ch(4),
            cmap_dim=cmap_dim if conditioning == "projection" else 0,
            mbstd_group_size=mbstd_group_size,
            conv_clamp=conv_clamp,
        )

    def forward(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``frames [B, k, C, H, W]`` and their times ``t [B, k]`` (sorted) -> logits ``[B]`` float32."""
        k, r = self.num_frames, self.resolution
        check_shape(frames, [None, k, self.img_channels, r, r], "StyleGANVDiscriminator frames")
        check_shape(t, [frames.shape[0], k], "StyleGANVDiscriminator t")
        c = None
        if self.time_encoder is not None:
            with torch.autocast(device_type=frames.device.type, enabled=False):
                c = self.time_mapping(c=self.time_encoder(t.float()))  # [B, cmap_dim] float32
        style = c if self.conditioning == "hyper" else None
        frame_style = rearrange(style[:, None].expand(-1, k, -1), "b k d -> (b k) d") if style is not None else None

        x = rearrange(frames, "b k c h w -> (b k) c h w")
        for block in self.frame_blocks:
            x = block(x, frame_style)
        x = rearrange(x, "(b k) c h w -> b (k c) h w", k=k)  # frames in time order along channels
        for block in self.clip_blocks:
            x = block(x, style)
        return self.epilogue(x, c if self.conditioning == "projection" else None)


@DISCRIMINATORS.register("stylegan_v_hyper", aliases=["stylegan-v-hyper"])
class StyleGANVHyperDiscriminator(StyleGANVDiscriminator):
    """The paper's first version: conv0 of every block modulated by an affine map of the time-gap embedding."""

    def __init__(
        self,
        *,
        num_frames: int = 3,
        resolution: int = 256,
        channel_base: int | None = None,
        channel_max: int = 512,
        conditioning: str = "hyper",
        max_gap: int = 1024,
        conv_clamp: float | None = 256,
        mbstd_group_size: int = 4,
        img_channels: int = 3,
    ):
        super().__init__(
            num_frames=num_frames,
            resolution=resolution,
            channel_base=channel_base,
            channel_max=channel_max,
            conditioning=conditioning,
            max_gap=max_gap,
            conv_clamp=conv_clamp,
            mbstd_group_size=mbstd_group_size,
            img_channels=img_channels,
        )
