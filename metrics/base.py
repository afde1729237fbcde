"""What every metric shares: the evaluation context (device, seed, mode, ranks, detectors, real-stat cache)
and the ``Metric`` interface.

A metric is registered in ``METRICS`` under a name that encodes its protocol (``fvd2048_16f``); families
(``fvd``, ``fid``, ``consistency``) take the counts as keyword arguments, and names following a family's
pattern (``fvd64_16f``, ``fid2k``, ``consistency256_128f``) are understood without being registered.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from registry import METRICS, UnknownComponentError
from registry.core import canonical, split_spec
from registry.interfaces import VideoGenerator

from . import cache
from .distributed import all_reduce_, broadcast_object, dist_info  # noqa: F401 (re-exported)
from .detectors import Detector, load_detector


@dataclasses.dataclass
class EvalContext:
    """Everything a metric needs besides its own protocol. Built by ``metrics.evaluate``."""

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

    def detector(self, spec: Any, *, stand_in_resolution: int | None = None) -> Detector:
        kwargs = {"stand_in_resolution": stand_in_resolution} if stand_in_resolution is not None else {}
        return load_detector(spec, path=self.detector_path, device=self.device, allow_stand_in=self.allow_stand_in, seed=0, **kwargs)

    def torch_generator(self) -> torch.Generator:
        from .sources import process_seed

        return torch.Generator().manual_seed(process_seed(self.seed, self.rank, self.world_size))

    def cached_real(self, prefix: str, fields: dict, compute: Callable[[], dict[str, torch.Tensor]]) -> tuple[dict[str, np.ndarray], bool]:
        """Summed real-data statistics: loaded from the cache, or computed per process, all-reduced and saved.

        ``compute`` returns this process's partial float64 sums; they must add up across processes.
        Returns (arrays, cache_hit).
        """
        path = cache.cache_path(self.cache_dir, prefix, fields)
        hit = cache.load(path) if self.rank == 0 else None
        hit = broadcast_object(hit)
        if hit is not None:
            return {k: v for k, v in hit.items() if k != "_key"}, True
        sums = all_reduce_(compute())
        arrays = {k: v.detach().cpu().numpy() for k, v in sums.items()}
        if self.rank == 0:
            cache.save(path, arrays, fields)
        return arrays, False


@dataclasses.dataclass
class MetricOutput:
    value: float
    results: dict[str, float]
    protocol: dict[str, Any]
    artifacts: dict[str, str] = dataclasses.field(default_factory=dict)


class Metric:
    """A registered metric: ``compute(ctx, fake, real) -> MetricOutput``. ``name`` encodes the protocol."""

    name: str
    direction: str = "lower"  # which way is better: "lower" (distances) or "higher" (Inception Scores); tables read it

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        raise NotImplementedError


def is_generator(source: Any) -> bool:
    return isinstance(source, VideoGenerator) or (callable(getattr(source, "iter_frames", None)) and hasattr(source, "z_dim"))


def is_dataset(source: Any) -> bool:
    return all(callable(getattr(source, m, None)) for m in ("read_frames", "video_length", "__len__"))


def check_same_resolution(metric: str, fake: Any, real: Any) -> None:
    """Fake and real frames must come at one resolution (the protocol's ``resolution``)."""
    got = getattr(fake, "resolution", None)
    if got is None:
        raise TypeError(f"{metric}: 'fake' ({type(fake).__name__}) has no 'resolution' attribute")
    if int(got) != int(real.resolution):
        what = "generator" if is_generator(fake) else "fake videos"
        raise ValueError(f"{metric}: {what} resolution {got} != dataset resolution {real.resolution}; "
                         "build the dataset (or the fake video folder) at the generator's resolution")


def detector_protocol(detector: Detector) -> dict[str, Any]:
    return {
        "detector": detector.name,
        "detector_sha256": detector.sha256,
        "stand_in": bool(detector.stand_in),
        "detector_resolution": detector.input_resolution,
    }


def frechet_output(name: str, fake_stats, real_stats, *, ctx: EvalContext, detector: Detector, resolution: int,
                   fake_source: str, real_cache_hit: bool, **protocol: Any) -> MetricOutput:
    """FVD/FID's result: the Fréchet distance of merged statistics and the protocol fields both record."""
    from .stats import frechet_distance_from_stats

    value = frechet_distance_from_stats(fake_stats, real_stats, unbiased=ctx.unbiased_cov, device=ctx.device)
    protocol = {
        "num_real": real_stats.count, "num_fake": fake_stats.count, **protocol, "resolution": int(resolution),
        **detector_protocol(detector), "mode": ctx.mode, "seed": ctx.seed, "covariance": ctx.covariance,
        "fake_source": fake_source, "real_cache_hit": real_cache_hit, "world_size": ctx.world_size,
    }
    return MetricOutput(value=value, results={name: value}, protocol=protocol)


def parse_count(text: str) -> int:
    """'2048' -> 2048, '50k' -> 50000."""
    return int(text[:-1]) * 1000 if text.endswith("k") else int(text)


# name pattern -> factory(match, **kwargs); filled by the metric modules.
NAME_PATTERNS: list[tuple[re.Pattern, Callable[..., Metric]]] = []


def name_pattern(pattern: str):
    def decorator(fn):
        NAME_PATTERNS.append((re.compile(pattern), fn))
        return fn

    return decorator


def build_metric(spec: Any) -> Metric:
    """A metric from a registered name, a family pattern (``fvd64_16f``) or a ``{_name_: ..., **kwargs}`` spec."""
    if isinstance(spec, Metric):
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

    def factory(**overrides: Any) -> Metric:
        return cls(**{**fixed, **overrides})

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = cls.__module__
    factory.__doc__ = f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in fixed.items())})"
    METRICS.add(factory, name=name)
