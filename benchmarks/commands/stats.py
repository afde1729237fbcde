"""``sgvb stats``: write a metric's real-side statistics to one file others can evaluate against without the dataset.

The file (see ``metrics.reference``) holds float64 sums, counts, the real-side protocol and the dataset's
content fingerprint; ``sgvb eval real_stats=<file>`` refuses it when the evaluation's protocol differs.
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

import benchmarks.conf  # noqa: F401  (registers the typed schemas)


def run(cfg: DictConfig):
    """Compute and write the statistics; return the ``ReferenceStats`` written."""
    from benchmarks.commands.eval_inputs import build_at_own_resolution
    from benchmarks.commands.evaluate import EvalConfigError, dataset_spec
    from metrics.evaluation import reference_statistics
    from registry.devices import resolve_device

    if not cfg.dataset or not cfg.dataset.get("_name_"):
        raise EvalConfigError("no dataset: pass dataset=<frames|mp4|synthetic> dataset.path=...")
    real = build_at_own_resolution(dataset_spec(cfg.dataset, None), "dataset")
    metric = OmegaConf.to_container(cfg.metric, resolve=True) if OmegaConf.is_config(cfg.metric) else cfg.metric
    ref = reference_statistics(metric, real=real, device=resolve_device(cfg.device), detector_path=cfg.detector_path,
                               seed=int(cfg.seed), batch_size=cfg.batch_size, mode=str(cfg.mode),
                               allow_stand_in_detectors=bool(cfg.allow_stand_in_detectors), cache_dir=cfg.cache_dir, allow_fewer=bool(cfg.allow_fewer))
    path = ref.save(cfg.out)
    counts = ", ".join(f"{c['used']}/{c['requested']} {what}" for what, c in ref.counts.items())
    print(f"{ref.protocol['metric']}: real statistics of {int(ref.arrays['n'])} items ({counts}) -> {path}", file=sys.stderr)
    print(path)
    return ref


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
