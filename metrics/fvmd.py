"""Fréchet Video Motion Distance (Liu et al. 2024), equal to the reference package ``fvmd`` 1.0.0.

``fvmd<N>_<T>f`` (the paper's setting: ``fvmd2048_16f``; T = 16 is what the reference code runs):

1. **Keypoints.** Each clip of T frames is resized (shorter side to 256, bilinear with antialiasing, rounded to
   uint8, as the reference's ``torchvision.transforms.Resize``) and 400 points on a 20 x 20 grid, 8 pixels in
   from the border, are tracked through it by PIPs++ (``metrics/pips.py``; 16 refinement steps).
2. **Motion fields.** Velocity: frame-to-frame displacement, frame 0 zero. "Acceleration": what the reference's
   ``tracking_fullseq`` computes, which passes the *trajectories* (not the velocities) to its acceleration
   function, so the field is the displacement between frames t-1 and t for t >= 2 and zero at frames 0 and 1
   (the velocity with frame 1 zeroed, not a second difference). The published numbers come from that code, so
   this is the definition here too.
3. **Histograms.** Each field ``[T, 20, 20, 2]`` is cut into cubes of 4 frames x 5 x 5 points (T/4 x 4 x 4 cubes);
   in a cube every vector adds ``ceil(log2(min(|v|, 255) + 1)) / 8`` to one of 8 direction bins,
   ``floor((atan2(v_x, v_y) + pi) / (pi / 4))`` (angle from the y axis, as the reference's argument order).
   Feature: velocity then acceleration histograms, each in (time cube, row, column, bin) order: 1024-d at T = 16.
4. **Distance.** Fréchet distance of the two feature sets with the reference estimator: means, covariances
   with 1/(N-1) (``np.cov``), and ``tr sqrt((Σ1 + εI)(Σ2 + εI))``, ε = 1e-5, in the cross term only.
   ``mode="official"``: ``scipy.linalg.sqrtm`` as the reference; default: the symmetric-eigenvalue method of
   ``metrics.stats`` (same value to rounding).

Clips: one per video, FVD's rule (``metrics.sources``: real clips at a random offset in the first N videos
of at least T frames, fake clips frames 0..T-1). The reference takes every T-frame window (stride 1) of every
video: for videos of exactly T frames, as in the paper's evaluations, the two rules give the same clips.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from registry import METRICS
from registry.interfaces import Detector

from . import sources
from .base import (
    EvalContext,
    Metric,
    MetricOutput,
    accumulate,
    check_same_resolution,
    detector_protocol,
    is_dataset,
    is_generator,
    name_pattern,
    parse_count,
    preset,
    real_statistics,
    stat_tensors,
)
from .pips import PIPsPlusPlus, grid_points
from .stats import FeatureStats, trace_sqrt_product

INPUT_SIZE = 256  # the reference resizes the shorter side to 256
GRID_SIDE = 20  # 20 x 20 = 400 tracked points
GRID_MARGIN = 8  # pixels between the outer points and the border
TRACK_ITERS = 16
CUBE_FRAMES, CELL = 4, 5  # a histogram cube: 4 frames x 5 x 5 points
ANGLE_BINS = 8
MAGNITUDE_BINS = 256  # magnitudes clipped to 255 px, weights in 1/8 steps (log2 256 = 8)
FRECHET_EPS = 1e-5


def feature_dim(num_frames: int) -> int:
    """Histogram length of a clip: 2 fields x (T/4) x 4 x 4 cubes x 8 bins (1024 at T = 16)."""
    return 2 * (num_frames // CUBE_FRAMES) * (GRID_SIDE // CELL) ** 2 * ANGLE_BINS


def resize_shorter_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, 3, H, W]`` -> uint8 with the shorter side ``size``, as ``torchvision.transforms.Resize(size)``
    on uint8 tensors (bilinear, antialiased, half-pixel centres, rounded)."""
    h, w = frames.shape[-2:]
    short, long = min(h, w), max(h, w)
    new_long = int(size * long / short)
    out_size = (size, new_long) if h <= w else (new_long, size)
    if (h, w) == out_size:
        return frames
    x = F.interpolate(frames.float(), size=out_size, mode="bilinear", align_corners=False, antialias=True)
    return torch.round(x).clamp(0, 255).to(torch.uint8)


def motion_fields(trajectories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectories ``[B, T, N, 2]`` -> (velocity, reference "acceleration"), each ``[B, T, N, 2]`` (module doc)."""
    b, _, n, _ = trajectories.shape
    zero = trajectories.new_zeros(b, 1, n, 2)
    velocity = torch.cat([zero, trajectories[:, 1:] - trajectories[:, :-1]], dim=1)
    acceleration = torch.cat([zero, zero, trajectories[:, 2:] - trajectories[:, 1:-1]], dim=1)
    return velocity, acceleration


def motion_histograms(vectors: torch.Tensor) -> torch.Tensor:
    """Vectors ``[B, T, N, 2]`` on a square grid of N points -> ``[B, (T/4) * (side/5)^2 * 8]`` float32 histograms.

    Float32 operations in the reference's order (its numpy arithmetic), so bins agree exactly."""
    b, t, n, _ = vectors.shape
    side = int(round(math.sqrt(n)))
    ms, mh = t // CUBE_FRAMES, side // CELL
    v = rearrange(vectors.float(), "b t (y x) d -> b t y x d", y=side)
    v = v[:, : ms * CUBE_FRAMES, : mh * CELL, : mh * CELL]
    cubes = rearrange(v, "b (ms t) (my y) (mx x) d -> (b ms my mx) (t y x) d", t=CUBE_FRAMES, y=CELL, x=CELL)
    angle = torch.atan2(cubes[..., 0], cubes[..., 1])
    bins = torch.div(angle + math.pi, 2 * math.pi / ANGLE_BINS, rounding_mode="floor").clamp(0, ANGLE_BINS - 1)
    magnitude = (cubes * cubes).sum(-1).sqrt().clamp(0, MAGNITUDE_BINS - 1) + 1
    levels = math.log2(MAGNITUDE_BINS)
    weight = torch.ceil(torch.log2(magnitude).clamp(0, int(levels))) / levels
    hist = torch.zeros(cubes.shape[0], ANGLE_BINS, dtype=torch.float32, device=vectors.device)
    hist.scatter_add_(1, bins.long(), weight)  # sums of multiples of 1/8 below 2^21: exact in float32
    return hist.reshape(b, -1)


class MotionHistogramDetector(Detector):
    """PIPs++ tracks of a 20 x 20 grid -> velocity and acceleration histograms (FVMD's features).

    uint8 ``[B, 3, T, H, W]`` -> float32 ``[B, feature_dim(T)]``; clips of exactly ``num_frames`` frames."""

    def __init__(
        self,
        model: PIPsPlusPlus,
        *,
        name: str,
        sha256: str | None,
        num_frames: int = 16,
        resolution: int = INPUT_SIZE,
        stand_in: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        # parameters keep requires_grad as loaded (the forward runs under no_grad): freezing them makes torch pick
        # other CPU convolution kernels than the reference code gets, which rounds differently
        self.model = model.eval()
        self.name, self.sha256, self.stand_in, self.seed = name, sha256, stand_in, seed
        self.num_frames, self.input_resolution = int(num_frames), int(resolution)
        self.video, self.feature_dim = True, feature_dim(self.num_frames)

    @property
    def identity(self) -> str:
        return f"{super().identity}:fvmd-t{self.num_frames}"

    def trajectories(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, T, H, W]`` -> grid trajectories ``[B, T, 400, 2]`` in pixels of the resized frames."""
        b = x.shape[0]
        frames = resize_shorter_side(rearrange(x, "b c t h w -> (b t) c h w").contiguous(), self.input_resolution)
        frames = rearrange(frames.float(), "(b t) c h w -> b t c h w", b=b)
        h, w = frames.shape[-2:]
        xy0 = grid_points(b, GRID_SIDE, h, w, GRID_MARGIN, device=x.device)
        return self.model.track(frames, xy0, iters=TRACK_ITERS)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if x.shape[2] != self.num_frames:
            raise ValueError(f"detector '{self.name}' tracks clips of {self.num_frames} frames, got {x.shape[2]}")
        with torch.autocast(device_type=x.device.type, enabled=False):
            velocity, acceleration = motion_fields(self.trajectories(x))
            return torch.cat([motion_histograms(velocity), motion_histograms(acceleration)], dim=1)


def fvmd_distance(mu1, cov1, mu2, cov2, *, eps: float = FRECHET_EPS, official: bool = False, device=None) -> float:
    """||μ1-μ2||² + tr Σ1 + tr Σ2 - 2 tr sqrt((Σ1 + εI)(Σ2 + εI)), float64 (the reference's estimator)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    offset = np.eye(cov1.shape[0]) * eps
    if official:
        import scipy.linalg

        root = scipy.linalg.sqrtm((cov1 + offset).dot(cov2 + offset))
        root = root[0] if isinstance(root, tuple) else root
        cross = float(np.trace(root.real))
    else:
        cross = trace_sqrt_product(cov1 + offset, cov2 + offset, device=device)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(cov1) + np.trace(cov2) - 2 * cross)


@METRICS.register("fvmd")
class FVMD(Metric):
    """FVMD of ``num_videos`` clips of ``num_frames`` frames (lower is better)."""

    PROTOCOL_VERSION = 1
    shares_real_statistics = True
    direction = "lower"
    value_range = (None, None)  # the ε offset makes a set against itself -2εd, slightly below zero

    def __init__(
        self,
        num_videos: int = 2048,
        num_frames: int = 16,
        detector: Any = "pips2",
        stand_in_resolution: int | None = None,
    ):
        if num_videos < 2 or num_frames < CUBE_FRAMES or num_frames % CUBE_FRAMES:
            raise ValueError(
                f"fvmd needs num_videos >= 2 and num_frames a multiple of {CUBE_FRAMES} (histogram cubes of "
                f"{CUBE_FRAMES} frames); got {num_videos}, {num_frames}"
            )
        self.num_videos, self.num_frames = int(num_videos), int(num_frames)
        self.detector_spec, self.stand_in_resolution = detector, stand_in_resolution
        self.name = f"fvmd{self.num_videos}_{self.num_frames}f"

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        check_same_resolution(self.name, fake, real)
        spec = self.detector_spec if isinstance(self.detector_spec, dict) else {"_name_": self.detector_spec}
        detector = ctx.detector(
            {**spec, "num_frames": self.num_frames},
            stand_in_resolution=self.stand_in_resolution,
            metric=self.name,
            video=True,
        )
        batch = ctx.batch_size or 4

        def real_side() -> tuple[dict, bool]:
            if not is_dataset(real):
                raise TypeError(f"{self.name}: 'real' must be a VideoDataset, got {type(real).__name__}")
            clips = sources.select_real_clips(
                real, num_videos=self.num_videos, num_frames=self.num_frames, seed=ctx.seed, mode=ctx.mode
            )
            ctx.check_count(self.name, "real videos", self.num_videos, len(clips))

            def sums() -> dict[str, torch.Tensor]:
                mine = sources.shard(clips, ctx.rank, ctx.world_size)
                features = ctx.dataset_features(detector, real, mine, batch_size=batch)
                return stat_tensors(accumulate(features, detector.feature_dim, ctx.device))

            fields = {
                "metric": "fvmd",
                "fingerprint": real.fingerprint(),
                "clips": [(c.video, c.frames[0]) for c in clips],
                "num_frames": self.num_frames,
                "mode": ctx.mode,
                "seed": ctx.seed,
                "detector": detector.identity,
            }
            return ctx.cached_real(f"{self.name}-real", fields, sums)

        real_state, cache_hit = real_statistics(ctx, self, real, detector, real_side)
        real_stats = FeatureStats.from_state_dict(real_state)
        fake_stats, fake_source = self._fake_stats(ctx, fake, detector, batch)
        fake_stats.all_reduce()

        mu_fake, cov_fake = fake_stats.mean_cov(unbiased=True)
        mu_real, cov_real = real_stats.mean_cov(unbiased=True)
        value = fvmd_distance(mu_fake, cov_fake, mu_real, cov_real, official=ctx.official, device=ctx.device)
        protocol = {
            "num_real": real_stats.count,
            "num_fake": fake_stats.count,
            "frames": self.num_frames,
            "resolution": int(real.resolution),
            **detector_protocol(detector),
            "tracked_points": GRID_SIDE**2,
            "track_iters": TRACK_ITERS,
            "covariance": "unbiased",
            "estimator": f"frechet, sqrt((S1+{FRECHET_EPS:g}I)(S2+{FRECHET_EPS:g}I))"
            + (" scipy.sqrtm" if ctx.official else ""),
            "mode": ctx.mode,
            "seed": ctx.seed,
            "direction": self.direction,
            "fake_source": fake_source,
            "real_cache_hit": cache_hit,
            "world_size": ctx.world_size,
        }
        return MetricOutput(value=value, results={self.name: value}, protocol=protocol)

    def _fake_stats(self, ctx: EvalContext, fake: Any, detector: Detector, batch: int) -> tuple[FeatureStats, str]:
        """Summed features of the fake clips: frames 0..T-1 of generated videos or of the first long-enough files."""
        if is_generator(fake):
            stats = FeatureStats(detector.feature_dim, device=ctx.device)
            with sources.eval_mode(fake):
                for clips in sources.generated_clips(
                    fake,
                    num_videos=sources.quota(self.num_videos, ctx.rank, ctx.world_size),
                    times=list(range(self.num_frames)),
                    batch_size=batch,
                    generator=ctx.torch_generator(),
                    device=ctx.device,
                    quantization=detector.fake_quantization,
                ):
                    stats.update(detector(clips))
            return stats, "generator"
        if is_dataset(fake):
            clips = sources.select_folder_clips(
                fake, num_videos=self.num_videos, num_frames=self.num_frames, mode=ctx.mode
            )
            ctx.check_count(self.name, "fake videos", self.num_videos, len(clips))
            mine = sources.shard(clips, ctx.rank, ctx.world_size)
            features = ctx.dataset_features(detector, fake, mine, batch_size=batch)
            return accumulate(features, detector.feature_dim, ctx.device), "videos"
        raise TypeError(f"{self.name}: 'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}")


@name_pattern(r"fvmd(\d+k?)_(\d+)f")
def _fvmd_from_name(match, **kwargs) -> FVMD:
    return FVMD(num_videos=parse_count(match.group(1)), num_frames=int(match.group(2)), **kwargs)


preset("fvmd2048_16f", FVMD, num_videos=2048, num_frames=16)
