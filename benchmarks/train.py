"""``sgvb train``: Hydra front end of the training harness (``benchmarks.training.job.train``).

In a multirun (``-m``) a failed job is recorded in its ``status.json`` and the sweep goes on with the
next job; a single run exits non-zero. Configuration errors print one message, not a traceback.
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from benchmarks.training.components import ConfigError
    from benchmarks.training.job import train

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        train(cfg)
    except ConfigError as exc:
        print(f"sgvb train: configuration error: {exc}", file=sys.stderr)
        if multirun:
            return 2
        sys.exit(2)
    except Exception as exc:
        if not multirun:
            raise
        print(f"sgvb train: job failed ({type(exc).__name__}: {exc}); see its status.json and log.txt", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    main()
