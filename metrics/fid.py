"""Fréchet Inception Distance over video frames, as StyleGAN-V computes ``fid50k_full``.

``fid<N>_full``: Inception 2048-d pool features of every frame of every real video against N generated
frames. From a generator the frames come from 16-frame clips starting at t = 0 (ceil(N/16) videos, the
last one cut); from a folder they are the first N frames in (video, frame) order. ``fid<N>`` (no
``_full``) takes N real frames spread evenly over all real frames instead of all of them, for quick runs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from einops import rearrange

from registry import METRICS

from . import sources
from .base import (
    EvalContext,
    Metric,
    MetricOutput,
    accumulate,
    check_same_resolution,
    frechet_output,
    is_dataset,
    is_generator,
    name_pattern,
    parse_count,
    preset,
    real_statistics,
    stat_tensors,
)
from .stats import FeatureStats

# StyleGAN-V: NUM_FRAMES_IN_BATCH for FID = {128: 32, 256: 32, 512: 8, 1024: 2} frames per call on one GPU.
_FRAMES_PER_BATCH = {128: 32, 256: 32, 512: 8, 1024: 2}
CLIP_LENGTH = 16


def _format_count(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


@METRICS.register("fid")
class FID(Metric):
    """FID of ``num_fake`` generated frames against all real frames (``full``) or ``num_fake`` of them."""

    # v2: detector inputs made contiguous, as the official code passes them (features bit-equal; ~1e-7 before)
    PROTOCOL_VERSION = 2
    shares_real_statistics = True
    value_range = (0.0, None)

    def __init__(
        self,
        num_fake: int = 50000,
        full: bool = True,
        clip_length: int = CLIP_LENGTH,
        detector: Any = "inception",
        stand_in_resolution: int | None = None,
    ):
        if num_fake < 2:
            raise ValueError(f"fid needs num_fake >= 2, got {num_fake}")
        self.num_fake, self.full, self.clip_length = int(num_fake), bool(full), int(clip_length)
        self.detector_spec, self.stand_in_resolution = detector, stand_in_resolution
        self.name = f"fid{_format_count(self.num_fake)}" + ("_full" if self.full else "")

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        check_same_resolution(self.name, fake, real)
        detector = ctx.detector(
            self.detector_spec, stand_in_resolution=self.stand_in_resolution, metric=self.name, video=False
        )
        batch = ctx.batch_size or next((v for r, v in sorted(_FRAMES_PER_BATCH.items()) if real.resolution <= r), 2)

        def frame_features(dataset, clips):
            for frames in sources.iter_dataset_frame_batches(
                dataset, clips, batch_size=batch, device=ctx.device, num_threads=ctx.num_threads
            ):
                yield detector(frames)

        def real_side() -> tuple[dict, bool]:
            real_clips = sources.select_all_frames(real, max_frames=None if self.full else self.num_fake)
            if not self.full:
                ctx.check_count(self.name, "real frames", self.num_fake, sum(len(c.frames) for c in real_clips))

            def real_sums() -> dict[str, torch.Tensor]:
                mine = sources.shard(real_clips, ctx.rank, ctx.world_size)
                return stat_tensors(accumulate(frame_features(real, mine), detector.feature_dim, ctx.device))

            fields = {
                "metric": "fid",
                "fingerprint": real.fingerprint(),
                "full": self.full,
                "num": None if self.full else self.num_fake,
                "mode": ctx.mode,
                "detector": detector.identity,
                "covariance": ctx.covariance,
            }
            return ctx.cached_real(f"{self.name}-real", fields, real_sums)

        real_state, cache_hit = real_statistics(ctx, self, real, detector, real_side)
        real_stats = FeatureStats.from_state_dict(real_state)

        fake_stats = FeatureStats(detector.feature_dim, device=ctx.device)
        if is_generator(fake):
            n_mine = sources.quota(self.num_fake, ctx.rank, ctx.world_size)
            videos_per_batch = max(1, batch // self.clip_length)
            remaining = n_mine
            with sources.eval_mode(fake):
                for clips in sources.generated_clips(
                    fake,
                    num_videos=math.ceil(n_mine / self.clip_length),
                    times=list(range(self.clip_length)),
                    batch_size=videos_per_batch,
                    generator=ctx.torch_generator(),
                    device=ctx.device,
                ):
                    frames = rearrange(clips, "b c t h w -> (b t) c h w")[:remaining]
                    remaining -= frames.shape[0]
                    for i in range(0, frames.shape[0], batch):
                        fake_stats.update(detector(frames[i : i + batch]))
            fake_desc = "generator"
        elif is_dataset(fake):
            frames_needed, clips = self.num_fake, []
            for i in range(len(fake)):
                take = min(fake.video_length(i), frames_needed)
                if take > 0:
                    clips.append(sources.Clip(i, tuple(range(take))))
                frames_needed -= take
                if frames_needed == 0:
                    break
            ctx.check_count(self.name, "fake frames", self.num_fake, self.num_fake - frames_needed)
            mine = sources.shard(clips, ctx.rank, ctx.world_size)
            # the same frames in every run: computed once per evaluation
            fake_stats = ctx.memoize(
                ("fid-fake", id(fake), tuple(mine), detector.identity),
                lambda: accumulate(frame_features(fake, mine), detector.feature_dim, ctx.device),
            )
            fake_stats = FeatureStats.from_state_dict(fake_stats.state_dict())
            fake_desc = "videos"
        else:
            raise TypeError(
                f"{self.name}: 'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}"
            )
        fake_stats.all_reduce()

        return frechet_output(
            self.name,
            fake_stats,
            real_stats,
            ctx=ctx,
            detector=detector,
            resolution=real.resolution,
            fake_source=fake_desc,
            real_cache_hit=cache_hit,
            frames=1,
            subsample=1,
            fake_clip_length=self.clip_length if fake_desc == "generator" else None,
        )


@name_pattern(r"fid(\d+k?)(_full)?")
def _fid_from_name(match, **kwargs) -> FID:
    return FID(num_fake=parse_count(match.group(1)), full=bool(match.group(2)), **kwargs)


preset("fid50k_full", FID, num_fake=50000, full=True)
