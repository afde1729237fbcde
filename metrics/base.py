"""What every metric shares: the evaluation context (device, seed, mode, ranks, detectors, real-stat cache)
and ``Metric``, the built-in metrics' base: the contract (``registry.interfaces.Metric``) plus the shared
real side that ``sgvb stats`` writes.

A metric is registered in ``METRICS`` under a name that encodes its protocol (``fvd2048_16f``); families
(``fvd``, ``fid``, ``consistency``) take the counts as keyword arguments, and names following a family's
pattern (``fvd64_16f``, ``fid2k``, ``consistency256_128f``) are understood without being registered.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from registry import METRICS, UnknownComponentError, interfaces
from registry.core import canonical, split_spec
from registry.interfaces import MetricOutput, RealSide, VideoGenerator  # noqa: F401 (metrics import MetricOutput here)

from . import cache
from .detectors import Detector, load_detector
from .distributed import all_reduce_, broadcast_object, dist_info  # noqa: F401 (re-exported)
from .weights import ChecksumError, MissingWeightsError, WeightsError

# The progress reporter of the evaluation running in this context (``reporting_progress``); None = silent. A
# reporter has ``watch(detector)`` (it counts the detector's outputs: clips or frames) and ``side(name)``, a context
# manager around a side's computation ("real" inside ``EvalContext.cached_real``; "fake" otherwise). Set by the
# commands, read here, so the metric modules (whose code defines their protocol) stay as they are.
_PROGRESS: contextvars.ContextVar[Any] = contextvars.ContextVar("sgvb_metric_progress", default=None)


@contextlib.contextmanager
def reporting_progress(progress: Any) -> Iterator[Any]:
    """Report the progress of every evaluation inside the block to ``progress``; closed at the end."""
    token = _PROGRESS.set(progress)
    try:
        yield progress
    finally:
        _PROGRESS.reset(token)
        progress.close()


class CountError(ValueError):
    """A metric would run on fewer items than its name states (default mode without ``allow_fewer``)."""


class DetectorMismatchError(ValueError):
    """The detector given for a metric is not the kind of network the metric needs."""


@dataclasses.dataclass
class EvalContext:
    """Everything a metric needs besides its own protocol. Built by ``metrics.evaluate``.

    One evaluation with ``num_runs`` repeated draws makes one context per run (``run_index``, derived
    ``seed``); they share ``memo`` (features of clips drawn again are not recomputed) and ``counts``.
    """

    device: torch.device
    seed: int = 0
    mode: str = "default"
    batch_size: int | None = None
    detector_path: str | None = None
    allow_stand_in: bool = False
    cache_dir: str | Path | None = None
    run_dir: Path | None = None
    artifact_tag: str = "latest"
    rank: int = 0
    world_size: int = 1
    num_threads: int = 4
    allow_fewer: bool = False
    num_runs: int = 1
    run_index: int = 0
    counts: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    memo: dict = dataclasses.field(default_factory=dict)
    real_side_only: bool = False  # ``sgvb stats``: stop after the real side (see ``Metric.real_side``)

    @property
    def official(self) -> bool:
        return self.mode == "official"

    @property
    def unbiased_cov(self) -> bool:
        """1/(N-1) by default; 1/N in official-compatible mode (StyleGAN-V's FeatureStats)."""
        return not self.official

    @property
    def covariance(self) -> str:
        """How the covariance was normalised, as records and cache keys name it."""
        return "unbiased" if self.unbiased_cov else "biased"

    def detector(
        self, spec: Any, *, stand_in_resolution: int | None = None, metric: str = "metric", video: bool | None = None
    ) -> Detector:
        """The metric's detector; a file that is not the kind of network the metric needs is refused in one line."""
        kwargs = {"stand_in_resolution": stand_in_resolution} if stand_in_resolution is not None else {}
        try:
            det = load_detector(
                spec, path=self.detector_path, device=self.device, allow_stand_in=self.allow_stand_in, seed=0, **kwargs
            )
        except (ChecksumError, MissingWeightsError):
            raise  # the file is damaged or absent, not of the wrong kind: its own message says what to do
        except WeightsError as exc:
            if self.detector_path is None:
                raise
            kind = {True: "video ", False: "image ", None: ""}[video]
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise DetectorMismatchError(
                f"{metric}: detector file '{self.detector_path}' does not fit this metric (it needs a {kind}detector "
                f"like '{spec}'): {first}"
            ) from exc
        progress = _PROGRESS.get()
        if progress is not None:
            progress.watch(det)
        if video is not None and det.video != video:
            what = "a video" if det.video else "an image"
            raise DetectorMismatchError(
                f"{metric}: detector '{det.name}' ({self.detector_path or 'default'}) is {what} detector; "
                f"this metric needs {'a video' if video else 'an image'} detector like '{spec}'"
            )
        return det

    def check_count(self, metric: str, what: str, requested: int, found: int) -> int:
        """How many of ``what`` a run uses: ``requested``, or fewer only when allowed (recorded in ``counts``
        either way).

        Default mode refuses fewer than the metric's name states unless ``allow_fewer``; official mode keeps
        StyleGAN-V's rule (min(requested, found)) and warns.
        """
        used = min(int(requested), int(found))
        self.counts[what] = {"requested": int(requested), "used": used}
        if found >= requested:
            return used
        if not self.official and not self.allow_fewer:
            raise CountError(
                f"{metric}: found {found} {what}, but the metric's name states {requested}; give more data, "
                f"or pass allow_fewer=true to compute it on {found} (the record then says so)"
            )
        warnings.warn(
            f"{metric}: computed on {found} {what}, fewer than the {requested} its name states "
            f"({'mode=official keeps min(N, found)' if self.official else 'allow_fewer=true'}); the record says so",
            RuntimeWarning,
            stacklevel=2,
        )
        return used

    def dataset_features(
        self, detector: Detector, dataset: Any, clips: Sequence[Any], *, batch_size: int
    ) -> Iterator[torch.Tensor]:
        """Detector features ``[b, d]`` of ``clips`` (uint8 video batches), batch by batch.

        With ``num_runs > 1`` each (video, frames) clip is computed once per evaluation: the runs' random
        offsets overlap, and a clip drawn again reuses its features.
        """
        from . import sources

        def batches(items):
            return sources.iter_dataset_batches(
                dataset, items, batch_size=batch_size, device=self.device, num_threads=self.num_threads
            )

        if self.num_runs == 1:
            for x in batches(clips):
                yield detector(x)
            return
        cache = self.memo.setdefault(("clip-features", id(dataset), detector.identity), {})
        missing = [c for c in dict.fromkeys(clips) if c not in cache]
        for start, x in zip(range(0, len(missing), batch_size), batches(missing)):
            for clip, row in zip(missing[start : start + batch_size], detector(x)):
                cache[clip] = row
        for start in range(0, len(clips), batch_size):
            yield torch.stack([cache[c] for c in clips[start : start + batch_size]])

    def memoize(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per evaluation (e.g. statistics of a deterministic side shared by all runs)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def torch_generator(self) -> torch.Generator:
        from .sources import process_seed

        return torch.Generator().manual_seed(process_seed(self.seed, self.rank, self.world_size))

    def cached_real(
        self, prefix: str, fields: dict, compute: Callable[[], dict[str, torch.Tensor]]
    ) -> tuple[dict[str, np.ndarray], bool]:
        """Summed real-data statistics: loaded from the cache, or computed per process, all-reduced and saved.

        ``compute`` returns this process's partial float64 sums; they must add up across processes.
        Returns (arrays, cache_hit).
        """
        path = cache.cache_path(self.cache_dir, prefix, fields)
        hit = cache.load(path) if self.rank == 0 else None
        hit = broadcast_object(hit)
        if hit is not None:
            return {k: v for k, v in hit.items() if k != "_key"}, True
        progress = _PROGRESS.get()
        with progress.side("real") if progress is not None else contextlib.nullcontext():
            sums = all_reduce_(compute())
        arrays = {k: v.detach().cpu().numpy() for k, v in sums.items()}
        if self.rank == 0:
            cache.save(path, arrays, fields)
        return arrays, False


class Metric(interfaces.Metric):
    """The built-in metrics' base: the contract, with ``real_side`` for every metric whose ``compute`` takes its
    real side from ``real_statistics`` (``shares_real_statistics``: FVD, FID).

    Why ``real_side`` runs ``compute`` and stops it: the real side of FVD and FID is a closure inside their
    ``compute`` (which clips, which cache key), and the code of a metric's module is fingerprinted into its
    protocol (``metrics.protocol``), so moving that closure into a method of its own changes the fingerprint
    and needs a ``PROTOCOL_VERSION`` bump. Until a version bump moves it, ``real_side`` runs ``compute`` on
    the real dataset with ``ctx.real_side_only``: ``real_statistics`` hands the real side to ``_RealSideReady``,
    which this method catches, so the escape never leaves it and no caller sees an exception.
    """

    def real_side(self, ctx: EvalContext, real: Any) -> RealSide:
        if not self.shares_real_statistics:
            return super().real_side(ctx, real)
        try:
            self.compute(dataclasses.replace(ctx, real_side_only=True), real, real)
        except _RealSideReady as ready:
            return ready.real_side
        raise TypeError(
            f"metric '{self.name}' declares shares_real_statistics, but its compute never calls "
            "real_statistics (metrics.base)"
        )


class _RealSideReady(Exception):
    """Raised by ``real_statistics`` under ``ctx.real_side_only``: carries the real side out of ``compute`` to
    ``Metric.real_side``, which catches it."""

    def __init__(self, real_side: RealSide):
        super().__init__("real side ready")
        self.real_side = real_side


def is_generator(source: Any) -> bool:
    return isinstance(source, VideoGenerator) or (
        callable(getattr(source, "iter_frames", None)) and hasattr(source, "z_dim")
    )


def is_dataset(source: Any) -> bool:
    return all(callable(getattr(source, m, None)) for m in ("read_frames", "video_length", "__len__"))


def check_same_resolution(metric: str, fake: Any, real: Any) -> None:
    """Fake and real frames must come at one resolution (the protocol's ``resolution``)."""
    got = getattr(fake, "resolution", None)
    if got is None:
        raise TypeError(f"{metric}: 'fake' ({type(fake).__name__}) has no 'resolution' attribute")
    if int(got) != int(real.resolution):
        what = "generator" if is_generator(fake) else "fake videos"
        raise ValueError(
            f"{metric}: {what} resolution {got} != dataset resolution {real.resolution}; "
            "build the dataset (or the fake video folder) at the generator's resolution"
        )


def accumulate(features: Iterable[torch.Tensor], dim: int, device: torch.device):
    """FeatureStats of a stream of feature batches ``[b, d]``."""
    from .stats import FeatureStats

    stats = FeatureStats(dim, device=device)
    for f in features:
        stats.update(f)
    return stats


def stat_tensors(stats) -> dict[str, torch.Tensor]:
    """A FeatureStats' sums as tensors (what ``EvalContext.cached_real`` all-reduces and stores)."""
    return {k: torch.as_tensor(v) for k, v in stats.state_dict().items()}


def real_statistics(
    ctx: EvalContext, metric: interfaces.Metric, real: Any, detector: Detector, compute: Callable[[], tuple[dict, bool]]
) -> tuple[dict, Any]:
    """The real side's summed statistics: from a reference file (``sgvb stats``) when ``real`` is one,
    else ``compute()``.

    A reference file is used only when its protocol equals the one this evaluation would use; otherwise
    the differing fields are named. Under ``ctx.real_side_only`` the real side is all that was asked for:
    it goes to ``Metric.real_side`` (see there) instead of back into ``compute``.
    """
    from .reference import ReferenceStats

    expected = {**real_side_protocol(ctx, metric, detector), "resolution": int(real.resolution)}
    if isinstance(real, ReferenceStats):
        arrays = real.arrays_for(expected)
        for what, c in real.counts.items():
            ctx.check_count(metric.name, what, c["requested"], c["used"])
        return arrays, "reference"
    arrays, hit = compute()
    if ctx.real_side_only:
        raise _RealSideReady(RealSide(arrays, expected, dict(ctx.counts)))
    return arrays, hit


def real_side_protocol(ctx: EvalContext, metric: interfaces.Metric, detector: Detector) -> dict[str, Any]:
    """Everything that defines a metric's real-side statistics (a reference file must match it field by field)."""
    return {
        "metric": metric.name,
        "protocol_version": int(getattr(metric, "PROTOCOL_VERSION", 1)),
        "definition": metric_definition(metric),
        "offset_rule": sources_offset_rule(ctx.mode),
        "detector": detector.name.replace("[stand-in]", ""),
        "detector_sha256": detector.sha256,
        "detector_identity": detector.identity,
        "detector_resolution": detector.input_resolution,
        "stand_in": bool(detector.stand_in),
        "seed": ctx.seed,
        "mode": ctx.mode,
    }


def sources_offset_rule(mode: str) -> str:
    from .sources import OFFSET_RULES

    return OFFSET_RULES[mode]


def metric_definition(metric: interfaces.Metric) -> dict[str, Any]:
    """The metric's own settings (its constructor arguments as attributes), detector objects excluded."""
    out = {}
    for key, value in sorted(vars(metric).items()):
        if key.startswith("_") or key == "name":
            continue
        if isinstance(value, (int, float, str, bool, type(None))) or (
            isinstance(value, (list, tuple, dict)) and len(str(value)) < 200
        ):
            out[key] = value
    return out


def detector_protocol(detector: Detector) -> dict[str, Any]:
    return {
        "detector": detector.name,
        "detector_sha256": detector.sha256,
        "stand_in": bool(detector.stand_in),
        "detector_resolution": detector.input_resolution,
    }


def frechet_output(
    name: str,
    fake_stats,
    real_stats,
    *,
    ctx: EvalContext,
    detector: Detector,
    resolution: int,
    fake_source: str,
    real_cache_hit: bool,
    **protocol: Any,
) -> MetricOutput:
    """FVD/FID's result: the Fréchet distance of merged statistics and the protocol fields both record."""
    from .stats import frechet_distance_from_stats

    value = frechet_distance_from_stats(
        fake_stats, real_stats, unbiased=ctx.unbiased_cov, device=ctx.device, official=ctx.official
    )
    protocol = {
        "num_real": real_stats.count,
        "num_fake": fake_stats.count,
        **protocol,
        "resolution": int(resolution),
        **detector_protocol(detector),
        "mode": ctx.mode,
        "seed": ctx.seed,
        "covariance": ctx.covariance,
        "fake_source": fake_source,
        "real_cache_hit": real_cache_hit,
        "world_size": ctx.world_size,
    }
    return MetricOutput(value=value, results={name: value}, protocol=protocol)


def parse_count(text: str) -> int:
    """'2048' -> 2048, '50k' -> 50000."""
    return int(text[:-1]) * 1000 if text.endswith("k") else int(text)


# name pattern -> factory(match, **kwargs); filled by the metric modules.
NAME_PATTERNS: list[tuple[re.Pattern, Callable[..., interfaces.Metric]]] = []


def name_pattern(pattern: str):
    def decorator(fn):
        NAME_PATTERNS.append((re.compile(pattern), fn))
        return fn

    return decorator


def build_metric(spec: Any) -> interfaces.Metric:
    """A metric from a registered name, a family pattern (``fvd64_16f``) or a ``{_name_: ..., **kwargs}`` spec."""
    if isinstance(spec, interfaces.Metric):
        return spec
    name, kwargs = split_spec(spec, "metric")
    key = canonical(name)
    try:
        METRICS.get(key)
    except UnknownComponentError as exc:
        for pattern, factory in NAME_PATTERNS:
            match = pattern.fullmatch(key)
            if match:
                return factory(match, **kwargs)
        raise UnknownComponentError(
            f"{exc}\n  metric names may also follow the patterns fvd<N>_<T>f[_subsample<S>f] (e.g. fvd64_16f), "
            "fid<N>[_full] (e.g. fid2k), consistency[<N>_]<T>f (e.g. consistency128f)"
        ) from None
    return METRICS.build({"_name_": key, **kwargs})


def preset(name: str, cls: type, **fixed: Any) -> None:
    """Register ``name`` as ``cls(**fixed)``; spec kwargs may still override (e.g. ``detector``)."""

    def factory(**overrides: Any) -> interfaces.Metric:
        return cls(**{**fixed, **overrides})

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = cls.__module__
    factory.__doc__ = f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in fixed.items())})"
    factory.direction = getattr(cls, "direction", "lower")
    METRICS.add(factory, name=name)
