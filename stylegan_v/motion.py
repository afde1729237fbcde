"""StyleGAN-V's motion path: a per-video noise sequence -> motion codes u_k every ``spacing`` frames.

The noise vector at position j of a video is a deterministic function of (the video's seed, j):
it is drawn in fixed blocks from a generator seeded by (seed, block index). So only the part of the
sequence a batch of frames needs is ever drawn, any t >= 0 works (t = 1e5 costs the same as t = 0),
and codes at a fixed position never change when a video is extended. The motion network is two
unpadded conv1d layers, so code u_k depends on noise z_k .. z_{k + receptive_field - 1} only.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .layers import EqualizedConv1d
from .ops import eager_only

__all__ = ["MotionMappingNetwork", "MotionNoise", "as_motion_noise"]

_MASK64 = (1 << 64) - 1


def _mix(seed: int, index: int) -> int:
    """splitmix64 of (seed, index): well-spread 63-bit generator seeds for each noise block."""
    x = (seed * 0x9E3779B97F4A7C15 + index + 0x632BE59BD9B4E019) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) & ((1 << 63) - 1)


class MotionNoise:
    """The randomness of a batch of videos' motion: one integer seed per video.

    ``window(start, length)`` returns noise positions ``start[b] .. start[b] + length - 1`` of each
    video as ``[B, length, dim]`` float32. Index it (``noise[1:3]``) or build it from explicit seeds
    (``MotionNoise(torch.tensor([7, 7, 7]), dim)`` = the same motion for three videos).
    """

    block_size = 64  # noise vectors per independently seeded block (64 codes cover 1024 frames at spacing 16)

    def __init__(self, seeds: torch.Tensor, dim: int):
        seeds = torch.as_tensor(seeds, dtype=torch.int64).flatten().cpu()
        if seeds.numel() == 0:
            raise ValueError("MotionNoise needs at least one seed")
        self.seeds, self.dim = seeds, int(dim)

    @classmethod
    def sample(cls, batch_size: int, dim: int, generator: torch.Generator | None = None) -> "MotionNoise":
        device = generator.device if generator is not None else "cpu"
        seeds = torch.randint(0, 2**62, (batch_size,), generator=generator, device=device, dtype=torch.int64)
        return cls(seeds.cpu(), dim)

    def __len__(self) -> int:
        return self.seeds.numel()

    def __getitem__(self, index) -> "MotionNoise":
        return MotionNoise(self.seeds[index].reshape(-1), self.dim)

    def _block(self, seed: int, block: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(_mix(seed, block))
        return torch.randn(self.block_size, self.dim, generator=g)

    def window(self, start: torch.Tensor, length: int, device: torch.device | str = "cpu") -> torch.Tensor:
        start = torch.as_tensor(start, dtype=torch.int64).cpu()
        if start.numel() != len(self):
            raise ValueError(f"MotionNoise holds {len(self)} videos but {start.numel()} windows were requested")
        rows = []
        for seed, s in zip(self.seeds.tolist(), start.tolist()):
            first, last = s // self.block_size, (s + length - 1) // self.block_size
            seq = torch.cat([self._block(seed, b) for b in range(first, last + 1)])
            off = s - first * self.block_size
            rows.append(seq[off : off + length])
        return torch.stack(rows).to(device)

    def __repr__(self) -> str:
        return f"MotionNoise(videos={len(self)}, dim={self.dim})"


class _TensorMotionNoise:
    """An explicit noise tensor ``[B, L, dim]`` (as the official code takes ``motion_z``); L bounds t."""

    def __init__(self, noise: torch.Tensor):
        if noise.ndim != 3:
            raise ValueError(f"motion_noise tensor must be [B, L, dim], got shape {list(noise.shape)}")
        self.noise, self.dim = noise, noise.shape[2]

    def __len__(self) -> int:
        return self.noise.shape[0]

    def window(self, start: torch.Tensor, length: int, device: torch.device | str = "cpu") -> torch.Tensor:
        start = torch.as_tensor(start, dtype=torch.int64, device=self.noise.device)
        need = int(start.max()) + length
        if need > self.noise.shape[1]:
            raise ValueError(
                f"motion_noise tensor has {self.noise.shape[1]} positions but these times need {need}; "
                "pass a longer tensor or a MotionNoise (from G.sample_motion_noise), which has no length limit"
            )
        idx = start[:, None] + torch.arange(length, device=self.noise.device)  # [B, length]
        return torch.gather(self.noise, 1, idx[:, :, None].expand(-1, -1, self.dim)).to(device)


def as_motion_noise(noise, batch_size: int, dim: int):
    """Validate a ``motion_noise`` argument (MotionNoise or tensor) against the batch and noise size."""
    if isinstance(noise, torch.Tensor):
        noise = _TensorMotionNoise(noise)
    if not isinstance(noise, (MotionNoise, _TensorMotionNoise)):
        raise TypeError(
            f"motion_noise must be a MotionNoise (G.sample_motion_noise) or a [B, L, {dim}] tensor, "
            f"got {type(noise).__name__}"
        )
    if len(noise) != batch_size:
        raise ValueError(f"motion_noise is for {len(noise)} videos but z has {batch_size}")
    if noise.dim != dim:
        raise ValueError(f"motion_noise has dim {noise.dim} but the generator's motion_z_dim is {dim}")
    return noise


class MotionMappingNetwork(nn.Module):
    """Noise sequence ``[B, L, z_dim]`` -> motion codes ``[B, L - 2(k-1), motion_dim]`` (two unpadded conv1d).

    Official StyleGAN-V: kernel 11, 512 channels, equalized LR with lr_mult 0.01, leaky ReLU 0.2.
    """

    def __init__(
        self,
        *,
        z_dim: int = 512,
        motion_dim: int = 512,
        kernel_size: int = 11,
        spacing: float = 16,
        lr_mult: float = 0.01,
    ):
        super().__init__()
        if spacing <= 0:
            raise ValueError(f"motion spacing (frames between motion codes) must be > 0, got {spacing}")
        self.z_dim, self.motion_dim, self.kernel_size, self.spacing = z_dim, motion_dim, kernel_size, float(spacing)
        self.conv0 = EqualizedConv1d(z_dim, motion_dim, kernel_size, lr_mult=lr_mult)
        self.conv1 = EqualizedConv1d(motion_dim, motion_dim, kernel_size, lr_mult=lr_mult)
        self.receptive_field = 2 * (kernel_size - 1) + 1

    def codes(self, noise: torch.Tensor) -> torch.Tensor:
        x = rearrange(noise, "b l d -> b d l")
        x = self.conv1(self.conv0(x))
        return rearrange(x, "b d l -> b l d")

    @eager_only  # data-dependent window sizes: keep this small host-side step out of compiled graphs
    def _noise_window(self, t: torch.Tensor, noise) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The noise each video needs for frames at ``t [B, T]``, each frame's code index into it, its segment."""
        noise = as_motion_noise(noise, t.shape[0], self.z_dim)
        k = torch.floor(t.detach().double() / self.spacing).long().cpu()  # [B, T] segment of each frame
        first = k.min(dim=1).values  # [B] first code each video needs
        num_codes = int((k.max(dim=1).values - first).max()) + 2  # u_k and u_{k+1} for every frame
        z = noise.window(first, num_codes + self.receptive_field - 1, device=t.device)  # [B, L, z_dim]
        return z, (k - first[:, None]).to(t.device), k.to(t.device)

    def forward(self, t: torch.Tensor, noise) -> tuple[torch.Tensor, torch.Tensor]:
        """The two motion codes around each frame at times ``t [B, T]`` and their times, as a positional encoding
        takes them: ``codes [B*T, 2, D]`` (u_k, u_{k+1} with k = floor(t / spacing)) and ``code_times [B*T, 2]``
        (k * spacing, (k + 1) * spacing). ``noise`` is a MotionNoise or a ``[B, L, z_dim]`` tensor.

        Codes and knot times are float64: the acyclic encoding multiplies functions of u by t (up to
        1e5), so one float32 ulp of u, which BLAS may give differently for different window lengths,
        would become 1e-3 rad of phase; in float64 the same rounding is 1e-11 rad.
        """
        z, idx, k = self._noise_window(t, noise)
        with torch.autocast(device_type=t.device.type, enabled=False):
            u = self.codes(z.double())  # [B, num_codes, D] float64

        def gather(i):
            return rearrange(torch.gather(u, 1, i[:, :, None].expand(-1, -1, u.shape[2])), "b t d -> (b t) d")

        t_left = rearrange(k.double() * self.spacing, "b t -> (b t)")
        codes = torch.stack([gather(idx), gather(idx + 1)], dim=1)  # [B*T, 2, D] float64
        return codes, torch.stack([t_left, t_left + self.spacing], dim=1)
