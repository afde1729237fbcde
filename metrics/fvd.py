"""Fréchet Video Distance with StyleGAN-V's protocol.

``fvd<N>_<T>f[_subsample<S>f]``: I3D 400-d logits of clips of T/S frames spaced S apart (spanning T
frames). Real: one random-offset clip from each of the first min(N, #eligible) videos of at least T
frames, in sorted order. Fake: N clips at t = 0, S, 2S, ... from a generator, or the first T frames
(every S-th) of the first N long-enough videos of a folder. Fewer than N videos on either side: refused in
the default mode unless ``allow_fewer``; ``mode="official"`` keeps min(N, found) as StyleGAN-V does and
records it. Statistics: float64 sums; covariance 1/N in ``mode="official"`` (StyleGAN-V) and 1/(N-1)
otherwise. Real statistics are cached, or come from a reference file (``sgvb stats``).
"""

from __future__ import annotations

from typing import Any

import torch

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

# StyleGAN-V: NUM_FRAMES_IN_BATCH[resolution] // num_frames videos per detector call.
_FRAMES_PER_BATCH = {128: 128, 256: 128, 512: 64, 1024: 32}


def default_batch_size(resolution: int, num_frames: int) -> int:
    budget = next((v for r, v in sorted(_FRAMES_PER_BATCH.items()) if resolution <= r), 32)
    return max(1, budget // num_frames)


@METRICS.register("fvd")
class FVD(Metric):
    """FVD of ``num_videos`` clips of ``num_frames`` frames taken every ``subsample`` frames."""

    # v2: i3d_pytorch / i3d_videogpt run BatchNorm eps 1e-5 (the PyTorch I3D that published numbers), not TF's 1e-3;
    # and every detector's input is made contiguous (official-mode features bit-equal to the official code's)
    PROTOCOL_VERSION = 2
    shares_real_statistics = True
    value_range = (0.0, None)

    def __init__(
        self,
        num_videos: int = 2048,
        num_frames: int = 16,
        subsample: int = 1,
        detector: Any = "i3d",
        stand_in_resolution: int | None = None,
    ):
        if num_videos < 2 or num_frames < 1 or subsample < 1:
            raise ValueError(
                "fvd needs num_videos >= 2, num_frames >= 1, subsample >= 1; "
                f"got {num_videos}, {num_frames}, {subsample}"
            )
        self.num_videos, self.num_frames, self.subsample = int(num_videos), int(num_frames), int(subsample)
        self.detector_spec, self.stand_in_resolution = detector, stand_in_resolution
        span = self.num_frames * self.subsample
        self.name = f"fvd{self.num_videos}_{span}f" + (f"_subsample{self.subsample}f" if self.subsample > 1 else "")

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        check_same_resolution(self.name, fake, real)
        detector = ctx.detector(
            self.detector_spec, stand_in_resolution=self.stand_in_resolution, metric=self.name, video=True
        )
        batch = ctx.batch_size or default_batch_size(real.resolution, self.num_frames)

        def real_side() -> tuple[dict, bool]:
            if not is_dataset(real):
                raise TypeError(f"{self.name}: 'real' must be a VideoDataset, got {type(real).__name__}")
            real_clips = sources.select_real_clips(
                real,
                num_videos=self.num_videos,
                num_frames=self.num_frames,
                subsample=self.subsample,
                seed=ctx.seed,
                mode=ctx.mode,
            )
            ctx.check_count(self.name, "real videos", self.num_videos, len(real_clips))

            def real_sums() -> dict[str, torch.Tensor]:
                mine = sources.shard(real_clips, ctx.rank, ctx.world_size)
                return stat_tensors(
                    accumulate(
                        ctx.dataset_features(detector, real, mine, batch_size=batch), detector.feature_dim, ctx.device
                    )
                )

            fields = {
                "metric": "fvd",
                "fingerprint": real.fingerprint(),
                "clips": [(c.video, c.frames[0]) for c in real_clips],
                "num_frames": self.num_frames,
                "subsample": self.subsample,
                "mode": ctx.mode,
                "seed": ctx.seed,
                "detector": detector.identity,
                "covariance": ctx.covariance,
            }
            return ctx.cached_real(f"{self.name}-real", fields, real_sums)

        real_state, cache_hit = real_statistics(ctx, self, real, detector, real_side)
        real_stats = FeatureStats.from_state_dict(real_state)

        times = [i * self.subsample for i in range(self.num_frames)]
        if is_generator(fake):
            fake_stats = FeatureStats(detector.feature_dim, device=ctx.device)
            n_mine = sources.quota(self.num_videos, ctx.rank, ctx.world_size)
            with sources.eval_mode(fake):
                for clips in sources.generated_clips(
                    fake,
                    num_videos=n_mine,
                    times=times,
                    batch_size=batch,
                    generator=ctx.torch_generator(),
                    device=ctx.device,
                    quantization=detector.fake_quantization,
                ):
                    fake_stats.update(detector(clips))
            fake_desc = "generator"
        elif is_dataset(fake):
            fake_clips = sources.select_folder_clips(
                fake, num_videos=self.num_videos, num_frames=self.num_frames, subsample=self.subsample, mode=ctx.mode
            )
            ctx.check_count(self.name, "fake videos", self.num_videos, len(fake_clips))
            mine = sources.shard(fake_clips, ctx.rank, ctx.world_size)
            fake_stats = accumulate(
                ctx.dataset_features(detector, fake, mine, batch_size=batch), detector.feature_dim, ctx.device
            )
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
            frames=self.num_frames,
            subsample=self.subsample,
        )


@name_pattern(r"fvd(\d+k?)_(\d+)f(?:_subsample(\d+)f)?")
def _fvd_from_name(match, **kwargs) -> FVD:
    num_videos, span, sub = parse_count(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    if span % sub:
        raise ValueError(f"metric '{match.group(0)}': span {span} is not a multiple of the subsample factor {sub}")
    return FVD(num_videos=num_videos, num_frames=span // sub, subsample=sub, **kwargs)


preset("fvd2048_16f", FVD, num_videos=2048, num_frames=16)
preset("fvd2048_128f", FVD, num_videos=2048, num_frames=128)
preset("fvd2048_128f_subsample8f", FVD, num_videos=2048, num_frames=16, subsample=8)
