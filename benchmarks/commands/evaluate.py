"""``sgvb eval``: evaluate metrics for a run folder, a checkpoint or a folder of generated videos (Hydra front end).

Every evaluation appends one record to ``metric-<name>.jsonl`` of the run folder (or of ``run_dir``)
through ``metrics.evaluate``; the console gets progress per metric and side (``progress=false``: none) and one
summary line per record (value, runs, counts, protocol, kimg, time, and the file holding the full record).
"""

from __future__ import annotations

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
    _check_outputs_writable(settings, fake)  # a read-only run folder fails now, not after the whole metric
    if fake.videos:
        real = real_side(settings, None)
        fake_ds = videos_dataset(fake.videos, real.resolution)
        for m in metrics:
            with _progress(settings, m):
                records.append(evaluate(m, fake=fake_ds, real=real, run_dir=settings.run_dir, **common))
            _print(records[-1], settings.run_dir)
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
            with _progress(settings, m, kimg=kimg if len(checkpoints) > 1 else None):
                records.append(
                    evaluate(m, fake=generator, real=real, run_dir=out_dir, kimg=kimg, checkpoint=str(ckpt), **common)
                )
            _print(records[-1], out_dir)
        del G
    return records


def _check_outputs_writable(settings: EvalConfig, fake: Any) -> None:
    """Every folder the metric records will be appended in can take a file (``registry.files.check_writable``)."""
    from registry.files import check_writable

    folders = {settings.run_dir} if settings.run_dir is not None else set()
    if settings.run_dir is None and not fake.videos:
        folders |= {run_folder_of(ckpt) for ckpt in checkpoints_to_evaluate(fake)} - {None}
    for folder in folders:
        check_writable(Path(folder).expanduser(), "run folder")


def _progress(settings: EvalConfig, metric: Any, kimg: float | None = None):
    """Progress of one metric's evaluation (``benchmarks.progress``), or nothing with ``progress=false``."""
    import contextlib

    from benchmarks.progress import MetricProgress
    from metrics import build_metric
    from metrics.base import reporting_progress

    if not settings.progress:
        return contextlib.nullcontext()
    built = build_metric(
        {k: v for k, v in metric.items() if k != "detector_path"} if isinstance(metric, dict) else metric
    )
    label = built.name + (f" @ kimg {kimg:g}" if kimg is not None else "")
    return reporting_progress(MetricProgress(built, num_runs=settings.num_runs, label=label))


def summary_line(record: dict, record_dir: Any = None) -> str:
    """One line for a record: value (mean ± std over runs), flags, counts, protocol id, kimg, time, and its file."""
    from metrics.records import metric_file

    p = record["protocol"]
    flag = " [stand-in detector]" if p.get("stand_in") else ""
    std = f" ± {record['value_std']:.4g} over {p['num_runs']} runs" if "value_std" in record else ""
    counts = ", ".join(f"{c['used']}/{c['requested']} {what}" for what, c in p.get("counts", {}).items())
    fewer = " [fewer than its name states]" if p.get("fewer_than_name") else ""
    kimg = f"kimg {record['kimg']:g}; " if record.get("kimg") is not None else ""
    where = f" -> {metric_file(record_dir, record['metric'])}" if record_dir is not None else ""
    return (
        f"{record['metric']} = {record['value']:.4f}{std}{flag}{fewer}  "
        f"({counts}; {p.get('protocol_id')}; {kimg}{record['wall_time_s']:.1f}s){where}"
    )


def _print(record: dict, record_dir: Any = None) -> None:
    print(summary_line(record, record_dir), flush=True)


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> int:
    from pickle import UnpicklingError  # an unsafe pickle refused by the safe reader

    from benchmarks.errors import one_line_errors
    from metrics import WeightsError
    from registry import RegistryError

    # bad options, data or weights (missing, wrong checksum, not the metric's kind): one line, details in a log
    known = (ValueError, TypeError, FileNotFoundError, RegistryError, WeightsError, UnpicklingError)
    with one_line_errors("eval", known=known, log_dir=cfg.run_dir):
        run(typed_settings(cfg, EvalConfig))
    return 0


if __name__ == "__main__":
    main()
