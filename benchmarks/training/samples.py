"""Rendering videos from a generator at chosen times (snapshots during training, ``sgvb sample``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.training.video_io import to_uint8, video_grid, write_gif, write_mp4


def frame_times(
    num_frames: int, *, batch_size: int = 1, time_step: float = 1.0, time_offset: float = 0.0, integer: bool = False
) -> torch.Tensor:
    """``[B, T]`` times ``offset, offset + step, ...`` in frame units (``time_step=0.25`` = 4x slow motion).

    Generators without continuous time (``integer=True``) only accept whole frames: a fractional step
    or offset is an error rather than a silent rounding.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if time_step <= 0:
        raise ValueError(f"time_step must be > 0, got {time_step}")
    t = time_offset + time_step * torch.arange(num_frames, dtype=torch.float64)
    if integer and not torch.equal(t, t.round()):
        raise ValueError(
            "this generator renders integer times only (continuous_time=False); "
            f"time_step={time_step} and time_offset={time_offset} must be whole numbers"
        )
    return t.float().unsqueeze(0).expand(batch_size, -1).contiguous()


@torch.no_grad()
def render(
    G,
    z: torch.Tensor,
    t: torch.Tensor,
    *,
    truncation_psi: float = 1.0,
    chunk_size: int = 16,
    generator: torch.Generator | None = None,
    motion_noise=None,
    on_frames: Callable[[int], Any] | None = None,
) -> torch.Tensor:
    """uint8 ``[B, T, H, W, C]`` on the CPU, rendered chunk by chunk (constant memory in T); ``on_frames(n)`` after
    each chunk of ``n`` frames (progress of a long video)."""
    chunks = []
    for c in G.iter_frames(
        z,
        t.to(z.device),
        chunk_size=chunk_size,
        truncation_psi=truncation_psi,
        generator=generator,
        motion_noise=motion_noise,
    ):
        chunks.append(to_uint8(c).cpu())  # [B, chunk, H, W, C]
        if on_frames is not None:
            on_frames(int(c.shape[1]))
    return torch.cat(chunks, dim=1)


@torch.no_grad()
def snapshot_samples(
    G,
    folder: str | Path,
    tag: str,
    *,
    seed: int = 0,
    num_videos: int = 9,
    num_frames: int = 16,
    long_frames: int = 128,
    fps: float = 25.0,
) -> list[Path]:
    """A grid of ``num_videos`` clips from fixed latents (GIF + MP4) and one long video (MP4).

    The latents and motion randomness come from ``seed`` alone, so snapshots of one run are
    directly comparable over training.
    """
    device = next(iter(G.parameters()), torch.empty(0)).device
    folder = Path(folder)
    gen = torch.Generator().manual_seed(seed)
    z = G.sample_z(num_videos, generator=gen, device=device)
    t = frame_times(num_frames, batch_size=num_videos).to(device)
    grid = video_grid(render(G, z, t, generator=torch.Generator().manual_seed(seed)))
    written = [write_gif(folder / f"grid-{tag}.gif", grid, fps), write_mp4(folder / f"grid-{tag}.mp4", grid, fps)]
    if long_frames > 0:
        t_long = frame_times(long_frames, batch_size=1).to(device)
        video = render(G, z[:1], t_long, generator=torch.Generator().manual_seed(seed + 1))[0].numpy()
        written.append(write_mp4(folder / f"long-{tag}.mp4", np.ascontiguousarray(video), fps))
    return written
