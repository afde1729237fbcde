"""Inception Score over generated frames (``is50k``) and the video Inception Score with C3D (``isv2048_ucf``).

Both follow StyleGAN-V's code: class probabilities of every generated sample, split into ``num_splits``
consecutive parts, per part exp(mean KL(p(y|x) || p(y))), reported as mean and std over the parts
(``<name>_mean``, ``<name>_std``; the record's value is the mean). ``is50k``: Inception without the
output bias (``no_output_bias=True``) on 50k frames of 16-frame clips from t = 0. ``isv2048_ucf``: the
C3D UCF-101 TorchScript on 2048 16-frame clips from t = 0, the probabilities shuffled with
``np.random.RandomState(42)`` before splitting, as the official video IS does. Fewer samples than the name states
(a short folder): refused in official mode (the official code returns NaN), refused by default unless
``allow_fewer`` (then computed and recorded in ``counts`` / ``fewer_than_name``). Official mode keeps the
official float32 arithmetic; the default mode computes the same in float64. Higher is better.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from registry import METRICS

from . import samples
from .base import CountError, EvalContext, Metric, MetricOutput, is_dataset, name_pattern, parse_count, preset
from .fid import _FRAMES_PER_BATCH, CLIP_LENGTH, _format_count
from .fvd import default_batch_size


def split_scores(
    probs: np.ndarray, num_splits: int, *, shuffle_seed: int | None = None, dtype=np.float64
) -> tuple[float, float]:
    """(mean, std) over ``num_splits`` consecutive parts of exp(E_x KL(p(y|x) || p(y)))."""
    probs = np.array(probs, dtype=dtype)
    n = probs.shape[0]
    if n < num_splits:
        raise ValueError(f"Inception Score: {n} samples cannot make {num_splits} splits")
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(probs)
    scores = []
    for i in range(num_splits):
        part = probs[i * n // num_splits : (i + 1) * n // num_splits]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


class _ScoreMetric(Metric):
    """Shared compute: probabilities of generated samples -> split scores."""

    direction = "higher"
    value_range = {"mean": (1.0, None), "std": (0.0, None)}  # exp(KL) of every split is >= 1
    # v2: detector inputs contiguous (bit-equal to the official code); fewer samples than the name states refused in
    # official mode, refused or flagged (counts, fewer_than_name) otherwise
    # v3 (issue 25): num_runs on a folder embeds its samples once (same numbers as v2)
    PROTOCOL_VERSION = 3
    video: bool
    shuffle_seed: int | None = None

    def _batches(self, ctx: EvalContext, fake: Any, resolution: int):
        raise NotImplementedError

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        detector = ctx.detector(
            self.detector_spec, stand_in_resolution=self.stand_in_resolution, metric=self.name, video=self.video
        )
        resolution = int(getattr(fake, "resolution", 0) or getattr(real, "resolution", 0))

        def fake_probs() -> np.ndarray:
            return samples.features_of(detector, self._batches(ctx, fake, resolution), ctx)

        # num_runs on a folder: its samples are the same in every run, embedded once per evaluation
        probs = (
            ctx.memoize(("score-fake", self.name, id(fake), detector.identity), fake_probs)
            if is_dataset(fake)
            else fake_probs()
        )
        self.check_samples(ctx, len(probs))
        mean, std = split_scores(
            probs, self.num_splits, shuffle_seed=self.shuffle_seed, dtype=np.float32 if ctx.official else np.float64
        )
        protocol = samples.sample_protocol(
            detector,
            ctx,
            fake=fake,
            direction=self.direction,
            num_fake=len(probs),
            num_splits=self.num_splits,
            shuffle_seed=self.shuffle_seed,
            resolution=resolution,
            precision="float32" if ctx.official else "float64",
            **self.extra_protocol(),
        )
        return MetricOutput(value=mean, results={f"{self.name}_mean": mean, f"{self.name}_std": std}, protocol=protocol)

    def extra_protocol(self) -> dict[str, Any]:
        return {}

    def check_samples(self, ctx: EvalContext, found: int) -> None:
        """Fewer samples than the name states: refused in official mode (the official code returns NaN: its splits
        index by the requested count, so most are empty); otherwise refused unless ``allow_fewer``, then computed
        on what there is and recorded (``counts``, ``fewer_than_name``), as FVD does."""
        requested, what = self.requested
        if ctx.official and found < requested:
            raise CountError(
                f"{self.name}: found {found} {what}, but the name states {requested}; the official code returns NaN "
                f"then (its {self.num_splits} splits index by {requested}), so mode=official refuses: give at least "
                f"{requested}, or use the default mode with allow_fewer=true"
            )
        ctx.check_count(self.name, what, requested, found)


@METRICS.register("is")
class InceptionScore(_ScoreMetric):
    """IS of ``num_fake`` generated frames (``clip_length`` per video from a generator)."""

    video = False

    def __init__(
        self,
        num_fake: int = 50000,
        num_splits: int = 10,
        clip_length: int = CLIP_LENGTH,
        detector: Any = None,
        stand_in_resolution: int | None = None,
    ):
        if num_fake < num_splits or num_splits < 1:
            raise ValueError(f"is needs num_fake >= num_splits >= 1, got {num_fake}, {num_splits}")
        self.num_fake, self.num_splits, self.clip_length = int(num_fake), int(num_splits), int(clip_length)
        self.detector_spec = detector if detector is not None else {"_name_": "inception", "output": "probs"}
        self.stand_in_resolution = stand_in_resolution
        self.name = f"is{_format_count(self.num_fake)}"

    @property
    def requested(self) -> tuple[int, str]:
        return self.num_fake, "fake frames"

    def _batches(self, ctx, fake, resolution):
        batch = ctx.batch_size or next((v for r, v in sorted(_FRAMES_PER_BATCH.items()) if resolution <= r), 2)
        return samples.fake_frame_batches(
            fake, ctx, num_frames=self.num_fake, clip_length=self.clip_length, batch=batch
        )

    def extra_protocol(self):
        return {"fake_clip_length": self.clip_length}


@METRICS.register("isv")
class VideoInceptionScore(_ScoreMetric):
    """Video IS of ``num_videos`` generated clips of ``num_frames`` frames with the C3D UCF-101 detector."""

    video = True
    shuffle_seed = 42

    def __init__(
        self,
        num_videos: int = 2048,
        num_frames: int = 16,
        num_splits: int = 10,
        detector: Any = "c3d_ucf101",
        stand_in_resolution: int | None = None,
    ):
        if num_videos < num_splits or num_splits < 1 or num_frames < 1:
            raise ValueError(
                "isv needs num_videos >= num_splits >= 1 and num_frames >= 1, "
                f"got {num_videos}, {num_splits}, {num_frames}"
            )
        self.num_videos, self.num_frames, self.num_splits = int(num_videos), int(num_frames), int(num_splits)
        self.detector_spec, self.stand_in_resolution = detector, stand_in_resolution
        self.name = f"isv{self.num_videos}_ucf"

    @property
    def requested(self) -> tuple[int, str]:
        return self.num_videos, "fake videos"

    def _batches(self, ctx, fake, resolution):
        batch = ctx.batch_size or default_batch_size(resolution, self.num_frames)
        return samples.fake_clip_batches(fake, ctx, num_videos=self.num_videos, num_frames=self.num_frames, batch=batch)

    def extra_protocol(self):
        return {"frames": self.num_frames}


@name_pattern(r"is(\d+k?)")
def _is_from_name(match, **kwargs) -> InceptionScore:
    return InceptionScore(num_fake=parse_count(match.group(1)), **kwargs)


@name_pattern(r"isv(\d+k?)_ucf")
def _isv_from_name(match, **kwargs) -> VideoInceptionScore:
    return VideoInceptionScore(num_videos=parse_count(match.group(1)), **kwargs)


preset("is50k", InceptionScore, num_fake=50000, num_splits=10)
preset("isv2048_ucf", VideoInceptionScore, num_videos=2048, num_frames=16, num_splits=10)
