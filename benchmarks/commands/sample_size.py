"""``sgvb sample-size``: how many videos each metric needs for a stable value and a stable ranking of configurations
(relative std and Kendall tau against N, N_stable per metric; ``benchmarks/conf/sample_size.yaml``, every key's type
and default in ``benchmarks.config.commands.SampleSizeConfig``)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import benchmarks.conf  # noqa: F401  (registers the typed schemas)
from benchmarks.commands.eval_inputs import metric_list
from benchmarks.config.commands import SampleSizeConfig, typed_settings
from registry.devices import resolve_device


def run(cfg: DictConfig | SampleSizeConfig) -> dict:
    """Run the study; return its ``n_stable.json`` content. ``cfg``: a composed config or the settings."""
    from benchmarks.audit.sample_size import run_sample_size
    from registry import DATASETS

    settings = typed_settings(cfg, SampleSizeConfig)
    if not settings.dataset:
        raise ValueError("no dataset: pass dataset=<sample_footage|frames|mp4|synthetic> (dataset.path=... for files)")
    return run_sample_size(
        DATASETS.build(settings.dataset),
        metrics=list(settings.metrics),
        distortions=metric_list(settings.distortions),
        strengths=settings.strengths,
        num_videos=settings.num_videos,
        out_dir=settings.out_dir,
        sizes=settings.sizes,
        repeats=settings.repeats,
        clip_frames=settings.clip_frames,
        frames_per_clip=settings.frames_per_clip,
        max_rel_std=settings.max_rel_std,
        min_tau=settings.min_tau,
        distortion_batch=settings.distortion_batch,
        device=resolve_device(settings.device),
        seed=settings.seed,
        batch_size=settings.batch_size,
        detector_path=settings.detector_path,
        allow_stand_in_detectors=settings.allow_stand_in_detectors,
        cache_dir=settings.cache_dir,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample_size")
def main(cfg: DictConfig) -> int:
    from benchmarks.errors import one_line_errors
    from metrics import WeightsError
    from registry import RegistryError

    with one_line_errors("sample-size", known=(ValueError, TypeError, FileNotFoundError, RegistryError, WeightsError)):
        settings = typed_settings(cfg, SampleSizeConfig)
        report = run(settings)
    for name, m in report["metrics"].items():
        n = m["n_stable"] if m["n_stable"] is not None else f"not reached (largest N {m['largest_n']})"
        short = f"; covariance rank < d up to N = {m['rank_deficient_up_to']}" if m["rank_deficient_up_to"] else ""
        print(f"N_stable {name}: {n}{short}")
    print(
        f"sgvb sample-size: wrote {settings.out_dir}/sample_size.csv, sample_size.png, n_stable.json and summary.md",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    main()
