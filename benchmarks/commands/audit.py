"""``sgvb audit``: Hydra front end of ``benchmarks.audit.runner.run_audit`` (``benchmarks/conf/audit.yaml``;
every key's type and default in ``benchmarks.config.commands.AuditConfig``)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import benchmarks.conf  # noqa: F401  (registers the typed schemas)
from benchmarks.commands.eval_inputs import metric_list
from benchmarks.config.commands import AuditConfig, typed_settings
from registry.devices import resolve_device


def run(cfg: DictConfig | AuditConfig):
    """Run the audit; return its table. ``cfg``: a composed ``audit`` config (converted once here) or the settings."""
    from benchmarks.audit.runner import run_audit
    from registry import DATASETS

    settings = typed_settings(cfg, AuditConfig)
    if not settings.dataset:
        raise ValueError("no dataset: pass dataset=<frames|mp4|synthetic> dataset.path=... (or preset=quick)")
    return run_audit(
        DATASETS.build(settings.dataset),
        metrics=metric_list(settings.metrics),
        distortions=metric_list(settings.distortions),
        strengths=settings.strengths,
        num_videos=settings.num_videos,
        out_dir=settings.out_dir,
        device=resolve_device(settings.device),
        seed=settings.seed,
        batch_size=settings.batch_size,
        distortion_batch=settings.distortion_batch,
        clip_frames=settings.clip_frames,
        detector_path=settings.detector_path,
        allow_stand_in_detectors=settings.allow_stand_in_detectors,
        cache_dir=settings.cache_dir,
        progress=settings.progress,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="audit")
def main(cfg: DictConfig) -> int:
    from benchmarks.errors import one_line_errors
    from metrics import WeightsError
    from registry import RegistryError

    # bad options, data or missing weights: one line, details in a log
    with one_line_errors("audit", known=(ValueError, TypeError, FileNotFoundError, RegistryError, WeightsError)):
        settings = typed_settings(cfg, AuditConfig)
        run(settings)
    print(
        f"sgvb audit: wrote {settings.out_dir}/audit.csv, summary.md, response.png/pdf (every metric on one axis) "
        "and response_<family>.png/pdf",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    main()
