"""The contracts every generator and discriminator keeps, so the harness and the metrics need no model-specific code.

Tensor conventions (stated once, kept everywhere):
  * on disk and in datasets: uint8 ``[T, H, W, C]`` (C = 3), frames in time order;
  * inside models: float videos ``[B, T, C, H, W]`` in [-1, 1];
  * time stamps: float ``[B, T]`` in frame units (t = 0 is the first frame), sorted per row;
  * at the metric boundary only: uint8 ``[B, T, H, W, C]`` or ``[B, C, T, H, W]`` (detector input).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


class VideoGenerator(nn.Module):
    """A video generator: ``G(z, t, motion_noise=None, truncation_psi=1) -> [B, T, 3, H, W]`` in [-1, 1].

    Class attributes a model sets to declare what it needs (the harness reads them, never the name):
      * ``continuous_time``: frames at any real t (StyleGAN-V, DIGAN); False = integer t only (LSTM/GRU models);
      * ``autoregressive``: frames depend on earlier frames, so long videos are unrolled from t = 0;
      * ``training_stages``: names of the stages the harness runs in order (e.g. ``("image", "pca", "motion")``).
    Instances carry ``z_dim`` and ``resolution``.
    """

    continuous_time: bool = True
    autoregressive: bool = False
    training_stages: tuple[str, ...] = ("main",)

    z_dim: int
    resolution: int

    def sample_z(self, batch_size: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> torch.Tensor:
        """Content codes ``[B, z_dim]``."""
        device = device if device is not None else _module_device(self)
        return torch.randn(batch_size, self.z_dim, generator=generator, device="cpu").to(device)

    def sample_motion_noise(self, batch_size: int, max_t: float, generator: torch.Generator | None = None) -> Any:
        """Whatever randomness fixes a video's motion up to time ``max_t`` (None when the model has none).

        Passing the same object to several ``forward`` calls renders frames of one video in pieces.
        """
        return None

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
        """Yield ``[B, <=chunk_size, 3, H, W]`` pieces of the video at times ``t [B, T]``.

        Memory stays constant in T: motion randomness is fixed once, then frames are made chunk by chunk.
        Autoregressive models override this to unroll their recurrence.
        """
        if motion_noise is None:
            motion_noise = self.sample_motion_noise(z.shape[0], float(t.max()), generator=generator)
        for start in range(0, t.shape[1], chunk_size):
            yield self(z, t[:, start : start + chunk_size], motion_noise=motion_noise, truncation_psi=truncation_psi)

    @torch.no_grad()
    def generate_long(self, z: torch.Tensor, t: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """A whole video ``[B, T, 3, H, W]`` made with ``iter_frames`` (gathered on the CPU)."""
        return torch.cat([chunk.cpu() for chunk in self.iter_frames(z, t, **kwargs)], dim=1)


class VideoDiscriminator(nn.Module):
    """A video discriminator: ``D(frames [B, k, 3, H, W], t [B, k]) -> logits [B]``.

    Declares ``num_frames`` (k, fixed at construction; 1 for an image discriminator) and
    ``sampler``: the registry name (or spec) of the frame sampler its clips come from by default,
    e.g. ``"sparse_random"``, ``"consecutive"``, ``"beta_pair"``. ``needs_dense_clips`` marks
    discriminators that need k consecutive integer frames (3D convolutions).
    """

    num_frames: int
    sampler: Any = "sparse_random"
    needs_dense_clips: bool = False


def _module_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")
