"""JEDi, the JEPA Embedding Distance (Luo et al., ICLR 2025) (``jedi<N>_<T>f``).

JEDi is 100 x the **biased** MMD² (V-statistic: kernel means over all pairs, diagonals included) between V-JEPA
features of N generated and N real clips under the polynomial kernel k(x, y) = (γ x·y + c)^p with **p = 2, c = 0,
γ = 1/d** (d = 1280), as the authors' ``videojedi`` package computes it (``mmd_poly(X, Y, degree=2, coef0=0) * 100``
with scikit-learn's ``polynomial_kernel``):

    JEDi = 100 (mean_ij k(x_i, x_j) + mean_ij k(y_i, y_j) - 2 mean_ij k(x_i, y_j))

Features: the SSv2 attentive probe's pooled token over V-JEPA ViT-H/16 tokens (``detector=vjepa_ssv2``,
metrics/vjepa.py); frames /255 and ImageNet-normalised, fed at their own resolution (no resize or crop; the position
table is resampled), T frames per clip. Clips: FVD's rule (one random-offset clip of T frames from each of the first
N long-enough real videos; fake clips are frames 0..T-1), shared with KVD (``metrics.kvd``). Kernel means with the
reference's operations on whole matrices (up to 8k videos a side; row blocks summed in float64 beyond) in float64
(``mode="official"``: float32, as scikit-learn computes them on the reference's float32 features).
Lower is better; 0 when both sides are the same set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from registry import METRICS

from . import samples
from .base import (
    EvalContext,
    Metric,
    MetricOutput,
    name_pattern,
    parse_count,
    preset,
)
from .kvd import clip_feature_sets

SCALE = 100.0  # the reference multiplies the MMD² by 100
_FULL_MATRIX_ELEMENTS = 1 << 26  # whole kernel matrices (as the reference) up to 8k x 8k videos, else row blocks
_BLOCK_ELEMENTS = 1 << 24  # kernel entries per row block


def kernel_mean(a: np.ndarray, b: np.ndarray, *, degree: int, gamma: float, coef0: float) -> np.floating:
    """mean_ij (γ a_i·b_j + c)^p with scikit-learn's operations (``K = A B^T; K *= γ; K += c; K **= p``) in the
    arrays' dtype: the whole matrix up to ``_FULL_MATRIX_ELEMENTS`` entries, as the reference; row blocks beyond."""
    rows = a.shape[0] if a.shape[0] * b.shape[0] <= _FULL_MATRIX_ELEMENTS else max(1, _BLOCK_ELEMENTS // b.shape[0])
    total = np.float64(0)
    for start in range(0, a.shape[0], rows):
        k = a[start : start + rows] @ b.T  # [rows, n]
        k *= gamma
        k += coef0
        k **= degree
        if rows == a.shape[0]:
            return k.mean()
        total += k.sum(dtype=np.float64)
    return a.dtype.type(total / (a.shape[0] * b.shape[0]))


def jedi_mmd2(
    x: np.ndarray,
    y: np.ndarray,
    *,
    degree: int = 2,
    gamma: float | None = None,
    coef0: float = 0.0,
    dtype=np.float64,
) -> float:
    """``SCALE`` x the biased polynomial-kernel MMD² of the rows of ``x`` [m, d] and ``y`` [n, d] (JEDi's value),
    summed in ``dtype`` as the reference sums its float32 kernel means."""
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"JEDi needs two [N, d] feature sets of one width, got {x.shape} and {y.shape}")
    if len(x) < 1 or len(y) < 1:
        raise ValueError(f"JEDi needs at least 1 video per side, have {len(x)} generated and {len(y)} real")
    kw = {"degree": degree, "gamma": 1.0 / x.shape[1] if gamma is None else float(gamma), "coef0": coef0}
    return float((kernel_mean(x, x, **kw) + kernel_mean(y, y, **kw) - 2 * kernel_mean(x, y, **kw)) * SCALE)


@METRICS.register("jedi")
class JEDi(Metric):
    """JEDi of ``num_videos`` generated clips of ``num_frames`` frames against as many real clips."""

    PROTOCOL_VERSION = 1
    direction = "lower"
    value_range = (0.0, None)  # 100 x a biased MMD^2 = 100 ||M_x - M_y||_F^2 / d^2: never below zero

    def __init__(
        self,
        num_videos: int = 2048,
        num_frames: int = 16,
        detector: Any = "vjepa_ssv2",
        stand_in_resolution: int | None = None,
    ):
        if num_videos < 1 or num_frames < 2:
            raise ValueError(
                f"jedi needs num_videos >= 1 and num_frames >= 2 (one tubelet); got {num_videos}, {num_frames}"
            )
        self.num_videos, self.num_frames = int(num_videos), int(num_frames)
        self.detector_spec, self.stand_in_resolution = detector, stand_in_resolution
        self.name = f"jedi{self.num_videos}_{self.num_frames}f"

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        detector, fake_features, real_features, cache_hit = clip_feature_sets(self, ctx, fake, real, family="jedi")
        dtype = np.float32 if ctx.official else np.float64
        value = jedi_mmd2(fake_features, real_features, dtype=dtype)
        protocol = samples.sample_protocol(
            detector,
            ctx,
            fake=fake,
            direction=self.direction,
            num_real=len(real_features),
            num_fake=len(fake_features),
            frames=self.num_frames,
            kernel="(x.y/d)^2",
            estimator="100 x biased MMD^2 over all videos (V-statistic, diagonals included)",
            resolution=int(real.resolution),
            real_cache_hit=cache_hit,
            fake_quantization=detector.fake_quantization,
            precision=np.dtype(dtype).name,
        )
        return MetricOutput(value=value, results={self.name: value}, protocol=protocol)


@name_pattern(r"jedi(\d+k?)_(\d+)f")
def _jedi_from_name(match, **kwargs) -> JEDi:
    return JEDi(num_videos=parse_count(match.group(1)), num_frames=int(match.group(2)), **kwargs)


preset("jedi2048_16f", JEDi, num_videos=2048, num_frames=16)


def _register_in_sample_size_study() -> None:
    """JEDi in the sample-size study (``metrics.sample_size``): V-JEPA rows of 16-frame clips, this estimator."""
    from .sample_size import FeatureSpec, register_study_features, register_study_metric

    register_study_features("vjepa_16f", FeatureSpec("vjepa_ssv2", 16))
    register_study_metric("jedi", features="vjepa_16f", estimator=jedi_mmd2, results=r"jedi\d+k?_\d+f")


_register_in_sample_size_study()
