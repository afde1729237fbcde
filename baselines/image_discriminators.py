"""2-D discriminators on frames: the single-frame ``image`` D and DIGAN's ``digan_motion`` pair D.

Both are the StyleGAN2 'resnet' discriminator (``stylegan_v.layers`` blocks down to 4x4,
minibatch-std, epilogue); they differ only in what is stacked in the input channels.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from registry import DISCRIMINATORS
from registry.interfaces import VideoDiscriminator
from stylegan_v.layers import DiscriminatorBlock, DiscriminatorEpilogue, channels_for


class ResnetImageDiscriminator(nn.Module):
    """StyleGAN2 'resnet' D over ``[N, in_channels, R, R]`` images -> logits ``[N]``."""

    def __init__(
        self,
        *,
        resolution: int,
        in_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        conv_clamp: float | None = 256,
    ):
        super().__init__()
        log2 = int(round(math.log2(resolution)))
        if resolution < 8 or 2**log2 != resolution:
            raise ValueError(f"discriminator resolution must be a power of two >= 8, got {resolution}")
        self.resolution, self.in_channels = resolution, in_channels
        blocks = []
        for res in (2**i for i in range(log2, 2, -1)):  # R, R/2, ..., 8
            c_in = 0 if res == resolution else channels_for(res, channel_base=channel_base, channel_max=channel_max)
            tmp = channels_for(res, channel_base=channel_base, channel_max=channel_max)
            out = channels_for(res // 2, channel_base=channel_base, channel_max=channel_max)
            blocks.append(
                DiscriminatorBlock(c_in, tmp, out, resolution=res, img_channels=in_channels, conv_clamp=conv_clamp)
            )
        self.blocks = nn.Sequential(*blocks)
        self.epilogue = DiscriminatorEpilogue(
            channels_for(4, channel_base=channel_base, channel_max=channel_max),
            mbstd_group_size=mbstd_group_size,
            conv_clamp=conv_clamp,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.epilogue(self.blocks(x))


def check_clip(frames: torch.Tensor, t: torch.Tensor, num_frames: int, name: str) -> None:
    """A clear error when a clip is not ``[B, num_frames, 3, H, W]`` with times ``[B, num_frames]``."""
    if frames.ndim != 5 or frames.shape[1] != num_frames or frames.shape[2] != 3:
        raise ValueError(f"{name}: expected frames [B, {num_frames}, 3, H, W], got {list(frames.shape)}")
    if t.shape != frames.shape[:2]:
        raise ValueError(f"{name}: expected t [B, {num_frames}] matching the frames, got {list(t.shape)}")


@DISCRIMINATORS.register("image")
class ImageDiscriminator(VideoDiscriminator):
    """Single-frame discriminator (StyleGAN2 resnet D), usable with any generator.

    With ``num_frames > 1`` every frame is judged on its own and the clip's logit is their mean (the
    time stamps are ignored), so an image D can share the clips of another discriminator.
    """

    sampler = {"_name_": "uniform", "num_frames": 1}

    def __init__(
        self,
        *,
        resolution: int = 256,
        num_frames: int = 1,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        conv_clamp: float | None = 256,
    ):
        super().__init__()
        self.num_frames, self.resolution = int(num_frames), int(resolution)
        self.net = ResnetImageDiscriminator(
            resolution=self.resolution,
            in_channels=3,
            channel_base=channel_base,
            channel_max=channel_max,
            mbstd_group_size=mbstd_group_size,
            conv_clamp=conv_clamp,
        )

    def forward(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        check_clip(frames, t, self.num_frames, "image discriminator")
        logits = self.net(rearrange(frames, "b k c h w -> (b k) c h w"))  # [(B k)]
        return rearrange(logits, "(b k) -> b k", k=self.num_frames).mean(dim=1)


@DISCRIMINATORS.register("digan_motion")
class DIGANMotionDiscriminator(VideoDiscriminator):
    """DIGAN's motion D: a resnet image D on ``[x_t1, x_t2, dt]`` (7 channels) for a pair of frames.

    ``dt = (t2 - t1) / (clip_length - 1)`` as a constant plane (DIGAN's normalisation of time by its
    training clip), left un-augmented. Works with any generator that renders frames at the pair's
    times (continuous-time ones at the ``beta_pair`` sampler's real-valued times).
    """

    sampler = "beta_pair"
    num_frames = 2

    def __init__(
        self,
        *,
        resolution: int = 128,
        num_frames: int = 2,
        clip_length: int = 16,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        conv_clamp: float | None = 256,
    ):
        super().__init__()
        if num_frames != 2:
            raise ValueError(
                f"digan_motion judges frame pairs: num_frames must be 2 (use the beta_pair sampler), got {num_frames}"
            )
        if clip_length < 2:
            raise ValueError(f"digan_motion: clip_length must be >= 2, got {clip_length}")
        self.resolution, self.clip_length = int(resolution), int(clip_length)
        self.net = ResnetImageDiscriminator(
            resolution=self.resolution,
            in_channels=7,
            channel_base=channel_base,
            channel_max=channel_max,
            mbstd_group_size=mbstd_group_size,
            conv_clamp=conv_clamp,
        )

    def forward(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        check_clip(frames, t, 2, "digan_motion")
        dt = (t[:, 1] - t[:, 0]).to(frames.dtype) / (self.clip_length - 1)  # [B]
        plane = dt[:, None, None, None].expand(-1, 1, *frames.shape[-2:])
        x = torch.cat([rearrange(frames, "b k c h w -> b (k c) h w"), plane], dim=1)  # [B, 7, H, W]
        return self.net(x)
