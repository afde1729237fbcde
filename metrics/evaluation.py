"""``metrics.evaluate``: run one metric on a generator or a folder of videos against a dataset, and record it.

Each call returns one record (the JSON form of ``metrics.records.MetricRecord``, the format's one owner) and,
with ``run_dir``, appends it as a JSON line to ``<run_dir>/metric-<name>.jsonl`` (the StyleGAN2-ADA habit:
any snapshot can be re-evaluated later and results never live only in a log). Every record says how the
number was measured (``protocol``) and which snapshot (``kimg``/``checkpoint``). Fréchet metrics also record their
covariances' numerical ranks (``protocol.covariance_rank``: data, not definition, so outside the protocol hash), so a
distance from rank-deficient covariances (N <= d) never passes for a full-rank one.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from registry.devices import resolve_device
from registry.files import kimg_tag

from .base import EvalContext, build_metric, dist_info, is_dataset, is_generator
from .protocol import protocol_identity
from .records import MetricRecord, append_metric_record
from .reference import ReferenceStats
from .sources import check_mode
from .stats import recording_ranks


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda or "none"}
    for dist in ("stylegan-v-bench", "numpy", "scipy", "timm", "torchvision"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def split_detector_path(metric: Any, detector_path: Any) -> tuple[Any, Any]:
    """(built metric, its detector path): a dict spec's own ``detector_path`` wins over the shared one."""
    if isinstance(metric, dict) and "detector_path" in metric:
        metric = dict(metric)
        detector_path = metric.pop("detector_path")
    return build_metric(metric), detector_path


def reference_statistics(
    metric: Any,
    *,
    real: Any,
    device: Any = None,
    detector_path: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    mode: str = "default",
    allow_stand_in_detectors: bool = False,
    cache_dir: str | os.PathLike | None = None,
    allow_fewer: bool = False,
) -> ReferenceStats:
    """The real side of ``metric`` on ``real`` as shareable reference statistics (what ``sgvb stats`` writes):
    the metric's ``real_side`` (``registry.interfaces.Metric``) with the dataset's identity added."""
    check_mode(mode)
    if not is_dataset(real):
        raise TypeError(f"'real' must be a VideoDataset, got {type(real).__name__}")
    m, detector_path = split_detector_path(metric, detector_path)
    ctx = _context(device, seed, mode, batch_size, detector_path, allow_stand_in_detectors, cache_dir, allow_fewer)
    with torch.no_grad():
        side = m.real_side(ctx, real)
    arrays = {k: np.asarray(v, np.float64) for k, v in side.arrays.items()}
    return ReferenceStats(
        arrays, side.protocol, fingerprint=real.fingerprint(), resolution=real.resolution, counts=side.counts
    )


def _context(
    device, seed, mode, batch_size, detector_path, allow_stand_in, cache_dir, allow_fewer, **extra
) -> EvalContext:
    """The evaluation context both entry points build (this process's rank and device, the caller's settings)."""
    rank, world = dist_info()
    return EvalContext(
        device=resolve_device(device),
        seed=int(seed),
        mode=mode,
        batch_size=batch_size,
        detector_path=str(detector_path) if detector_path is not None else None,
        allow_stand_in=bool(allow_stand_in),
        cache_dir=cache_dir,
        rank=rank,
        world_size=world,
        num_threads=min(8, os.cpu_count() or 1),
        allow_fewer=bool(allow_fewer),
        **extra,
    )


def evaluation_context(
    *,
    device: Any = None,
    seed: int = 0,
    mode: str = "default",
    batch_size: int | None = None,
    detector_path: str | os.PathLike | None = None,
    allow_stand_in_detectors: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> EvalContext:
    """The context ``evaluate`` builds, for callers that compute features themselves through its detectors and real
    statistics cache (``benchmarks.audit.sample_size``)."""
    check_mode(mode)
    return _context(device, seed, mode, batch_size, detector_path, allow_stand_in_detectors, cache_dir, False)


def run_seed(seed: int, run: int) -> int:
    """Seed of run ``run`` of a repeated evaluation: ``seed`` itself for run 0 (so num_runs=1 is the plain
    evaluation)."""
    if run == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(run)]).generate_state(1)[0] % (2**31))


def evaluate(
    metric: Any,
    *,
    fake: Any,
    real: Any,
    run_dir: str | os.PathLike | None = None,
    device: Any = None,
    detector_path: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    mode: str = "default",
    kimg: float | None = None,
    checkpoint: str | os.PathLike | None = None,
    allow_stand_in_detectors: bool = False,
    cache_dir: str | os.PathLike | None = None,
    allow_fewer: bool = False,
    num_runs: int = 1,
) -> dict:
    """Compute ``metric`` (registry name, family pattern or spec) of ``fake`` against ``real`` and return its record.

    ``fake``: a ``VideoGenerator`` (sampled through ``iter_frames``) or a ``VideoDataset`` of generated
    videos; ``real``: a ``VideoDataset``, or a ``ReferenceStats`` file written by ``sgvb stats`` (used only when
    its protocol matches). Under torch.distributed every process calls this with the same arguments; work
    is split across processes and process 0 writes the record.

    ``allow_fewer``: in the default mode a metric refuses to run on fewer items than its name states
    unless this is set (the record's ``protocol.counts`` says what was used either way). ``num_runs``:
    the random draws (real clip offsets; fake samples from a generator) are repeated with ``num_runs``
    derived seeds (run 0 uses ``seed``); the record keeps every run's value and the mean and std.
    A dict spec may carry its own ``detector_path`` (per-metric detector); it overrides ``detector_path``.
    """
    check_mode(mode)
    if not (is_dataset(real) or isinstance(real, ReferenceStats)):
        raise TypeError(
            "'real' must be a VideoDataset (read_frames, video_length, __len__, fingerprint), "
            f"got {type(real).__name__}"
        )
    if not (is_generator(fake) or is_dataset(fake)):
        raise TypeError(f"'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if int(num_runs) < 1:
        raise ValueError(f"num_runs must be >= 1, got {num_runs}")
    if run_dir is not None and is_generator(fake) and kimg is None and checkpoint is None:
        raise ValueError(
            "run_dir: a record of a generator must say which snapshot it measured; give kimg or checkpoint"
        )
    m, detector_path = split_detector_path(metric, detector_path)
    if isinstance(real, ReferenceStats) and not m.shares_real_statistics:
        raise ValueError(f"real_stats: metric '{m.name}' cannot use reference statistics; give the dataset instead")
    run_dir = Path(run_dir) if run_dir is not None else None
    tag = f"kimg{kimg_tag(kimg)}" if kimg is not None else datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    ctx = _context(
        device,
        seed,
        mode,
        batch_size,
        detector_path,
        allow_stand_in_detectors,
        cache_dir,
        allow_fewer,
        run_dir=run_dir,
        artifact_tag=tag,
        num_runs=int(num_runs),
    )
    start = time.perf_counter()
    outs = []
    # generator chunks are consumed lazily: grad mode must be off for the whole computation
    with torch.no_grad(), recording_ranks() as ranks:
        for r in range(ctx.num_runs):
            tag = ctx.artifact_tag if ctx.num_runs == 1 else f"{ctx.artifact_tag}-run{r}"
            outs.append(
                m.compute(
                    dataclasses.replace(ctx, seed=run_seed(ctx.seed, r), run_index=r, artifact_tag=tag), fake, real
                )
            )
    wall = time.perf_counter() - start
    out = outs[0]
    values = np.array([o.value for o in outs], dtype=np.float64)
    protocol = {
        **out.protocol,
        "seed": ctx.seed,
        "num_runs": ctx.num_runs,
        "counts": ctx.counts,
        "allow_fewer": ctx.allow_fewer,
        "fewer_than_name": any(c["used"] < c["requested"] for c in ctx.counts.values()),
    }
    protocol.update(protocol_identity(m, protocol))
    if ranks:  # Fréchet metrics: the covariances' ranks (data, not definition: set after the identity, not hashed)
        protocol["covariance_rank"] = min(ranks, key=lambda r: min(r["fake"], r["real"]))
    # every record says both (built-in metrics do, a plugin's may not); set after the identity, which they leave as is
    protocol["stand_in"] = bool(protocol.get("stand_in", False))
    protocol.setdefault("fake_source", "generator" if is_generator(fake) else "videos")
    if ctx.official and protocol["fewer_than_name"] and ctx.rank == 0:
        print(
            f"{m.name}: mode=official used "
            + ", ".join(f"{c['used']} of {c['requested']} {what}" for what, c in ctx.counts.items()),
            file=sys.stderr,
        )
    repeated = {}
    if ctx.num_runs > 1:
        # population std (ddof=0) over the runs, as DIGAN's mean ± std over trials
        runs = [
            {
                "seed": run_seed(ctx.seed, r),
                "value": float(o.value),
                "results": {k: float(v) for k, v in o.results.items()},
            }
            for r, o in enumerate(outs)
        ]
        repeated = dict(value_std=float(values.std()), runs=runs)
    artifacts = (
        {k: v for o in outs for k, v in (o.artifacts or {}).items()}
        if ctx.num_runs == 1
        else {f"run{r}/{k}": v for r, o in enumerate(outs) for k, v in (o.artifacts or {}).items()}
    )
    record = MetricRecord(
        metric=m.name,
        value=float(values.mean()),
        results={k: float(np.mean([o.results[k] for o in outs])) for k in out.results},
        protocol=protocol,
        kimg=kimg,
        checkpoint=str(checkpoint) if checkpoint is not None else None,
        wall_time_s=round(wall, 3),
        versions=versions(),
        timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        real_fingerprint=real.fingerprint(),
        artifacts=artifacts or None,
        **repeated,
    )
    if run_dir is not None and ctx.rank == 0:
        append_metric_record(run_dir, record)
    return record.to_json()
