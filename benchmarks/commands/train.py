"""``sgvb train``: Hydra front end of the training harness (``benchmarks.training.job.train``).

Errors a user can fix are one line: a config that does not compose (wrong type, unknown key, a typo in
an option, with the closest option) before Hydra starts, and a failed run with where its details are
(``log.txt``); ``SGVB_TRACEBACK=1`` (or ``hydra.verbose=true``) shows the full traceback instead. In a
multirun (``-m``) a failed job is recorded in its ``status.json`` and the sweep goes on with the next
job; a job whose run folder another live process holds is skipped and reported.
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import benchmarks.conf  # noqa: F401  (registers the typed schemas)

SKIPPED_BUSY = 3  # a multirun job's exit value when another process holds its run folder


def one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).strip().splitlines() if line.strip())


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from benchmarks.errors import tracebacks_requested
    from benchmarks.training.components import ConfigError
    from benchmarks.training.job import resolve_run_dir, train
    from benchmarks.records.run_folder import RunFolderBusy

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        train(cfg)
    except ConfigError as exc:
        print(f"sgvb train: configuration error: {one_line(exc)}", file=sys.stderr)
        if multirun:
            return 2
        sys.exit(2)
    except RunFolderBusy as exc:
        print(f"sgvb train: {'skipped: ' if multirun else ''}{one_line(exc)}", file=sys.stderr)
        if multirun:
            return SKIPPED_BUSY
        sys.exit(SKIPPED_BUSY)
    except Exception as exc:
        if tracebacks_requested() or hydra_cfg.verbose:  # the same switch as every other command
            raise
        log = resolve_run_dir(cfg) / "log.txt"
        where = f"; the traceback is in {log}" if log.is_file() else ""
        print(f"sgvb train: {'job ' if multirun else ''}failed: {type(exc).__name__}: {one_line(exc)}{where} "
              "(SGVB_TRACEBACK=1 prints it here)", file=sys.stderr)
        if multirun:
            return 1
        sys.exit(1)
    return 0


if __name__ == "__main__":
    main()
