"""``sgvb audit``: Hydra front end of ``benchmarks.audit.runner.run_audit`` (``benchmarks/conf/audit.yaml``)."""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from benchmarks.commands.evaluate import _container, metric_list
from registry.devices import resolve_device


def run(cfg: DictConfig):
    from registry import DATASETS

    from benchmarks.audit.runner import run_audit

    spec = _container(cfg.get("dataset"))
    if not spec:
        raise ValueError("no dataset: pass dataset=<frames|mp4|synthetic> dataset.path=... (or preset=quick)")
    return run_audit(
        DATASETS.build(spec), metrics=metric_list(cfg.metrics), distortions=metric_list(cfg.distortions),
        strengths=list(_container(cfg.strengths) or []), num_videos=int(cfg.num_videos), out_dir=cfg.out_dir,
        device=resolve_device(cfg.device), seed=int(cfg.seed), batch_size=cfg.batch_size, distortion_batch=int(cfg.distortion_batch),
        clip_frames=int(cfg.clip_frames), detector_path=cfg.detector_path, allow_stand_in_detectors=bool(cfg.allow_stand_in_detectors),
        cache_dir=cfg.cache_dir,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="audit")
def main(cfg: DictConfig) -> int:
    from registry import RegistryError

    try:
        run(cfg)
    except (ValueError, TypeError, FileNotFoundError, RegistryError) as exc:  # bad options, data or missing weights: one message
        print(f"sgvb audit: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"sgvb audit: wrote {cfg.out_dir}/audit.csv, summary.md and response_<family>.png/pdf", file=sys.stderr)
    return 0


if __name__ == "__main__":
    main()
