"""``sgvb stats``: write a metric's real-side statistics to one file others can evaluate against without the dataset.

The file (see ``metrics.reference``) holds float64 sums, counts, the real-side protocol and the dataset's
content fingerprint; ``sgvb eval real_stats=<file>`` refuses it when the evaluation's protocol differs.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import benchmarks.conf  # noqa: F401  (registers the typed schemas)
from benchmarks.commands.eval_inputs import EvalConfigError, build_at_own_resolution, dataset_spec
from benchmarks.config.commands import StatsConfig, typed_settings


def run(cfg: DictConfig | StatsConfig):
    """Compute and write the statistics; return the ``ReferenceStats`` written. ``cfg``: a composed ``stats``
    config (converted once to ``StatsConfig`` here; a missing ``out`` fails before any work) or the settings."""
    from metrics.evaluation import reference_statistics
    from registry.devices import resolve_device

    settings = typed_settings(cfg, StatsConfig)
    if not settings.dataset or not settings.dataset.get("_name_"):
        raise EvalConfigError("no dataset: pass dataset=<frames|mp4|synthetic> dataset.path=...")
    real = build_at_own_resolution(dataset_spec(settings.dataset, None), "dataset")
    from pathlib import Path

    from registry.files import check_writable

    check_writable(Path(settings.out).expanduser().parent, "output folder")  # before the statistics, not after
    with _progress(settings):
        ref = reference_statistics(
            settings.metric,
            real=real,
            device=resolve_device(settings.device),
            detector_path=settings.detector_path,
            seed=settings.seed,
            batch_size=settings.batch_size,
            mode=settings.mode,
            allow_stand_in_detectors=settings.allow_stand_in_detectors,
            cache_dir=settings.cache_dir,
            allow_fewer=settings.allow_fewer,
        )
    path = ref.save(settings.out)
    counts = ", ".join(f"{c['used']}/{c['requested']} {what}" for what, c in ref.counts.items())
    print(
        f"{ref.protocol['metric']}: real statistics of {int(ref.arrays['n'])} items ({counts}) -> {path}",
        file=sys.stderr,
    )
    print(path)
    return ref


def _progress(settings: StatsConfig):
    """The real side's progress (rate, ETA; ``benchmarks.progress``), or nothing with ``progress=false``."""
    import contextlib

    from benchmarks.progress import MetricProgress
    from metrics.base import reporting_progress
    from metrics.evaluation import split_detector_path

    if not settings.progress:
        return contextlib.nullcontext()
    metric, _ = split_detector_path(settings.metric, None)
    return reporting_progress(MetricProgress(metric))


@hydra.main(version_base="1.3", config_path="../conf", config_name="stats")
def main(cfg: DictConfig) -> int:
    from benchmarks.errors import one_line_errors
    from metrics import WeightsError
    from registry import RegistryError

    with one_line_errors("stats", known=(ValueError, TypeError, FileNotFoundError, RegistryError, WeightsError)):
        run(cfg)
    return 0


if __name__ == "__main__":
    main()
