"""Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020) of any detector's
features: ``prdc<N>_<T>f`` on clips (I3D by default; ``detector=videomae`` for VideoMAE-v2), ``prdc<N>_frames`` on
frames (Inception 2048-d pool).

With B_k(x) the ball around x of radius the distance to its k-th nearest neighbour in its own set (itself
excluded), real features r_1..r_N and fake features f_1..f_M:

* precision = (1/M) Σ_j [f_j ∈ ∪_i B_3(r_i)]       (fidelity: fakes inside the real manifold, k = 3)
* recall    = (1/N) Σ_i [r_i ∈ ∪_j B_3(f_j)]       (diversity: reals inside the fake manifold, k = 3)
* density   = 1/(kM) Σ_j Σ_i [f_j ∈ B_5(r_i)]      (how many real balls hold each fake, k = 5; may exceed 1)
* coverage  = (1/N) Σ_i [∃ j: f_j ∈ B_5(r_i)]      (reals whose ball holds a fake, k = 5)

"∈" is strict (distance < radius), as in the authors' ``prdc`` package, which this equals on identical
features (``tests/test_prdc.py``). The headline value is **coverage** (higher is better): bounded in [0, 1],
sensitive to both missing modes and outliers, and robust to real outliers (Naeem et al.); the record's results
hold all four (``<name>_precision``, ``_recall``, ``_density``, ``_coverage``). The real side's features and
k-NN radii are cached with the real statistics; distances are computed in float64 in row blocks of at most
2^24 entries, so 50k × 50k needs ~0.2 GB beyond the features.

Items: clips as KVD and FVD take them (real: one random-offset clip from each of the first N long-enough
videos; fake: frames 0..T-1); frames: N frames drawn without replacement (``np.random.RandomState(seed)``)
from all real frames, and N generated frames (clips of ``clip_length`` from t = 0) or a folder's first N frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from registry import METRICS

from . import samples, sources
from .base import (
    EvalContext,
    Metric,
    MetricOutput,
    all_reduce_,
    check_same_resolution,
    is_dataset,
    name_pattern,
    parse_count,
    preset,
)
from .fid import _FRAMES_PER_BATCH, _format_count
from .fvd import default_batch_size
from .kvd import clip_rows, fake_clip_features, select_real

_BLOCK_ELEMENTS = 1 << 24  # distance entries per block (128 MB in float64)


def _rows_per_block(columns: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, columns))


def _distances(a: torch.Tensor, b: torch.Tensor, a2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Euclidean distances [len(a), len(b)] as scikit-learn computes them: sqrt(max(|a|² - 2a·b + |b|², 0))."""
    d = a @ b.T
    d.mul_(-2).add_(a2[:, None]).add_(b2[None, :]).clamp_(min=0)
    return d.sqrt_()


def knn_radii(features: Any, ks: tuple[int, ...], *, device: Any = "cpu") -> dict[int, np.ndarray]:
    """Per row, the distance to its k-th nearest neighbour in ``features`` (itself excluded), for each k in ``ks``."""
    x = torch.as_tensor(np.asarray(features, np.float64), device=device)
    n, kmax = x.shape[0], max(ks)
    if n <= kmax:
        raise ValueError(f"k-NN radii with k = {kmax} need more than {kmax} samples, have {n}")
    x2 = (x * x).sum(1)
    out = {k: torch.empty(n, dtype=torch.float64, device=device) for k in ks}
    rows = _rows_per_block(n)
    for start in range(0, n, rows):
        d = _distances(x[start : start + rows], x, x2[start : start + rows], x2)
        idx = torch.arange(d.shape[0], device=device)
        d[idx, idx + start] = 0.0  # the point itself (scikit-learn zeroes the diagonal of X against X)
        smallest = torch.topk(d, kmax + 1, dim=1, largest=False, sorted=True).values
        for k in ks:
            out[k][start : start + rows] = smallest[:, k]
    return {k: v.cpu().numpy() for k, v in out.items()}


def prdc(
    real: Any,
    fake: Any,
    *,
    nearest_k_pr: int = 3,
    nearest_k_dc: int = 5,
    real_radii: dict[int, np.ndarray] | None = None,
    device: Any = "cpu",
) -> dict[str, float]:
    """Precision, recall (k = ``nearest_k_pr``), density and coverage (k = ``nearest_k_dc``) of ``fake`` [M, d]
    against ``real`` [N, d]; ``real_radii`` (``knn_radii(real, (k_pr, k_dc))``) skips the real side's k-NN pass."""
    r = torch.as_tensor(np.asarray(real, np.float64), device=device)
    f = torch.as_tensor(np.asarray(fake, np.float64), device=device)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"prdc needs two [N, d] feature sets of one width, got {tuple(r.shape)} and {tuple(f.shape)}")
    ks = (nearest_k_pr, nearest_k_dc)
    radii = real_radii if real_radii is not None else knn_radii(real, ks, device=device)
    r_pr, r_dc = (torch.as_tensor(radii[k], dtype=torch.float64, device=device) for k in ks)
    f_pr = torch.as_tensor(knn_radii(fake, (nearest_k_pr,), device=device)[nearest_k_pr], device=device)
    n, m = r.shape[0], f.shape[0]
    r2, f2 = (r * r).sum(1), (f * f).sum(1)
    in_real_ball = torch.zeros(m, dtype=torch.int64, device=device)  # per fake: real k_pr-balls holding it
    real_balls_dc = torch.zeros(m, dtype=torch.int64, device=device)  # per fake: real k_dc-balls holding it
    recalled = covered = 0
    rows = _rows_per_block(m)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        d = _distances(r[start:stop], f, r2[start:stop], f2)  # [rows, M]
        recalled += int((d < f_pr[None, :]).any(dim=1).sum())
        covered += int((d.min(dim=1).values < r_dc[start:stop]).sum())
        in_real_ball += (d < r_pr[start:stop, None]).sum(dim=0)
        real_balls_dc += (d < r_dc[start:stop, None]).sum(dim=0)
    return {
        "precision": float((in_real_ball > 0).double().mean()),
        "recall": recalled / n,
        "density": (1.0 / nearest_k_dc) * float(real_balls_dc.sum()) / m,
        "coverage": covered / n,
    }


def sample_frames(dataset: Any, num: int, seed: int) -> list[sources.Clip]:
    """``num`` frames drawn without replacement from all frames of ``dataset`` (all of them when it holds fewer),
    grouped per video in (video, frame) order."""
    pairs = [(c.video, t) for c in sources.select_all_frames(dataset) for t in c.frames]
    if len(pairs) > num:
        pick = np.sort(np.random.RandomState(seed).choice(len(pairs), num, replace=False))
        pairs = [pairs[i] for i in pick]
    grouped: dict[int, list[int]] = {}
    for video, t in pairs:
        grouped.setdefault(video, []).append(t)
    return [sources.Clip(video, tuple(frames)) for video, frames in grouped.items()]


@METRICS.register("prdc")
class PRDC(Metric):
    """Precision, recall, density and coverage of ``num_samples`` clips (``num_frames`` frames) or frames
    (``num_frames=None``)."""

    PROTOCOL_VERSION = 1
    direction = "higher"
    value_range = {  # the range of each result key (`<name>_<suffix>`; "" = the headline)
        "": (0.0, 1.0),
        "precision": (0.0, 1.0),
        "recall": (0.0, 1.0),
        "density": (0.0, None),
        "coverage": (0.0, 1.0),
    }

    def __init__(
        self,
        num_samples: int = 2048,
        num_frames: int | None = 16,
        detector: Any = None,
        nearest_k_pr: int = 3,
        nearest_k_dc: int = 5,
        clip_length: int = 16,
        stand_in_resolution: int | None = None,
    ):
        k = max(nearest_k_pr, nearest_k_dc)
        if min(nearest_k_pr, nearest_k_dc) < 1 or num_samples <= k or (num_frames is not None and num_frames < 1):
            raise ValueError(
                f"prdc needs nearest_k_pr, nearest_k_dc >= 1, num_samples > both and num_frames >= 1 (or null); "
                f"got {nearest_k_pr}, {nearest_k_dc}, {num_samples}, {num_frames}"
            )
        self.num_samples, self.num_frames = int(num_samples), None if num_frames is None else int(num_frames)
        self.nearest_k_pr, self.nearest_k_dc, self.clip_length = int(nearest_k_pr), int(nearest_k_dc), int(clip_length)
        self.detector_spec = detector if detector is not None else ("i3d" if self.video else "inception")
        self.stand_in_resolution = stand_in_resolution
        self.name = f"prdc{_format_count(self.num_samples)}_" + (f"{self.num_frames}f" if self.video else "frames")

    @property
    def video(self) -> bool:
        return self.num_frames is not None

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        if not is_dataset(real):
            raise TypeError(f"{self.name}: 'real' must be a VideoDataset, got {type(real).__name__}")
        check_same_resolution(self.name, fake, real)
        detector = ctx.detector(
            self.detector_spec, stand_in_resolution=self.stand_in_resolution, metric=self.name, video=self.video
        )
        ks = (self.nearest_k_pr, self.nearest_k_dc)
        if self.video:
            batch = ctx.batch_size or default_batch_size(real.resolution, self.num_frames)
            items = select_real(ctx, self.name, real, num_videos=self.num_samples, num_frames=self.num_frames)

            def real_rows() -> torch.Tensor:
                return clip_rows(ctx, detector, real, items, batch)

        else:
            batch = ctx.batch_size or next((v for r, v in sorted(_FRAMES_PER_BATCH.items()) if real.resolution <= r), 2)
            items = sample_frames(real, self.num_samples, ctx.seed)
            ctx.check_count(self.name, "real frames", self.num_samples, sum(len(c.frames) for c in items))

            def real_rows() -> torch.Tensor:
                return samples.feature_slots(detector, samples.frame_batches(real, items, ctx, batch), ctx)

        def real_side() -> dict[str, torch.Tensor]:
            slots = real_rows()
            everyone = all_reduce_({"rows": slots})["rows"] if ctx.world_size > 1 else slots
            radii = knn_radii(everyone.numpy(), ks, device=ctx.device)
            keep = ctx.rank == 0  # the cache sums over processes: one copy of the radii
            return {
                "features": slots,
                **{f"radii_k{k}": torch.as_tensor(radii[k] if keep else np.zeros_like(radii[k])) for k in ks},
            }

        fields = {
            "metric": "prdc",
            "fingerprint": real.fingerprint(),
            "items": [(c.video, c.frames[0], len(c.frames)) for c in items],
            "num_frames": self.num_frames,
            "ks": list(ks),
            "mode": ctx.mode,
            "seed": ctx.seed,
            "detector": detector.identity,
        }
        real_state, cache_hit = ctx.cached_real(f"{self.name}-real", fields, real_side)
        real_features = np.asarray(real_state["features"], np.float32)
        if self.video:
            fake_features = fake_clip_features(
                ctx, self.name, fake, detector, num_videos=self.num_samples, num_frames=self.num_frames, batch=batch
            )
        else:
            fake_features = samples.features_of(
                detector,
                samples.fake_frame_batches(
                    fake, ctx, num_frames=self.num_samples, clip_length=self.clip_length, batch=batch
                ),
                ctx,
            )
            ctx.check_count(self.name, "fake frames", self.num_samples, len(fake_features))
        if len(fake_features) <= self.nearest_k_pr:
            raise ValueError(
                f"{self.name}: {len(fake_features)} fake samples; recall needs more than k = {self.nearest_k_pr}"
            )
        scores = prdc(
            real_features,
            fake_features,
            nearest_k_pr=self.nearest_k_pr,
            nearest_k_dc=self.nearest_k_dc,
            real_radii={k: np.asarray(real_state[f"radii_k{k}"], np.float64) for k in ks},
            device=ctx.device,
        )
        protocol = samples.sample_protocol(
            detector,
            ctx,
            fake=fake,
            direction=self.direction,
            num_real=len(real_features),
            num_fake=len(fake_features),
            items="clips" if self.video else "frames",
            frames=self.num_frames,
            headline="coverage",
            distance="euclidean, float64",
            resolution=int(real.resolution),
            real_cache_hit=cache_hit,
        )
        results = {self.name: scores["coverage"], **{f"{self.name}_{k}": v for k, v in scores.items()}}
        return MetricOutput(value=scores["coverage"], results=results, protocol=protocol)


@name_pattern(r"prdc(\d+k?)_(\d+)f")
def _prdc_clips_from_name(match, **kwargs) -> PRDC:
    return PRDC(num_samples=parse_count(match.group(1)), num_frames=int(match.group(2)), **kwargs)


@name_pattern(r"prdc(\d+k?)_frames")
def _prdc_frames_from_name(match, **kwargs) -> PRDC:
    return PRDC(num_samples=parse_count(match.group(1)), num_frames=None, **kwargs)


preset("prdc2048_16f", PRDC, num_samples=2048, num_frames=16)
preset("prdc10k_frames", PRDC, num_samples=10000, num_frames=None)
