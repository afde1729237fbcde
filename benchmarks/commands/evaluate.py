"""``sgvb eval``: evaluate metrics for a run folder, a checkpoint or a folder of generated videos (Hydra front end).

Every evaluation appends one record to ``metric-<name>.jsonl`` of the run folder (or of ``run_dir``)
through ``metrics.evaluate``; the same record is printed as one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

import benchmarks.conf  # noqa: F401  (registers the typed schemas)
from benchmarks.commands.eval_inputs import EvalConfigError, dataset_spec, metric_list
from benchmarks.config.commands import EvalConfig, FakeSource, typed_settings


def run_folder_of(checkpoint: Path) -> Path | None:
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def checkpoints_to_evaluate(fake: FakeSource) -> list[Path]:
    from benchmarks.records.checkpoint import list_checkpoints, resolve_checkpoint_path

    if fake.checkpoint:
        path = Path(fake.checkpoint).expanduser()
        if not path.exists():
            raise EvalConfigError(f"fake.checkpoint: '{path}' does not exist")
        return [resolve_checkpoint_path(path)]
    run = Path(fake.run_dir).expanduser()
    if not run.is_dir():
        raise EvalConfigError(f"fake.run_dir: '{run}' is not a folder")
    found = list_checkpoints(run)
    if not found:
        raise EvalConfigError(f"fake.run_dir: '{run}' has no checkpoints/ckpt-*.pt")
    return found if fake.all_checkpoints else [resolve_checkpoint_path(run)]


def videos_dataset(path: str, resolution: int):
    """A folder of generated videos as a dataset (frames layout or video files), refused unless every video is
    ``resolution`` squared."""
    from benchmarks.commands.eval_inputs import check_fake_folder
    from registry import DATASETS

    p = Path(path).expanduser()
    if not p.exists():
        raise EvalConfigError(f"fake.videos: '{p}' does not exist")
    has_dirs = p.is_dir() and any(child.is_dir() for child in p.iterdir())
    kind = "frames" if p.suffix == ".zip" or has_dirs else "mp4"
    dataset = DATASETS.build({"_name_": kind, "path": str(p), "resolution": resolution})
    check_fake_folder(dataset, p, resolution)
    return dataset


def check_detector_paths(metrics: list[Any], detector_path: Any) -> None:
    """One detector file cannot serve metrics that need different detectors: refuse before anything runs."""
    from metrics import build_metric

    if detector_path is None or Path(str(detector_path)).expanduser().is_dir():
        return
    shared = {}
    for spec in metrics:
        if isinstance(spec, dict) and spec.get("detector_path"):
            continue
        m = build_metric({k: v for k, v in spec.items() if k != "detector_path"} if isinstance(spec, dict) else spec)
        shared[m.name] = str(getattr(m, "detector_spec", "?"))
    if len(set(shared.values())) > 1:
        needs = ", ".join(f"{name} -> {det}" for name, det in shared.items())
        raise EvalConfigError(
            f"detector_path: one file ('{detector_path}') for metrics that need different detectors ({needs}); "
            "give a folder "
            "holding each detector's file, or a path per metric: metrics=[...,{_name_:<metric>,detector_path:<file>}]"
        )


def real_side(settings: EvalConfig, run_dir: Path | None):
    """The real side: reference statistics (``real_stats``), or the dataset at its own resolution unless one is
    given."""
    from benchmarks.commands.eval_inputs import build_at_own_resolution
    from metrics.reference import ReferenceStats

    if settings.real_stats:
        return ReferenceStats.load(settings.real_stats)
    return build_at_own_resolution(dataset_spec(settings.dataset, run_dir), "dataset")


def run(cfg: DictConfig | EvalConfig) -> list[dict]:
    """Evaluate every metric for every selected source; return the records. ``cfg``: a composed ``eval`` config
    (converted once to ``EvalConfig`` here) or the typed settings themselves."""
    from metrics import build_metric, evaluate
    from registry.devices import resolve_device

    settings = typed_settings(cfg, EvalConfig)
    fake = settings.fake
    sources_given = [k for k in ("run_dir", "checkpoint", "videos") if getattr(fake, k)]
    if len(sources_given) != 1:
        raise EvalConfigError(
            f"give exactly one of fake.run_dir, fake.checkpoint, fake.videos (got {sources_given or 'none'})"
        )
    metrics = metric_list(settings.metrics)
    if not metrics:
        raise EvalConfigError("metrics is empty: e.g. metrics=[fvd2048_16f]")
    for m in metrics:
        build_metric(
            {k: v for k, v in m.items() if k != "detector_path"} if isinstance(m, dict) else m
        )  # unknown names fail before anything is loaded
    check_detector_paths(metrics, settings.detector_path)
    device = resolve_device(settings.device)
    common = dict(
        device=device,
        seed=settings.seed,
        mode=settings.mode,
        batch_size=settings.batch_size,
        detector_path=settings.detector_path,
        allow_stand_in_detectors=settings.allow_stand_in_detectors,
        cache_dir=settings.cache_dir,
        allow_fewer=settings.allow_fewer,
        num_runs=settings.num_runs,
    )
    records = []
    if fake.videos:
        real = real_side(settings, None)
        fake_ds = videos_dataset(fake.videos, real.resolution)
        for m in metrics:
            records.append(evaluate(m, fake=fake_ds, real=real, run_dir=settings.run_dir, **common))
            _print(records[-1])
        return records

    from benchmarks.records.checkpoint import load_generator_and_kimg
    from stylegan_v.official_noise import with_noise_mode  # noise=official: the official metric code's draws

    checkpoints = checkpoints_to_evaluate(fake)
    home = Path(fake.run_dir).expanduser() if fake.run_dir else run_folder_of(checkpoints[0])
    real = real_side(settings, home)
    for ckpt in checkpoints:
        G, kimg = load_generator_and_kimg(ckpt, device=device, ema=fake.ema)
        if int(G.resolution) != int(real.resolution):
            raise EvalConfigError(
                f"generator resolution {G.resolution} ('{ckpt}') != real data resolution {real.resolution}; "
                f"real and fake must match: pass dataset.resolution={G.resolution} to resize the real data "
                "(or evaluate against data at that size)"
            )
        out_dir = settings.run_dir if settings.run_dir is not None else run_folder_of(ckpt)
        for m in metrics:
            generator = with_noise_mode(G, noise=settings.noise, seed=settings.seed)
            records.append(
                evaluate(m, fake=generator, real=real, run_dir=out_dir, kimg=kimg, checkpoint=str(ckpt), **common)
            )
            _print(records[-1])
        del G
    return records


def _print(record: dict) -> None:
    p = record["protocol"]
    flag = " [STAND-IN DETECTOR]" if p.get("stand_in") else ""
    std = f" ± {record['value_std']:.4f} over {p['num_runs']} runs" if "value_std" in record else ""
    counts = ", ".join(f"{c['used']}/{c['requested']} {what}" for what, c in p.get("counts", {}).items())
    fewer = " [FEWER THAN ITS NAME STATES]" if p.get("fewer_than_name") else ""
    print(
        f"{record['metric']} = {record['value']:.4f}{std}{flag}{fewer}  "
        f"({counts}; {p.get('protocol_id')}; kimg {record['kimg']}, "
        f"{record['wall_time_s']:.1f}s)",
        file=sys.stderr,
    )
    print(json.dumps(record))


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> int:
    from benchmarks.errors import one_line_errors
    from metrics import WeightsError
    from registry import RegistryError

    # bad options, data or weights (missing, wrong checksum, not the metric's kind): one line, details in a log
    with one_line_errors(
        "eval", known=(ValueError, TypeError, FileNotFoundError, RegistryError, WeightsError), log_dir=cfg.run_dir
    ):
        run(typed_settings(cfg, EvalConfig))
    return 0


if __name__ == "__main__":
    main()
