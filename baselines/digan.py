"""DIGAN-style generator (Yu et al., ICLR 2022): an implicit (per-pixel) video generator, continuous in time.

Every pixel of every frame is computed independently by a stack of 1x1 modulated layers (an MLP over
pixels) whose input is a Fourier embedding of the pixel's coordinates ``(x, y)``. Time enters as a
phase shift of those features: a per-video motion vector ``m = A([w; z_motion])`` is scaled by the
time ``tau``, warped by a small MLP and added to the spatial phase,

    emb(x, y, tau) = [sin, cos](W(w) p + b(w) + MLP(lrelu(m * tau * motion_sigma))),

at every coordinate-injection scale. Frames are independent given ``(z, z_motion, tau)``, so any real
``t`` works (``continuous_time = True``). This suite passes frame-unit times; DIGAN normalises time by
its training clip (``linspace(0, 1, K)`` for a K-frame clip), so ``tau = t / (clip_length - 1)``.

Kept from the official code: 2-layer mapping (z, w 512), motion code 512 per video, INR-GAN synthesis
with factorized multiplicative modulation (FMM, rank 10, demodulated rows), Fourier coordinates of
128 frequencies (sin ‖ cos = 256 channels) at the base resolution (32) and again at every up-sampled
resolution (``per_resolution``), blocks 4..R all at the base resolution up to 32 (b4 one layer, the
others two), nearest up-sampling above it, one extra layer from 128² on, 'skip' toRGB, motion_sigma
0.25, spatial frequency scale sqrt(10), no spatial noise, no style mixing.
Simplifications: plain PyTorch ops (no custom CUDA), pixel coordinates ``linspace(-1, 1, R)``.
Note: in this suite the generator's clips start anywhere in [0, L) (the same fake-time rule as for
StyleGAN-V), so it learns t over the whole video; the official model only ever sees tau in [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from registry import GENERATORS
from registry.interfaces import VideoGenerator, module_device
from stylegan_v.layers import FullyConnectedLayer, MappingNetwork, ToRGBLayer, channels_for
from stylegan_v.ops import bias_act


class FMMLayer(nn.Module):
    """1x1 layer with factorized multiplicative modulation (INR-GAN), demodulated, bias + lrelu.

    ``W = W_shared * (1 + L R / sqrt(rank))`` with ``L [out, rank]`` and ``R [rank, in]`` an affine map of
    ``w``; each output row is then L2-normalised. The weight is per video, shared by all its frames.
    """

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, rank: int = 10):
        super().__init__()
        self.in_channels, self.out_channels, self.rank = in_channels, out_channels, rank
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.affine = FullyConnectedLayer(w_dim, (in_channels + out_channels) * rank)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x [(B T), in, H, W]``, ``w [B, w_dim]`` -> ``[(B T), out, H, W]``."""
        b = w.shape[0]
        lr = self.affine(w).float()
        left = rearrange(lr[:, : self.out_channels * self.rank], "b (o r) -> b o r", r=self.rank)
        right = rearrange(lr[:, self.out_channels * self.rank :], "b (r i) -> b r i", r=self.rank)
        weight = self.weight.float() * (1 + left @ right / math.sqrt(self.rank))  # [B, out, in]
        weight = weight * (weight.square().sum(dim=2, keepdim=True) + 1e-8).rsqrt()  # demodulate rows
        h, wd = x.shape[-2:]
        y = rearrange(x, "(b t) i h w -> b i (t h w)", b=b)
        y = torch.bmm(weight.to(y.dtype), y)  # [B, out, T*H*W]
        y = rearrange(y, "b o (t h w) -> (b t) o h w", h=h, w=wd)
        return bias_act(y, self.bias, activation="lrelu")


class CoordFuser(nn.Module):
    """Fourier features of pixel coordinates whose phase moves with time (DIGAN's motion injection)."""

    def __init__(
        self,
        resolution: int,
        *,
        w_dim: int,
        motion_dim: int,
        fourier_dim: int = 128,
        fourier_scale: float = math.sqrt(10),
        motion_sigma: float = 0.25,
    ):
        super().__init__()
        self.resolution, self.fourier_dim = resolution, fourier_dim
        self.fourier_scale, self.motion_sigma = fourier_scale, motion_sigma
        self.out_channels = 2 * fourier_dim
        self.coord_affine = FullyConnectedLayer(w_dim, 3 * fourier_dim)  # frequencies W [F, 2] and phases b [F]
        self.motion_affine = FullyConnectedLayer(w_dim + motion_dim, fourier_dim)
        self.motion_mlp = nn.Sequential(
            FullyConnectedLayer(fourier_dim, fourier_dim, activation="lrelu"),
            FullyConnectedLayer(fourier_dim, fourier_dim),
        )
        axis = torch.linspace(-1.0, 1.0, resolution)
        self.register_buffer(
            "coords", torch.stack(torch.meshgrid(axis, axis, indexing="xy")), persistent=False
        )  # [2, R, R]

    def forward(self, w: torch.Tensor, z_motion: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """``w [B, w_dim]``, ``z_motion [B, motion_dim]``, ``tau [B, T]`` -> ``[(B T), 2F, R, R]``."""
        n_f = self.fourier_dim
        aff = self.coord_affine(w).float()
        freqs = rearrange(aff[:, : 2 * n_f], "b (f c) -> b f c", c=2) * self.fourier_scale
        spatial = torch.einsum("bfc,chw->bfhw", freqs, self.coords) + aff[:, 2 * n_f :, None, None]  # [B, F, R, R]
        m = self.motion_affine(torch.cat([w, z_motion.to(w.dtype)], dim=1)).float()  # [B, F]
        phase = F.leaky_relu(m[:, None, :] * tau.float()[:, :, None] * self.motion_sigma, 0.2)  # [B, T, F]
        phase = self.motion_mlp(rearrange(phase, "b t f -> (b t) f")).float()
        phase = rearrange(phase, "(b t) f -> b t f", b=w.shape[0])
        theta = spatial[:, None] + phase[..., None, None]  # [B, T, F, R, R]
        emb = torch.cat([theta.sin(), theta.cos()], dim=2)
        return rearrange(emb, "b t c h w -> (b t) c h w")


class INRBlock(nn.Module):
    """One nominal resolution of the INR synthesis: [up + new coordinate features] -> FMM layers -> toRGB."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        resolution: int,
        upsample: bool,
        num_layers: int,
        w_dim: int,
        motion_dim: int,
        fourier_dim: int,
        fmm_rank: int,
        motion_sigma: float,
    ):
        super().__init__()
        self.resolution, self.upsample = resolution, upsample
        self.fuser = None
        if in_channels == 0 or upsample:  # the input block, and every up-sampled block, get fresh coordinates
            self.fuser = CoordFuser(
                resolution, w_dim=w_dim, motion_dim=motion_dim, fourier_dim=fourier_dim, motion_sigma=motion_sigma
            )
            in_channels += self.fuser.out_channels
        widths = [in_channels] + [out_channels] * num_layers
        self.layers = nn.ModuleList(FMMLayer(i, o, w_dim=w_dim, rank=fmm_rank) for i, o in zip(widths[:-1], widths[1:]))
        self.torgb = ToRGBLayer(out_channels, 3, w_dim=w_dim)

    def forward(self, x, img, w, z_motion, tau):
        num_frames = tau.shape[1]
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            img = F.interpolate(img, scale_factor=2, mode="nearest")
        if self.fuser is not None:
            emb = self.fuser(w, z_motion, tau).to(x.dtype if x is not None else w.dtype)
            x = emb if x is None else torch.cat([x, emb], dim=1)
        for layer in self.layers:
            x = layer(x, w)
        y = self.torgb(x, w.repeat_interleave(num_frames, dim=0))
        return x, (y if img is None else img + y)


class INRSynthesis(nn.Module):
    """Blocks 4..R; those up to ``input_resolution`` all run at that resolution (as DIGAN's config)."""

    def __init__(
        self,
        *,
        w_dim: int,
        motion_dim: int,
        resolution: int,
        input_resolution: int = 32,
        channel_base: int = 32768,
        channel_max: int = 512,
        fourier_dim: int = 128,
        fmm_rank: int = 10,
        motion_sigma: float = 0.25,
    ):
        super().__init__()
        log2 = int(round(math.log2(resolution)))
        if resolution < 4 or 2**log2 != resolution:
            raise ValueError(f"digan: resolution must be a power of two >= 4, got {resolution}")
        base = min(int(input_resolution), resolution)
        if 2 ** int(round(math.log2(base))) != base:
            raise ValueError(f"digan: input_resolution must be a power of two, got {input_resolution}")
        self.blocks = nn.ModuleList()
        prev = 0
        for nominal in (2**i for i in range(2, log2 + 1)):
            out = channels_for(nominal, channel_base=channel_base, channel_max=channel_max)
            num_layers = 1 if nominal == 4 else (3 if nominal >= 128 else 2)  # DIGAN: one extra conv from 128² on
            self.blocks.append(
                INRBlock(
                    prev,
                    out,
                    resolution=max(nominal, base),
                    upsample=nominal > base,
                    num_layers=num_layers,
                    w_dim=w_dim,
                    motion_dim=motion_dim,
                    fourier_dim=fourier_dim,
                    fmm_rank=fmm_rank,
                    motion_sigma=motion_sigma,
                )
            )
            prev = out

    def forward(self, w: torch.Tensor, z_motion: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        x = img = None
        for block in self.blocks:
            x, img = block(x, img, w, z_motion, tau)
        return img  # [(B T), 3, R, R]


@GENERATORS.register("digan")
class DIGANGenerator(VideoGenerator):
    """DIGAN: ``G(z, t, motion_noise=z_motion [B, motion_dim])`` -> frames at any real ``t [B, T]``."""

    continuous_time = True
    autoregressive = False

    def __init__(
        self,
        *,
        resolution: int = 128,
        z_dim: int = 512,
        w_dim: int = 512,
        motion_dim: int = 512,
        mapping_layers: int = 2,
        channel_base: int = 32768,
        channel_max: int = 512,
        input_resolution: int = 32,
        fourier_dim: int = 128,
        fmm_rank: int = 10,
        motion_sigma: float = 0.25,
        clip_length: int = 16,
    ):
        super().__init__()
        if clip_length < 2:
            raise ValueError(
                f"digan: clip_length must be >= 2 (time is normalised by clip_length - 1), got {clip_length}"
            )
        self.resolution, self.z_dim, self.w_dim, self.motion_dim = (
            int(resolution),
            int(z_dim),
            int(w_dim),
            int(motion_dim),
        )
        self.clip_length = int(clip_length)
        self.mapping = MappingNetwork(z_dim=self.z_dim, w_dim=self.w_dim, num_layers=mapping_layers)
        self.synthesis = INRSynthesis(
            w_dim=self.w_dim,
            motion_dim=self.motion_dim,
            resolution=self.resolution,
            input_resolution=input_resolution,
            channel_base=channel_base,
            channel_max=channel_max,
            fourier_dim=fourier_dim,
            fmm_rank=fmm_rank,
            motion_sigma=motion_sigma,
        )

    def sample_motion_noise(
        self, batch_size: int, max_t: float = 0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One motion code per video (its whole trajectory: frames at any t are functions of it)."""
        return torch.randn(batch_size, self.motion_dim, generator=generator).to(module_device(self))

    def forward(
        self, z: torch.Tensor, t: torch.Tensor, motion_noise: torch.Tensor | None = None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        if z.ndim != 2 or t.ndim != 2 or t.shape[0] != z.shape[0]:
            raise ValueError(
                f"digan: expected z [B, {self.z_dim}] and t [B, T], got {list(z.shape)} and {list(t.shape)}"
            )
        if motion_noise is None:
            motion_noise = torch.randn(z.shape[0], self.motion_dim, device=z.device)
        if motion_noise.shape != (z.shape[0], self.motion_dim):
            raise ValueError(f"digan: motion_noise must be [B, {self.motion_dim}], got {list(motion_noise.shape)}")
        w = self.mapping(z, truncation_psi=truncation_psi)
        tau = t.to(w.device, torch.float32) / (self.clip_length - 1)
        frames = self.synthesis(w, motion_noise.to(w.device), tau)  # [(B T), 3, R, R]
        return rearrange(frames, "(b t) c h w -> b t c h w", b=z.shape[0])
