"""``sgvb train``: Hydra front end of the training harness (``benchmarks.training.job.train``).

Hydra composes the config once; ``train_config`` converts it once to the typed ``TrainConfig``, which is all
the harness gets. Errors a user can fix are one line in the shape every command uses (``benchmarks.errors``):
a config that does not compose (``hydra_setup.run_command``), a configuration the harness refuses, a busy
run folder, and a failed run with where its traceback is (the run's ``log.txt``, written by the job);
``SGVB_TRACEBACK=1`` (or ``hydra.verbose=true``) shows the full traceback instead. In a multirun (``-m``) a
failed job is recorded in its ``status.json`` and the sweep goes on with the next job; a job whose run folder
another live process holds is skipped and reported. A run stopped by SIGTERM/SIGUSR2 (``training.preemption``)
prints one ``interrupted`` line and exits with 128 + the signal (143 for SIGTERM), after its checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import benchmarks.conf  # noqa: F401  (registers the typed schemas)

SKIPPED_BUSY = 3  # a multirun job's exit value when another process holds its run folder
FAILED = 1  # a run that started and failed (a crash, not a bad option)
# the one line a failed multirun job printed (its status.json gets it: a sweep's console scrolls away)
LAST_JOB_ERROR: list[str | None] = [None]


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from benchmarks.config.training import ConfigError, train_config
    from benchmarks.errors import (
        EXIT_CODE,
        disk_error_message,
        error_line,
        first_line,
        is_disk_error,
        tracebacks_requested,
        write_details,
    )
    from benchmarks.records.run_folder import RunFolderBusy
    from benchmarks.training.job import failure_log, resolve_run_dir, train
    from benchmarks.training.preemption import TrainingInterrupted

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    LAST_JOB_ERROR[0] = None
    run_dir: Path | None = None
    try:
        config = train_config(cfg)  # the one conversion; below it only the typed config travels
        run_dir = resolve_run_dir(config)
        train(config, run_dir)
        return 0
    except TrainingInterrupted as exc:  # a signal: checkpoint written, status.json says interrupted
        status, line = exc.exit_status, error_line("train", first_line(exc), label="interrupted")
    except RunFolderBusy as exc:  # another process's folder: nothing is written into it
        details = write_details(exc, "train", None)
        status, line = (
            SKIPPED_BUSY,
            error_line("train", first_line(exc), details=details, label="skipped" if multirun else "error"),
        )
    except Exception as exc:
        if tracebacks_requested() or hydra_cfg.verbose:  # the same switch as every other command
            raise
        # the job wrote the traceback into the run's log; an error before it held the run folder gets a file of its own
        log = failure_log(run_dir, exc) if run_dir is not None else None
        details = log if log is not None else write_details(exc, "train", None)
        if isinstance(exc, ConfigError):  # a user error: the shape and status of every command's
            status, line = EXIT_CODE, error_line("train", first_line(exc), details=details)
        elif is_disk_error(exc):  # a full or read-only disk: the file and the OS error
            status, line = EXIT_CODE, error_line("train", disk_error_message(exc), details=details)
        else:
            label = "job failed" if multirun else "failed"
            message = f"{type(exc).__name__}: {first_line(exc)}"
            status, line = FAILED, error_line("train", message, details=details, label=label)
    print(line, file=sys.stderr)
    if multirun:
        LAST_JOB_ERROR[0] = line.split(": ", 2)[-1]  # for the grid's RecordJobFailure, in this same job process
        return status  # the sweep goes on; the job's status.json says what happened
    sys.exit(status)


if __name__ == "__main__":
    main()
