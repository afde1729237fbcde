"""The StyleGAN-V generator: one content code per video, motion codes over time, frames at any real t.

    w = mapping(z)                               one w per video, every frame and layer reuses it
    u_k = conv1d(conv1d(noise))                  motion codes every ``motion_spacing`` frames
    v(t) = positional_encoding(t, [u_k, u_{k+1}], [k, k+1] * spacing)  time embedding (default: acyclic)
    frame(t) = synthesis(w, v(t))                StyleGAN2 'skip' synthesis, no spatial noise

With ``time_injection="input"`` (official ``concat_const``) v(t) only enters the 4x4 input
(learned constant ‖ v(t)); ``concat_w`` appends v to w in every affine layer and ``sum_w`` adds it.
Frames are generated independently given (w, motion noise, t), so chunked rendering of long videos
equals one-shot rendering.

Output: ``[B, T, 3, H, W]`` float32, nominally in [-1, 1] but not clamped in ``forward`` (the
official generator does not clamp; losses see raw values). ``iter_frames``/``generate_long`` clamp.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from einops import rearrange, repeat

from registry import GENERATORS, POSITIONAL_ENCODINGS
from registry.interfaces import PositionalEncoding, VideoGenerator, conformance_problems

from .layers import MappingNetwork, SynthesisNetwork, check_shape, log2_resolution
from .motion import MotionMappingNetwork, MotionNoise
from .ops import eager_only

__all__ = ["StyleGANVGenerator", "TIME_INJECTIONS"]

TIME_INJECTIONS = ("input", "concat_w", "sum_w")


@eager_only
def _check_times(t: torch.Tensor) -> None:
    if t.numel() and bool((t < 0).any()):
        raise ValueError(f"StyleGANVGenerator: times must be >= 0, got min t = {float(t.min())}")


@GENERATORS.register("stylegan_v", aliases=["stylegan-v", "styleganv"])
class StyleGANVGenerator(VideoGenerator):
    """StyleGAN-V (Skorokhodov et al., CVPR 2022) as the official code runs it; defaults = the 256² model."""

    continuous_time = True
    autoregressive = False
    training_stages = ("main",)

    def __init__(
        self,
        *,
        resolution: int = 256,
        z_dim: int = 512,
        w_dim: int = 512,
        motion_z_dim: int = 512,
        motion_dim: int = 512,
        motion_spacing: float = 16,
        motion_kernel_size: int = 11,
        positional_encoding: Any = "acyclic",
        time_injection: str = "input",
        mapping_layers: int = 2,
        channel_base: int | None = None,
        channel_max: int = 512,
        conv_clamp: float | None = 256,
        w_avg_beta: float = 0.995,
        img_channels: int = 3,
    ):
        super().__init__()
        log2_resolution(resolution, minimum=4)
        if time_injection not in TIME_INJECTIONS:
            raise ValueError(f"time_injection must be one of {TIME_INJECTIONS}, got '{time_injection}'")
        if channel_base is None:  # official: fmaps 0.5 below 512², 1 from 512² up
            channel_base = 16384 if resolution < 512 else 32768
        self.resolution, self.z_dim, self.w_dim, self.img_channels = resolution, z_dim, w_dim, img_channels
        self.motion_z_dim, self.time_injection = motion_z_dim, time_injection

        self.mapping = MappingNetwork(z_dim=z_dim, w_dim=w_dim, num_layers=mapping_layers, w_avg_beta=w_avg_beta)
        self.time_encoder = POSITIONAL_ENCODINGS.build_offering(positional_encoding, {"motion_dim": motion_dim})
        problems = conformance_problems(self.time_encoder, PositionalEncoding)
        if problems:
            raise TypeError(f"positional_encoding does not meet its contract: {'; '.join(problems)}")
        v_dim = int(self.time_encoder.out_dim)
        self.motion = (
            MotionMappingNetwork(
                z_dim=motion_z_dim, motion_dim=motion_dim, kernel_size=motion_kernel_size, spacing=motion_spacing
            )
            if self.time_encoder.needs_motion
            else None
        )
        if time_injection == "sum_w" and v_dim not in (0, w_dim):
            raise ValueError(
                f"time_injection='sum_w' needs a positional encoding with out_dim == w_dim ({w_dim}), got {v_dim}"
            )
        style_dim = w_dim + v_dim if time_injection == "concat_w" else w_dim
        self.synthesis = SynthesisNetwork(
            w_dim=style_dim,
            resolution=resolution,
            img_channels=img_channels,
            channel_base=channel_base,
            channel_max=channel_max,
            conv_clamp=conv_clamp,
            use_noise=False,
            input_extra_channels=v_dim if time_injection == "input" else 0,
        )

    # ------------------------------------------------------------------ randomness
    def sample_motion_noise(self, batch_size: int, max_t: float = 0.0, generator: torch.Generator | None = None):
        """Per-video seeds (a :class:`MotionNoise`) valid for every t >= 0, or None when there is no motion.

        ``max_t`` is accepted for the interface; the noise extends itself to any t.
        """
        if self.motion is None:
            return None
        return MotionNoise.sample(batch_size, self.motion_z_dim, generator=generator)

    # ------------------------------------------------------------------ forward
    def time_embedding(self, t: torch.Tensor, motion_noise: Any = None) -> torch.Tensor:
        """v(t) for every frame, ``[B*T, v_dim]`` float32."""
        t_flat = rearrange(t, "b t -> (b t)")
        if self.motion is None:
            return self.time_encoder(t_flat, None)
        if motion_noise is None:
            motion_noise = self.sample_motion_noise(t.shape[0])
        codes, code_times = self.motion(t, motion_noise)
        return self.time_encoder(t_flat, codes, code_times)

    def forward(
        self, z: torch.Tensor, t: torch.Tensor, motion_noise: Any = None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        """``z [B, z_dim]``, ``t [B, T]`` (any real t >= 0) -> frames ``[B, T, C, H, W]``."""
        check_shape(z, [None, self.z_dim], "StyleGANVGenerator z")
        check_shape(t, [z.shape[0], None], "StyleGANVGenerator t (expected [B, T] matching z)")
        if not torch.is_floating_point(t):
            t = t.float()
        if t.shape[1] == 0:
            raise ValueError("StyleGANVGenerator: t has no frames (shape [B, 0])")
        _check_times(t)
        b, n = t.shape
        with torch.autocast(device_type=z.device.type, enabled=False):  # cheap, precision-sensitive: float32
            w = self.mapping(z.float(), truncation_psi=truncation_psi)  # [B, w_dim]
            v = self.time_embedding(t.float(), motion_noise)  # [B*T, v_dim]
        w = repeat(w, "b d -> (b t) d", t=n)  # [B*T, w_dim]
        if self.time_injection == "input":
            img = self.synthesis(w, input_features=v)
        elif self.time_injection == "concat_w":
            img = self.synthesis(torch.cat([w, v.to(w.dtype)], dim=1))
        else:
            img = self.synthesis(w + v.to(w.dtype) if v.shape[1] else w)
        return rearrange(img.float(), "(b t) c h w -> b t c h w", b=b)

    @torch.no_grad()
    def iter_frames(
        self,
        z: torch.Tensor,
        t: torch.Tensor,
        *,
        chunk_size: int = 16,
        motion_noise: Any = None,
        truncation_psi: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Iterator[torch.Tensor]:
        """Chunks ``[B, <=chunk_size, C, H, W]`` clamped to [-1, 1]; motion noise is fixed once per video."""
        if motion_noise is None:
            motion_noise = self.sample_motion_noise(
                z.shape[0], float(t.max()) if t.numel() else 0.0, generator=generator
            )
        for chunk in super().iter_frames(
            z, t, chunk_size=chunk_size, motion_noise=motion_noise, truncation_psi=truncation_psi, generator=generator
        ):
            yield chunk.clamp(-1, 1)
