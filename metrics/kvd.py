"""Kernel Video Distance as DIGAN, TGANv2 and TATS report it (``kvd<N>_<T>f``).

KVD is the unbiased MMD² between the I3D features of N generated and N real clips under scikit-learn's
``polynomial_kernel`` with its defaults, k(x, y) = (γ x·y + c)^p with p = 3, γ = 1/d, c = 1:

    KVD = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (n(n-1)) - 2 Σ_{i,j} k(x_i, y_j) / (mn)

Subset rule and scale (DIGAN ``src/scripts/compute_fvd_kvd.py``, TATS the same): **no subsets**, one estimate
over all videos of both sides (unlike KID, which averages 100 subsets of 1000), and **no rescaling** (the raw
MMD², unlike KID's ×10³ in some image papers). DIGAN repeats the draw 10 times with fresh real clips and
reports mean ± std: ``num_runs=10``. Features: the 400-d logits of DIGAN's I3D (``i3d_videogpt``: VideoGPT's
``i3d_pretrained_400.pt``, generated frames truncated to uint8 as DIGAN does); ``detector=i3d`` gives
StyleGAN-V's. Real clips: one random-offset clip from each of the first N videos of at least T frames (FVD's
rule, ``metrics.sources``); fake clips: frames 0..T-1. Kernel sums in float64 (``mode="official"``: float32,
as scikit-learn computes on DIGAN's float32 features), in row blocks so any N fits in bounded memory.
Lower is better; the unbiased estimate may be slightly negative when both sides match.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from registry import METRICS

from . import samples, sources
from .base import (
    EvalContext,
    Metric,
    MetricOutput,
    check_same_resolution,
    is_dataset,
    is_generator,
    name_pattern,
    parse_count,
    preset,
)
from .fvd import default_batch_size

_BLOCK_ELEMENTS = 1 << 24  # kernel entries per block (128 MB in float64)


def polynomial_kernel_sums(
    x: np.ndarray, y: np.ndarray, *, degree: int, gamma: float, coef0: float, same: bool
) -> tuple[float, float]:
    """(Σ_ij k(x_i, y_j), Σ_i k(x_i, y_i)) in row blocks; the second is the diagonal, used when ``same``."""
    rows = max(1, _BLOCK_ELEMENTS // max(1, y.shape[0]))
    total = x.dtype.type(0)
    diag = x.dtype.type(0)
    for start in range(0, x.shape[0], rows):
        block = (x[start : start + rows] @ y.T * gamma + coef0) ** degree
        total += block.sum()
        if same:
            diag += np.diagonal(block, offset=start).sum()
    return float(total), float(diag)


def polynomial_mmd2(
    x: np.ndarray,
    y: np.ndarray,
    *,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    dtype=np.float64,
) -> float:
    """Unbiased MMD² of all rows of ``x`` [m, d] against all rows of ``y`` [n, d] with the polynomial kernel
    (γ = 1/d by default, scikit-learn's ``polynomial_kernel`` defaults)."""
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KVD needs two [N, d] feature sets of one width, got {x.shape} and {y.shape}")
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"KVD needs at least 2 videos per side, have {m} generated and {n} real")
    gamma = 1.0 / x.shape[1] if gamma is None else float(gamma)
    kw = {"degree": degree, "gamma": dtype(gamma), "coef0": dtype(coef0)}
    kxx, dxx = polynomial_kernel_sums(x, x, same=True, **kw)
    kyy, dyy = polynomial_kernel_sums(y, y, same=True, **kw)
    kxy, _ = polynomial_kernel_sums(x, y, same=False, **kw)
    return (kxx - dxx) / (m * (m - 1)) + (kyy - dyy) / (n * (n - 1)) - 2 * kxy / (m * n)


def select_real(ctx: EvalContext, metric: str, real: Any, *, num_videos: int, num_frames: int) -> list[sources.Clip]:
    """FVD's real clips: one random-offset clip from each of the first ``num_videos`` long-enough videos (counted)."""
    clips = sources.select_real_clips(real, num_videos=num_videos, num_frames=num_frames, seed=ctx.seed, mode=ctx.mode)
    ctx.check_count(metric, "real videos", num_videos, len(clips))
    return clips


def clip_rows(ctx: EvalContext, detector, dataset: Any, clips: list[sources.Clip], batch: int):
    """This process's share of the detector rows of ``clips``, in its slots (``samples.row_slots``)."""
    mine = sources.shard(clips, ctx.rank, ctx.world_size)
    rows = [f.float().cpu() for f in ctx.dataset_features(detector, dataset, mine, batch_size=batch)]
    return samples.row_slots(rows, detector.feature_dim, ctx)


def fake_clip_features(
    ctx: EvalContext, metric: str, fake: Any, detector, *, num_videos: int, num_frames: int, batch: int
) -> np.ndarray:
    """Detector rows of ``num_videos`` fake clips of frames 0..T-1 (a generator's quantised as the detector's
    backbone expects; a folder's first long-enough videos), every process's rows in rank order."""
    if is_generator(fake):
        with sources.eval_mode(fake):
            batches = sources.generated_clips(
                fake,
                num_videos=sources.quota(num_videos, ctx.rank, ctx.world_size),
                times=list(range(num_frames)),
                batch_size=batch,
                generator=ctx.torch_generator(),
                device=ctx.device,
                quantization=detector.fake_quantization,
            )
            return samples.features_of(detector, batches, ctx)
    if is_dataset(fake):
        clips = sources.select_folder_clips(fake, num_videos=num_videos, num_frames=num_frames, mode=ctx.mode)
        ctx.check_count(metric, "fake videos", num_videos, len(clips))
        mine = sources.shard(clips, ctx.rank, ctx.world_size)
        rows = [f.float().cpu() for f in ctx.dataset_features(detector, fake, mine, batch_size=batch)]
        return samples.gather_rows(rows, detector.feature_dim, ctx)
    raise TypeError(f"{metric}: 'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}")


def clip_feature_sets(metric: Any, ctx: EvalContext, fake: Any, real: Any, *, family: str):
    """``(detector, fake rows, real rows, real cache hit)`` for a kernel estimator that needs every clip's row (KVD,
    JEDi): one random-offset clip per real video (rows cached with the real statistics under ``family``) and
    ``metric.num_videos`` fake clips of frames 0..T-1. ``metric`` gives its name, counts, detector and stand-in size."""
    if not is_dataset(real):
        raise TypeError(f"{metric.name}: 'real' must be a VideoDataset, got {type(real).__name__}")
    check_same_resolution(metric.name, fake, real)
    detector = ctx.detector(
        metric.detector_spec, stand_in_resolution=metric.stand_in_resolution, metric=metric.name, video=True
    )
    batch = ctx.batch_size or default_batch_size(real.resolution, metric.num_frames)
    real_clips = select_real(ctx, metric.name, real, num_videos=metric.num_videos, num_frames=metric.num_frames)

    def real_rows() -> dict:
        return {"features": clip_rows(ctx, detector, real, real_clips, batch)}

    fields = {
        "metric": family,
        "fingerprint": real.fingerprint(),
        "clips": [(c.video, c.frames[0]) for c in real_clips],
        "num_frames": metric.num_frames,
        "mode": ctx.mode,
        "seed": ctx.seed,
        "detector": detector.identity,
    }
    real_state, cache_hit = ctx.cached_real(f"{metric.name}-real", fields, real_rows)
    real_features = np.asarray(real_state["features"], np.float32)
    fake_features = fake_clip_features(
        ctx, metric.name, fake, detector, num_videos=metric.num_videos, num_frames=metric.num_frames, batch=batch
    )
    return detector, fake_features, real_features, cache_hit


@METRICS.register("kvd")
class KVD(Metric):
    """KVD of ``num_videos`` generated clips of ``num_frames`` frames against as many real clips."""

    PROTOCOL_VERSION = 1
    direction = "lower"
    value_range = (None, None)  # the unbiased MMD² estimate is negative when both sides match

    def __init__(
        self,
        num_videos: int = 2048,
        num_frames: int = 16,
        detector: Any = "i3d_videogpt",
        stand_in_resolution: int | None = None,
    ):
        if num_videos < 2 or num_frames < 1:
            raise ValueError(f"kvd needs num_videos >= 2 and num_frames >= 1; got {num_videos}, {num_frames}")
        self.num_videos, self.num_frames = int(num_videos), int(num_frames)
        self.detector_spec, self.stand_in_resolution = detector, stand_in_resolution
        self.name = f"kvd{self.num_videos}_{self.num_frames}f"

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        detector, fake_features, real_features, cache_hit = clip_feature_sets(self, ctx, fake, real, family="kvd")
        dtype = np.float32 if ctx.official else np.float64
        value = polynomial_mmd2(fake_features, real_features, dtype=dtype)
        protocol = samples.sample_protocol(
            detector,
            ctx,
            fake=fake,
            direction=self.direction,
            num_real=len(real_features),
            num_fake=len(fake_features),
            frames=self.num_frames,
            kernel="(x.y/d+1)^3",
            estimator="unbiased MMD^2 over all videos (no subsets, no scaling)",
            resolution=int(real.resolution),
            real_cache_hit=cache_hit,
            fake_quantization=detector.fake_quantization,
            precision=np.dtype(dtype).name,
        )
        return MetricOutput(value=value, results={self.name: value}, protocol=protocol)


@name_pattern(r"kvd(\d+k?)_(\d+)f")
def _kvd_from_name(match, **kwargs) -> KVD:
    return KVD(num_videos=parse_count(match.group(1)), num_frames=int(match.group(2)), **kwargs)


preset("kvd2048_16f", KVD, num_videos=2048, num_frames=16)
