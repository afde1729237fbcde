"""Per-sample features for the metrics that need every feature vector (KID, IS, video IS), not only sums.

Feature rows are collected per process and concatenated in rank order through one all-reduce of
disjoint slots (sums of zeros are exact), so no extra collective is needed. Fake samples follow the
official rules: from a generator, frames of clips starting at t = 0 (images: ``clip_length`` frames per
video, as StyleGAN-V's image metrics; videos: ``num_frames`` frames); from a folder, the first frames in
(video, frame) order, or the first ``num_frames`` frames of the first long-enough videos.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from einops import rearrange

from . import sources
from .base import EvalContext, all_reduce_, detector_protocol, is_dataset, is_generator


def row_slots(local: list[torch.Tensor], dim: int, ctx: EvalContext) -> torch.Tensor:
    """float32 ``[N, dim]`` holding this process's rows in its own slots (rank after rank) and zeros elsewhere,
    so that one sum across processes (``all_reduce_``, or ``ctx.cached_real``'s) holds every process's rows."""
    mine = torch.cat(local).float().cpu() if local else torch.zeros(0, dim)
    if ctx.world_size == 1:
        return mine
    counts = torch.zeros(ctx.world_size, dtype=torch.float64)
    counts[ctx.rank] = mine.shape[0]
    counts = all_reduce_({"n": counts})["n"].long().tolist()
    start = sum(counts[: ctx.rank])
    slots = torch.zeros(sum(counts), dim)
    slots[start : start + mine.shape[0]] = mine
    return slots


def gather_rows(local: list[torch.Tensor], dim: int, ctx: EvalContext) -> np.ndarray:
    """float32 ``[N, dim]``: every process's rows, rank after rank (a single process: its rows as they came)."""
    slots = row_slots(local, dim, ctx)
    return (all_reduce_({"rows": slots})["rows"] if ctx.world_size > 1 else slots).float().numpy()


def first_frames(dataset, limit: int | None) -> list[sources.Clip]:
    """The first ``limit`` frames of ``dataset`` in (video, frame) order, as clips (all frames when None)."""
    clips, left = [], limit
    for clip in sources.select_all_frames(dataset):
        take = clip.frames if left is None else clip.frames[:left]
        if take:
            clips.append(sources.Clip(clip.video, tuple(take)))
        if left is not None:
            left -= len(take)
            if left == 0:
                break
    return clips


def frame_batches(dataset, clips: list[sources.Clip], ctx: EvalContext, batch: int) -> Iterator[torch.Tensor]:
    """This process's share of ``clips`` as uint8 ``[N, 3, H, W]`` frame batches."""
    mine = sources.shard(clips, ctx.rank, ctx.world_size)
    yield from sources.iter_dataset_frame_batches(
        dataset, mine, batch_size=batch, device=ctx.device, num_threads=ctx.num_threads
    )


def fake_frame_batches(
    fake: Any, ctx: EvalContext, *, num_frames: int, clip_length: int, batch: int
) -> Iterator[torch.Tensor]:
    """uint8 ``[N, 3, H, W]`` batches of this process's share of ``num_frames`` generated frames."""
    if is_generator(fake):
        n_mine = sources.quota(num_frames, ctx.rank, ctx.world_size)
        remaining = n_mine
        with sources.eval_mode(fake):
            for clips in sources.generated_clips(
                fake,
                num_videos=math.ceil(n_mine / clip_length),
                times=list(range(clip_length)),
                batch_size=max(1, batch // clip_length),
                generator=ctx.torch_generator(),
                device=ctx.device,
            ):
                frames = rearrange(clips, "b c t h w -> (b t) c h w")[:remaining]  # [B*T, 3, H, W]
                remaining -= frames.shape[0]
                yield from frames.split(batch)
    elif is_dataset(fake):
        yield from frame_batches(fake, first_frames(fake, num_frames), ctx, batch)
    else:
        raise TypeError(f"'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}")


def fake_clip_batches(
    fake: Any, ctx: EvalContext, *, num_videos: int, num_frames: int, batch: int
) -> Iterator[torch.Tensor]:
    """uint8 ``[B, 3, T, H, W]`` batches of this process's share of ``num_videos`` generated clips (frames 0..T-1)."""
    if is_generator(fake):
        with sources.eval_mode(fake):
            yield from sources.generated_clips(
                fake,
                num_videos=sources.quota(num_videos, ctx.rank, ctx.world_size),
                times=list(range(num_frames)),
                batch_size=batch,
                generator=ctx.torch_generator(),
                device=ctx.device,
            )
    elif is_dataset(fake):
        clips = sources.select_folder_clips(
            fake, num_videos=num_videos, num_frames=num_frames, mode=ctx.mode
        )  # official mode refuses short videos
        clips = sources.shard(clips, ctx.rank, ctx.world_size)
        yield from sources.iter_dataset_batches(
            fake, clips, batch_size=batch, device=ctx.device, num_threads=ctx.num_threads
        )
    else:
        raise TypeError(f"'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}")


def features_of(detector, batches: Iterator[torch.Tensor], ctx: EvalContext) -> np.ndarray:
    """All detector outputs for ``batches``, every process's rows concatenated (float32, as the official
    FeatureStats keeps them)."""
    return gather_rows([detector(b).float().cpu() for b in batches], detector.feature_dim, ctx)


def feature_slots(detector, batches: Iterator[torch.Tensor], ctx: EvalContext) -> torch.Tensor:
    """This process's detector outputs in its slots (``row_slots``): for ``ctx.cached_real``, which does the one sum."""
    return row_slots([detector(b).float().cpu() for b in batches], detector.feature_dim, ctx)


def sample_protocol(detector, ctx: EvalContext, *, fake: Any, direction: str, **fields: Any) -> dict[str, Any]:
    """Protocol fields every per-sample metric records."""
    return {
        **fields,
        **detector_protocol(detector),
        "mode": ctx.mode,
        "seed": ctx.seed,
        "direction": direction,
        "fake_source": "generator" if is_generator(fake) else "videos",
        "world_size": ctx.world_size,
    }
