"""``metrics.evaluate``: run one metric on a generator or a folder of videos against a dataset, and record it.

Each call returns one record and, with ``run_dir``, appends it as a JSON line to
``<run_dir>/metric-<name>.jsonl`` (the StyleGAN2-ADA habit: any snapshot can be re-evaluated later and
results never live only in a log). Every record says how the number was measured (``protocol``).
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from .base import EvalContext, build_metric, dist_info, is_dataset, is_generator
from .sources import check_mode


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda or "none"}
    for dist in ("stylegan-v-bench", "numpy", "scipy", "timm", "torchvision"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def append_jsonl(path: Path, record: dict) -> None:
    """Append one line atomically: one ``write`` on an O_APPEND descriptor under an exclusive lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=False, default=_json_default) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _pick_device(device: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


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
) -> dict:
    """Compute ``metric`` (registry name, family pattern or spec) of ``fake`` against ``real`` and return its record.

    ``fake``: a ``VideoGenerator`` (sampled through ``iter_frames``) or a ``VideoDataset`` of generated
    videos; ``real``: a ``VideoDataset``. Under torch.distributed every process calls this with the same
    arguments; work is split across processes and process 0 writes the record.
    """
    check_mode(mode)
    if not is_dataset(real):
        raise TypeError(f"'real' must be a VideoDataset (read_frames, video_length, __len__, fingerprint), got {type(real).__name__}")
    if not (is_generator(fake) or is_dataset(fake)):
        raise TypeError(f"'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    m = build_metric(metric)
    rank, world = dist_info()
    run_dir = Path(run_dir) if run_dir is not None else None
    tag = f"kimg{int(round(kimg)):06d}" if kimg is not None else datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    ctx = EvalContext(
        device=_pick_device(device), seed=int(seed), mode=mode, batch_size=batch_size,
        detector_path=str(detector_path) if detector_path is not None else None, allow_stand_in=bool(allow_stand_in_detectors),
        cache_dir=cache_dir, run_dir=run_dir, artifact_tag=tag, rank=rank, world_size=world,
        num_threads=min(8, os.cpu_count() or 1),
    )
    start = time.perf_counter()
    with torch.no_grad():  # generator chunks are consumed lazily: grad mode must be off for the whole computation
        out = m.compute(ctx, fake, real)
    wall = time.perf_counter() - start
    record = {
        "metric": m.name,
        "value": float(out.value),
        "results": {k: float(v) for k, v in out.results.items()},
        "protocol": out.protocol,
        "kimg": kimg,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "wall_time_s": round(wall, 3),
        "versions": versions(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "real_fingerprint": real.fingerprint(),
    }
    if out.artifacts:
        record["artifacts"] = out.artifacts
    if run_dir is not None and rank == 0:
        append_jsonl(run_dir / f"metric-{m.name}.jsonl", record)
    return record
