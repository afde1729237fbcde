"""Random draws as the official StyleGAN-V scripts make them, so the official seed gives the official videos.

Official ``generate.py``: seed ``random``, ``numpy`` and ``torch`` with ``--seed``; draw
``z = torch.randn(num_videos, z_dim)`` on the device at once; then, per batch of ``batch_size``
videos, the generator's motion encoder draws ``torch.randn(B, L, motion_z_dim)`` with
``L = ceil(max(max_num_frames - 1, max t) / motion_z_distance) + 2 + 2 (kernel_size - 1)``.
The official metric code draws ``z = torch.randn(B, z_dim)`` per batch and the motion right after.
Both come from the global torch RNG of the device, so results are bit-equal only on the same device
type and batch split (CUDA and CPU streams differ).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from registry.interfaces import VideoGenerator, module_device

__all__ = [
    "NOISE_MODES",
    "OfficialNoiseGenerator",
    "motion_trajectory_length",
    "official_video_latents",
    "seed_official",
]

NOISE_MODES = ("default", "official")
DEFAULT_MAX_NUM_FRAMES = 1024


def check_noise_mode(noise: str, G: Any) -> str:
    """``noise`` must be a known mode; ``official`` needs a StyleGAN-V generator (motion codes from noise)."""
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
    if noise == "official" and getattr(G, "motion", None) is None:
        raise ValueError(
            f"noise=official reproduces StyleGAN-V's draws; {type(G).__name__} has no StyleGAN-V motion network"
        )
    return noise


def seed_official(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def motion_trajectory_length(G: Any, max_t: float) -> int:
    """Noise vectors the official motion encoder draws for times up to ``max_t``."""
    frames = int(getattr(G, "official_max_num_frames", DEFAULT_MAX_NUM_FRAMES))
    span = max(frames - 1, float(max_t))
    return int(np.ceil(span / G.motion.spacing)) + 2 + 2 * (G.motion.kernel_size - 1)


def draw_motion_noise(G: Any, batch_size: int, max_t: float, device: Any) -> torch.Tensor:
    """``[B, L, motion_z_dim]`` from the global RNG of ``device``, as the official motion encoder."""
    return torch.randn(batch_size, motion_trajectory_length(G, max_t), G.motion_z_dim, device=device)


def official_video_latents(
    G: Any, *, seed: int, num_videos: int, batch_size: int, max_t: float, device: Any
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(z [1, z_dim], motion noise [1, L, D])`` per video, drawn in ``generate.py``'s order."""
    check_noise_mode("official", G)
    if num_videos < 1 or batch_size < 1:
        raise ValueError(f"num_videos and batch_size must be >= 1, got {num_videos} and {batch_size}")
    seed_official(seed)
    all_z = torch.randn(num_videos, G.z_dim, device=device)
    for start in range(0, num_videos, batch_size):
        b = min(batch_size, num_videos - start)
        motion = draw_motion_noise(G, b, max_t, device)
        for i in range(b):
            yield all_z[start + i : start + i + 1], motion[i : i + 1]


class OfficialNoiseGenerator(VideoGenerator):
    """A StyleGAN-V generator whose ``sample_z``/motion draws follow the official metric code.

    The global RNGs are seeded with ``seed`` at the first draw (not at construction, so building
    detectors in between does not shift the stream); each batch draws z, then its motion noise.
    The ``generator`` arguments of the harness are ignored on purpose.
    """

    batch_defines_draws = True  # the official code draws per batch: the batch size is part of the stream

    def __init__(self, G: VideoGenerator, seed: int):
        super().__init__()
        check_noise_mode("official", G)
        self.G, self.seed, self._seeded = G, int(seed), False
        self.z_dim, self.resolution = G.z_dim, G.resolution
        self.continuous_time, self.autoregressive = G.continuous_time, G.autoregressive

    def _device(self) -> torch.device:
        return module_device(self.G)

    def sample_z(self, batch_size: int, generator: torch.Generator | None = None, device: Any = None) -> torch.Tensor:
        if not self._seeded:
            seed_official(self.seed)
            self._seeded = True
        z = torch.randn(batch_size, self.z_dim, device=self._device())
        return z if device is None else z.to(device)

    def sample_motion_noise(
        self, batch_size: int, max_t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return draw_motion_noise(self.G, batch_size, max_t, self._device())

    def forward(
        self, z: torch.Tensor, t: torch.Tensor, motion_noise: Any = None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        if motion_noise is None:
            motion_noise = self.sample_motion_noise(z.shape[0], float(t.max()))
        return self.G(z, t, motion_noise=motion_noise, truncation_psi=truncation_psi)

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
        if motion_noise is None:
            motion_noise = self.sample_motion_noise(z.shape[0], float(t.max()))
        yield from self.G.iter_frames(
            z, t, chunk_size=chunk_size, motion_noise=motion_noise, truncation_psi=truncation_psi
        )


def official_sample_plan(
    G: Any, *, noise: str, seeds: list[int], num_videos: int | None, batch_size: int, max_t: float, device: Any
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """``(video index, z, motion noise)`` for ``sgvb sample noise=official``: ``seeds`` holds the one official seed."""
    check_noise_mode(noise, G)
    if len(seeds) != 1:
        raise ValueError(
            f"noise=official takes one seed (generate.py --seed), got seeds={list(seeds)}; "
            "set num_videos=N for N videos"
        )
    latents = official_video_latents(
        G, seed=int(seeds[0]), num_videos=int(num_videos or 1), batch_size=int(batch_size), max_t=max_t, device=device
    )
    for index, (z, motion) in enumerate(latents):
        yield index, z, motion


def with_noise_mode(G: Any, *, noise: str, seed: int) -> Any:
    """``G`` itself (``noise=default``) or a fresh :class:`OfficialNoiseGenerator` seeded with ``seed``."""
    return G if check_noise_mode(noise, G) == "default" else OfficialNoiseGenerator(G, seed)
