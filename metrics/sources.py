"""Which videos and frames a protocol takes, and streaming them to the detector as uint8 batches.

Selection rules (shared by every metric; see the metric modules for which rule they use):
  * real clips: the first ``num_videos`` videos (dataset order = sorted by name) that have at least
    ``num_frames * subsample`` frames, one clip each at a random offset (StyleGAN-V's
    ``discard_short_videos`` + random-offset loading). ``mode="official"`` draws offsets with a seeded
    Python ``random.Random`` in selection order; ``mode="default"`` seeds each video's offset from
    (seed, video index) so a selection never depends on what else is selected or how work is split.
  * fake clips from a folder: the first ``num_videos`` long-enough videos, frames ``0, s, ..., (n-1)s``.
  * fake clips from a generator: times ``0, s, ..., (n-1)s`` (every clip starts at t = 0), content and
    motion drawn from a per-process seeded ``torch.Generator``, rendered chunk by chunk.
Generated frames are quantised exactly as the official code does: ``(x * 127.5 + 128).clamp(0, 255).to(uint8)``.
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from einops import rearrange

from registry.interfaces import VideoGenerator

from .generation import fit_batch_to_memory, sampling_autocast

MODES = ("default", "official")
# How real clips' offsets are drawn and generated frames quantised, per mode (part of every protocol id).
OFFSET_RULES = {
    "official": "python-random(seed) in selection order",
    "default": "numpy SeedSequence(seed, video index)",
}
QUANTISATION = "(x*127.5+128).clamp(0,255).uint8"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"metric mode must be one of {MODES}, got {mode!r}")
    return mode


def quantize(x: torch.Tensor, rule: str = "round") -> torch.Tensor:
    """[-1, 1] float -> uint8. ``round``: StyleGAN-V's metric code (round half up, no truncation bias);
    ``truncate``: DIGAN/TATS-style ``((x + 1) / 2 * 255).to(uint8)`` (clamped first: out-of-range casts are
    undefined)."""
    if rule == "truncate":
        return ((x + 1) / 2 * 255).clamp(0, 255).to(torch.uint8)
    return (x * 127.5 + 128).clamp(0, 255).to(torch.uint8)


@dataclasses.dataclass(frozen=True)
class Clip:
    """Frames ``frames`` of video ``video`` (indices into the dataset)."""

    video: int
    frames: tuple[int, ...]


def _eligible(dataset, min_length: int, limit: int | None, what: str, refuse_short: bool = False) -> list[int]:
    chosen, skipped = [], []
    for i in range(len(dataset)):
        if dataset.video_length(i) >= min_length:
            chosen.append(i)
            if limit is not None and len(chosen) >= limit:
                break
        else:
            skipped.append(i)
    if skipped and refuse_short:
        names = [_video_name(dataset, i) for i in skipped]
        shown = ", ".join(f"'{n}' ({dataset.video_length(i)})" for n, i in zip(names[:5], skipped)) + (
            f" and {len(names) - 5} more" if len(names) > 5 else ""
        )
        raise ValueError(
            f"{what}: {len(skipped)} video(s) in {_describe(dataset)} are shorter than the {min_length} frames "
            "this protocol needs "
            f"(mode=official refuses them, as the official code fails on them): {shown}"
        )
    if not chosen:
        raise ValueError(
            f"{what}: no video in {_describe(dataset)} has the {min_length} frames this protocol needs "
            f"({len(dataset)} videos)"
        )
    if skipped:
        warnings.warn(
            f"{what}: skipped {len(skipped)} video(s) shorter than {min_length} frames in {_describe(dataset)}",
            RuntimeWarning,
            stacklevel=3,
        )
    return chosen


def _video_name(dataset, i: int) -> str:
    return dataset.video_name(i) if callable(getattr(dataset, "video_name", None)) else str(i)


def _describe(dataset) -> str:
    return f"{type(dataset).__name__}({getattr(dataset, 'path', '') or ''})"


def select_real_clips(
    dataset, *, num_videos: int, num_frames: int, subsample: int = 1, seed: int = 0, mode: str = "default"
) -> list[Clip]:
    """One random-offset clip from each of the first ``num_videos`` long-enough videos."""
    check_mode(mode)
    span = num_frames * subsample
    videos = _eligible(dataset, span, num_videos, "real clips")
    py_rng = random.Random(seed)
    clips = []
    for i in videos:
        max_offset = dataset.video_length(i) - (num_frames - 1) * subsample - 1  # last frame index stays < length
        if mode == "official":
            offset = py_rng.randint(0, max_offset)
        else:
            offset = int(np.random.default_rng([seed, i]).integers(0, max_offset + 1))
        clips.append(Clip(i, tuple(range(offset, offset + span, subsample))))
    return clips


def select_folder_clips(
    dataset, *, num_videos: int, num_frames: int, subsample: int = 1, mode: str = "default"
) -> list[Clip]:
    """Generated videos stored as files: frames 0, s, ..., (n-1)s of the first ``num_videos`` long-enough videos.

    Too-short videos are skipped with a warning; ``mode="official"`` refuses them, naming them.
    """
    videos = _eligible(
        dataset, num_frames * subsample, num_videos, "fake videos", refuse_short=check_mode(mode) == "official"
    )
    return [Clip(i, tuple(range(0, num_frames * subsample, subsample))) for i in videos]


def select_all_frames(dataset, *, max_frames: int | None = None) -> list[Clip]:
    """Every frame of every video (FID's ``_full``); with ``max_frames``, that many spread evenly over the
    whole list."""
    lengths = [dataset.video_length(i) for i in range(len(dataset))]
    total = int(sum(lengths))
    if total == 0:
        raise ValueError(f"{_describe(dataset)} has no frames")
    if max_frames is None or max_frames >= total:
        return [Clip(i, tuple(range(n))) for i, n in enumerate(lengths) if n > 0]
    picks = np.unique(np.linspace(0, total - 1, max_frames).round().astype(np.int64))
    starts = np.cumsum([0, *lengths])
    clips = []
    for i in range(len(lengths)):
        inside = picks[(picks >= starts[i]) & (picks < starts[i + 1])] - starts[i]
        if len(inside):
            clips.append(Clip(i, tuple(int(f) for f in inside)))
    return clips


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """Interleaved shard: rank r takes items r, r + W, r + 2W, ..."""
    return list(items[rank::world_size])


def quota(total: int, rank: int, world_size: int) -> int:
    """Exact per-process share of ``total`` items (the first ``total % W`` ranks take one more)."""
    return total // world_size + (1 if rank < total % world_size else 0)


def iter_dataset_batches(
    dataset, clips: Sequence[Clip], *, batch_size: int, device: torch.device, num_threads: int = 4
) -> Iterator[torch.Tensor]:
    """uint8 ``[B, 3, T, H, W]`` batches of equally long clips, read ahead in threads, moved to ``device``."""

    def read(clip: Clip) -> torch.Tensor:
        frames = dataset.read_frames(clip.video, list(clip.frames))
        if (
            frames.dtype != torch.uint8
            or frames.ndim != 4
            or frames.shape[-1] != 3
            or frames.shape[0] != len(clip.frames)
        ):
            raise ValueError(
                f"{_describe(dataset)}.read_frames({clip.video}, ...) must return uint8 [{len(clip.frames)}, H, W, 3], "
                f"got {frames.dtype} {tuple(frames.shape)}"
            )
        return frames

    batches = [clips[i : i + batch_size] for i in range(0, len(clips), batch_size)]
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        pending = [pool.map(read, b) for b in batches[:2]]
        for k in range(len(batches)):
            videos = torch.stack(list(pending.pop(0)))  # [B, T, H, W, C]
            if k + 2 < len(batches):
                pending.append(pool.map(read, batches[k + 2]))
            yield rearrange(videos, "b t h w c -> b c t h w").to(device, non_blocking=True)


def iter_dataset_frame_batches(
    dataset, clips: Sequence[Clip], *, batch_size: int, device: torch.device, num_threads: int = 4
) -> Iterator[torch.Tensor]:
    """uint8 ``[N, 3, H, W]`` frame batches (for image detectors), frames of clips of any length."""
    pieces = [Clip(c.video, c.frames[i : i + batch_size]) for c in clips for i in range(0, len(c.frames), batch_size)]
    buffer: list[torch.Tensor] = []
    count = 0
    for piece in iter_dataset_batches(dataset, pieces, batch_size=1, device=device, num_threads=num_threads):
        frames = rearrange(piece, "1 c t h w -> t c h w")
        buffer.append(frames)
        count += frames.shape[0]
        while count >= batch_size:
            joined = torch.cat(buffer)
            yield joined[:batch_size]
            rest = joined[batch_size:]
            buffer, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield torch.cat(buffer)


def process_seed(seed: int, rank: int, world_size: int) -> int:
    """Seed of one process's fake-sample generator: distinct per (seed, rank, world size)."""
    return int(np.random.SeedSequence([seed, world_size, rank]).generate_state(1)[0])


@torch.no_grad()
def iter_generated(
    G: VideoGenerator,
    *,
    num_videos: int,
    times: Sequence[float],
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    chunk_size: int = 16,
    truncation_psi: float = 1.0,
    quantization: str = "round",
) -> Iterator[Iterator[torch.Tensor]]:
    """For each batch of videos, an iterator over its uint8 chunks ``[B, 3, t, H, W]`` (constant memory in T)."""
    g_device = next((p.device for p in G.parameters()), device)  # render where G lives; frames then go to ``device``
    batch_size = fit_batch_to_memory(G, requested=batch_size, frames=min(chunk_size, len(times)), device=g_device)
    times_t = torch.as_tensor(np.asarray(times, dtype=np.float32), device=g_device)
    done = 0
    while done < num_videos:
        b = min(batch_size, num_videos - done)
        z = G.sample_z(b, generator=generator, device=g_device)
        t = times_t.unsqueeze(0).expand(b, -1).contiguous()  # [B, T]

        @torch.no_grad()
        def chunks(z=z, t=t) -> Iterator[torch.Tensor]:
            frames = G.iter_frames(z, t, chunk_size=chunk_size, truncation_psi=truncation_psi, generator=generator)
            while (piece := _next_sampled(frames, g_device)) is not None:
                if piece.ndim != 5 or piece.shape[2] != 3:
                    raise ValueError(
                        f"{type(G).__name__}.iter_frames must yield [B, t, 3, H, W], got {tuple(piece.shape)}"
                    )
                yield rearrange(quantize(piece.float().to(device), quantization), "b t c h w -> b c t h w")

        yield chunks()
        done += b


def _next_sampled(frames: Iterator[torch.Tensor], device: torch.device) -> torch.Tensor | None:
    with sampling_autocast(device):  # bf16 on CUDA; quantised from float32 with the official formula
        return next(frames, None)


def generated_clips(G: VideoGenerator, **kwargs) -> Iterator[torch.Tensor]:
    """Whole uint8 clips ``[B, 3, T, H, W]`` (the detector needs the full clip; uint8 keeps it small)."""
    for chunks in iter_generated(G, **kwargs):
        yield torch.cat(list(chunks), dim=2)


class eval_mode:
    """Context manager: module in eval mode, previous mode restored afterwards."""

    def __init__(self, module: torch.nn.Module):
        self.module = module

    def __enter__(self):
        self.was_training = self.module.training
        self.module.eval()
        return self.module

    def __exit__(self, *exc):
        self.module.train(self.was_training)
        return False
