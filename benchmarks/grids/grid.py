"""``sgvb grid NAME [overrides] [--dry-run]``: run a named ablation grid, then tabulate it.

A grid is a Hydra config file ``benchmarks/conf/grid/<NAME>.yaml``: ``# @package _global_``, a defaults
list starting with ``_sweep`` (the shared sweep settings below; the paper grids add ``_full_scale``:
real data, official metrics, no stand-in detectors), fixed overrides as plain config values, and the
axes under ``hydra.sweeper.params`` as Hydra sweep strings (``acyclic,none``, ``range(0,3)``). It runs
with plain Hydra multirun, so every Hydra launcher works (``hydra/launcher=local_parallel`` or
``hydra/launcher=slurm``, presets in ``conf/hydra/launcher/``, plugins in the ``launchers`` extra):

    sgvb train -m +grid=quickstart [overrides]      # what ``sgvb grid quickstart [overrides]`` runs

A key swept on the command line replaces the grid's axis of that key (``seed=0``, ``seed=0,1,2``);
other sweeps add axes. ``sgvb grid`` is sugar over that command: it first expands the jobs with
Hydra's own parser, sweeper and config loader (so ``--dry-run`` lists exactly what Hydra will
launch, each job's config composed and checked, and ``sgvb train``'s pre-flight run once per distinct data and
metrics: a problem every job would meet is one line before any job starts), runs the sweep in this process, then
sums up: how
many jobs finished or failed (exit status 1 if any did not finish), the comparison table, and a
results folder (``results/<NAME>/``, see ``benchmarks.grids.results``).

Resuming: a job's folder is ``runs/grid/<NAME>/<its overrides>`` (``_sweep.yaml`` names it with the
``sgvb_job_dir`` resolver below), not a timestamp, and grids set ``resume: auto``. Running the same
grid again therefore skips finished jobs (the harness exits at once when ``status.json`` says done)
and resumes interrupted ones from their last checkpoint. A failed job is ``failed`` in its
``status.json`` with the error (the harness writes it; ``RecordJobFailure``, a Hydra callback that
runs under every launcher, covers failures outside the harness), and the other jobs still run.
Jobs share the real-data statistics cache (``cache_dir``, default ``~/.cache/sgvb/stats``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from benchmarks.errors import one_line_errors
from benchmarks.records.run_folder import lock_holder
from benchmarks.records.run_records import RUN_INFO, STATUS, read_status, write_status

CONFIG_MODULE = "benchmarks.conf"
TRAIN_CONFIG = "train"
STATES = ("done", "failed", "running", "interrupted", "held", "new")  # running/interrupted before a launch: it resumes;
# "held" = another live process trains in the folder right now: the grid skips it and says so


def job_dir_name(overrides: Any, params: Any = None, max_length: int = 120) -> str:
    """A job's folder name from its task overrides: readable, one path level, the same for the same configuration.

    The grid's swept keys come first (in the grid file's order), then the other overrides sorted, so the
    order of words on the command line does not matter; ``+grid=NAME`` is left out (the sweep folder is
    named after the grid). Characters unsafe in a file name (``/`` in ``dataset.path=/data/x.zip``) become
    ``_``; then, and when the name is too long, a hash of the full override set keeps configurations apart.
    """
    items = [str(o) for o in (overrides or []) if _override_key(str(o)) != "grid"]
    swept = [_override_key(str(k)) for k in (params or {})]
    first = [o for key in swept for o in items if _override_key(o) == key]
    parts = first + sorted(o for o in items if o not in first)
    name = ",".join(parts)
    safe = re.sub(r"[^A-Za-z0-9._,=+@%-]", "_", name)
    if safe != name or len(safe) > max_length:
        digest = hashlib.sha1(",".join(sorted(parts)).encode()).hexdigest()[:8]
        safe = f"{safe[: max_length - 9]}-{digest}"
    return safe or "default"


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


# ``_sweep.yaml`` names job folders ``${sgvb_job_dir:${hydra.overrides.task},${hydra.sweeper.params}}``.
# Registered on import: Hydra imports this module in every process that runs jobs (for RecordJobFailure).
OmegaConf.register_new_resolver("sgvb_job_dir", job_dir_name, replace=True)


class GridError(ValueError):
    """A grid that cannot be expanded: unknown name, bad override, a job whose config does not compose."""


@dataclass
class Job:
    index: int
    overrides: list[str]  # the job's task overrides, as Hydra passes them to the job
    run_dir: Path
    state: str = "new"
    error: str | None = None
    dataset_path: str | None = None  # the job's dataset.path, when its dataset reads files
    config: Any = field(default=None, repr=False)  # its TrainConfig as ``sgvb train`` will read it (None: it fails)

    def refresh(self) -> "Job":
        status = read_status(self.run_dir)
        self.state = status.state if status is not None else "new"
        self.error = status.error if status is not None else None
        holder = lock_holder(self.run_dir) if self.run_dir.is_dir() else None
        if holder is not None:
            self.state, self.error = "held", f"held by {holder}; skipped"
        return self


@dataclass
class GridPlan:
    name: str
    overrides: list[str]  # the command-line overrides given to ``sgvb grid``
    sweep_dir: Path
    launcher: str
    jobs: list[Job]

    @property
    def command(self) -> str:
        import shlex

        return " ".join(["sgvb train -m", f"+grid={self.name}", *map(shlex.quote, self.overrides)])

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for job in self.jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        return {state: n for state, n in counts.items() if n}


# ----------------------------------------------------------------------------------------------
# Expansion


def available_grids() -> list[str]:
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from benchmarks.config import hydra_setup

    hydra_setup.install()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return _grid_names(GlobalHydra.instance().config_loader().get_group_options("grid"))
    finally:
        GlobalHydra.instance().clear()


def _grid_names(options: Sequence[str]) -> list[str]:
    return sorted(o for o in options if not o.startswith("_"))  # ``_sweep`` etc. are shared parts, not grids


def plan_grid(name: str, overrides: Sequence[str] = ()) -> GridPlan:
    """Expand grid ``name`` with ``overrides`` into jobs, exactly as ``sgvb train -m +grid=<name>`` would.

    Uses Hydra's config loader in multirun mode and its documented override parser; the sweep is expanded
    here as the basic sweeper does (``expand_sweep``), then each job's config is composed to learn its
    folder (``hydra.sweep.dir``/``hydra.sweep.subdir``).
    """
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from hydra.types import RunMode

    from benchmarks.config import hydra_setup

    hydra_setup.install()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3", job_name=TRAIN_CONFIG):
            loader = GlobalHydra.instance().config_loader()
            grids = _grid_names(loader.get_group_options("grid"))
            if name not in grids:
                import difflib

                close = difflib.get_close_matches(name, grids, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise GridError(f"unknown grid '{name}'.{hint} Available grids: {', '.join(sorted(grids)) or 'none'}")
            try:
                cfg = loader.load_configuration(TRAIN_CONFIG, [f"+grid={name}", *overrides], run_mode=RunMode.MULTIRUN)
            except HydraException as exc:
                from benchmarks.config.hydra_setup import describe_config_error

                message = describe_config_error(exc)
                plugins = (
                    "joblib" in str(exc) or "submitit" in str(exc) or "slurm" in message or "local_parallel" in message
                )
                if "hydra/launcher" in message and plugins:
                    message += " (the launcher plugins are an optional extra: pip install "
                    message += "'stylegan-v-bench[launchers]')"
                raise GridError(f"grid '{name}' with overrides {list(overrides)}: {message}") from exc
            sweeper = str(cfg.hydra.sweeper.get("_target_", ""))
            if not sweeper.endswith("BasicSweeper"):
                raise GridError(
                    f"grid '{name}' uses sweeper '{sweeper}'; `sgvb grid` expands basic-sweeper grids only "
                    "(run other sweepers with `sgvb train -m +grid=...`)"
                )
            params = cfg.hydra.sweeper.get("params") or {}
            arguments = [f"{key}={value}" for key, value in params.items()] + list(cfg.hydra.overrides.task)
            try:
                parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
                job_overrides = expand_sweep(parsed)
            except HydraException as exc:
                raise GridError(f"grid '{name}': cannot expand the sweep {arguments}: {exc}") from exc
            jobs = [_compose_job(name, loader, cfg, index, list(job)) for index, job in enumerate(job_overrides)]
            sweep_dir = Path(str(OmegaConf.select(cfg, "hydra.sweep.dir"))).absolute()
            launcher = str(cfg.hydra.runtime.choices.get("hydra/launcher", "basic"))
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
    return GridPlan(name=name, overrides=list(overrides), sweep_dir=sweep_dir, launcher=launcher, jobs=jobs)


def expand_sweep(overrides: Sequence[Any]) -> list[list[str]]:
    """The cartesian product of parsed overrides, as Hydra's basic sweeper runs it: one axis per key in order of
    first appearance, a later override of a key replacing the earlier one (the command line beats the grid)."""
    import itertools

    axes: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        values = (
            list(override.sweep_string_iterator())
            if override.is_sweep_override()
            else [override.get_value_element_as_str()]
        )
        axes[key] = [f"{key}={value}" for value in values]
    return [list(job) for job in itertools.product(*axes.values())]


def _compose_job(name: str, loader: Any, cfg: Any, index: int, overrides: list[str]) -> Job:
    """Compose one job's config as the launcher will (``load_sweep_config``), check it, and find its folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from omegaconf import open_dict, read_write

    try:
        job_cfg = loader.load_sweep_config(cfg, overrides)
    except HydraException as exc:
        from benchmarks.config.hydra_setup import describe_config_error

        raise GridError(
            f"grid '{name}', job #{index} ({' '.join(overrides)}) does not compose: {describe_config_error(exc)}"
        ) from exc
    missing = sorted(k for k in OmegaConf.missing_keys(job_cfg) if not k.startswith("hydra."))
    if missing:
        raise GridError(
            f"grid '{name}' needs {', '.join(missing)} (??? in the config): give "
            + " ".join(f"{k}=..." for k in missing)
            + " on the command line"
        )
    with open_dict(job_cfg):
        job_cfg.hydra.job.id = index
        job_cfg.hydra.job.num = index
    HydraConfig.instance().set_config(job_cfg)  # for ${hydra:...} in folder names, as in Hydra's run_job
    output_dir = Path(str(OmegaConf.select(job_cfg, "hydra.sweep.dir"))) / str(
        OmegaConf.select(job_cfg, "hydra.sweep.subdir")
    )
    with read_write(job_cfg.hydra.runtime), open_dict(job_cfg.hydra.runtime):
        job_cfg.hydra.runtime.output_dir = str(output_dir.absolute())
    path = OmegaConf.select(job_cfg, "dataset.path", default=None)
    return Job(
        index=index,
        overrides=overrides,
        run_dir=job_run_dir(job_cfg),
        dataset_path=None if path is None else str(path),
        config=_train_config(job_cfg),
    ).refresh()


def _train_config(job_cfg: Any) -> Any:
    """The job's config as its ``sgvb train`` reads it (Hydra's task config: without ``hydra``), or None where that
    fails (the job then fails in its own words)."""
    from omegaconf import open_dict

    from benchmarks.config.training import ConfigError, train_config

    task = job_cfg.copy()
    with open_dict(task):
        del task["hydra"]
    try:
        return train_config(task)
    except ConfigError:
        return None


def preflight_problems(plan: GridPlan) -> list[str]:
    """``sgvb train``'s pre-flight (``benchmarks.training.preflight``: data readable, each metric's real count, detector
    weights, run folder) for the jobs the grid will start, once per distinct data and metrics: a problem every job
    would meet after starting is said once, naming its jobs, before any starts."""
    from benchmarks.training import preflight

    checked: dict[str, list[str]] = {}
    jobs_of: dict[str, list[int]] = {}  # problem -> the jobs it stops
    for job in plan.jobs:
        if job.state in ("done", "held") or job.config is None:
            continue
        c = job.config
        key = json.dumps(
            [c.dataset, c.metrics, c.allow_fewer, c.allow_stand_in_detectors, c.detector_path], default=str
        )
        if key not in checked:
            checked[key] = preflight.problems_of(c, job.run_dir)
        for problem in checked[key]:
            jobs_of.setdefault(problem, []).append(job.index)
    return [
        f"{problem} (job{'s' if len(jobs) > 1 else ''} {', '.join(f'#{i}' for i in jobs)})"
        for problem, jobs in jobs_of.items()
    ]


def missing_data(plan: GridPlan) -> list[str]:
    """The jobs' ``dataset.path`` values that do not exist (each such job would fail as it starts)."""
    paths = dict.fromkeys(job.dataset_path for job in plan.jobs if job.dataset_path)
    return [p for p in paths if not Path(p).expanduser().exists()]


def format_plan(plan: GridPlan) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in plan.counts().items())
    lines = [
        f"grid '{plan.name}': {len(plan.jobs)} jobs ({counts}) in {_short(plan.sweep_dir)}, launcher {plan.launcher}",
        f"  = {plan.command}",
    ]
    if any(job.state == "running" for job in plan.jobs):
        lines.append("  (running = interrupted: it resumes from its last checkpoint)")
    if any(job.state == "held" for job in plan.jobs):
        lines.append("  (held = another live process trains in that folder now: the grid skips it)")
    width = len(str(len(plan.jobs) - 1))
    for job in plan.jobs:
        shown = [o for o in job.overrides if o != f"+grid={plan.name}"]
        lines.append(f"  #{job.index:<{width}} {job.state:<7} {' '.join(shown)}")
    return "\n".join(lines)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------------
# Failure recording (runs inside each job, under any launcher)


class RecordJobFailure(Callback):
    """Hydra callback: a job that raised or returned a non-zero status is ``failed`` in its ``status.json``.

    The harness records its own failures; this covers the rest (a crash before the run folder existed,
    an error outside the harness), under every launcher. Nothing is swallowed: a raised exception still
    makes Hydra exit non-zero after the sweep, once the other jobs have run.
    """

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        import contextlib
        import io

        from hydra.core.utils import JobStatus

        from benchmarks.commands.train import LAST_JOB_ERROR, SKIPPED_BUSY

        try:
            with contextlib.redirect_stderr(io.StringIO()):  # Hydra reports the failed job itself
                value = job_return.return_value
        except Exception as exc:  # the public accessor re-raises a failed job's exception
            value = exc
        if job_return.status == JobStatus.FAILED:
            error, trace = f"{type(value).__name__}: {value}", "".join(traceback.format_exception(value))
        elif isinstance(value, int) and not isinstance(value, bool) and value not in (0, SKIPPED_BUSY):
            said = LAST_JOB_ERROR[0]
            error, trace = said or f"the job exited with status {value} (its message is in the console output)", None
        else:
            return
        run_dir = job_run_dir(config)
        if lock_holder(run_dir) is not None:
            return  # another live process owns the folder and its status
        status = read_status(run_dir)
        if status is not None and status.state == "failed":
            return  # the harness said why
        write_status(run_dir, "failed", kimg=status.kimg if status is not None else 0.0, error=error, traceback=trace)


def job_run_dir(config: Any) -> Path:
    """The run folder of a job: ``run_dir`` when set, else Hydra's output folder (as the harness decides)."""
    run_dir = config.run_dir  # a key of sgvb train's schema (null = Hydra's output folder)
    return Path(str(run_dir if run_dir is not None else config.hydra.runtime.output_dir)).absolute()


# ----------------------------------------------------------------------------------------------
# Running


def launch(plan: GridPlan) -> int:
    """Run the sweep in this process through ``sgvb train``'s Hydra entry point; returns Hydra's exit status."""
    from benchmarks.commands import train
    from benchmarks.config import hydra_setup

    hydra_setup.install()
    argv = sys.argv
    sys.argv = ["sgvb train", "-m", f"+grid={plan.name}", *plan.overrides]
    try:
        train.main()
        return 0
    except SystemExit as exc:  # Hydra exits 1 after the sweep when a job raised
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv


MAX_LABEL = 40  # a job's name in results/<grid>/ (samples/<label>.gif, plots/<label>--<metric>.png)


def job_labels(jobs: list[Job]) -> dict[Path, str]:
    """run folder -> a short file-name label: the overrides that differ between the jobs (``model=digan_small,seed=1``),
    not the ones they share (``dataset.path=...``); past ``MAX_LABEL`` characters, or where two would collide,
    shortened and told apart by the job's number."""
    shared = set.intersection(*(set(job.overrides) for job in jobs)) if jobs else set()
    labels: dict[Path, str] = {}
    for job in jobs:
        own = [str(o) for o in job.overrides if o not in shared and _override_key(str(o)) != "grid"]
        label = re.sub(r"[^A-Za-z0-9._,=+@%-]", "_", ",".join(own)) or f"job{job.index}"
        if len(label) > MAX_LABEL or label in labels.values():
            label = f"{label[: MAX_LABEL - 6]}-job{job.index}"
        labels[job.run_dir] = label
    return labels


def summarize(plan: GridPlan, results_dir: Path, *, select: str = "final") -> int:
    """Refresh job states, write the tables and artefacts, print the comparison; 1 if any job did not finish."""
    from benchmarks.grids import results as grid_results
    from benchmarks.tables import export as table_export

    for job in plan.jobs:
        job.refresh()
    started = [job for job in plan.jobs if (job.run_dir / STATUS).is_file() or (job.run_dir / RUN_INFO).is_file()]
    if started:
        from benchmarks.tables.table import warnings_as_lines

        with warnings_as_lines("sgvb grid"):
            tables = grid_results.write_results(
                [job.run_dir for job in started],
                results_dir,
                select=select,
                labels=job_labels(started),
            )
        print()
        print(table_export.to_text(tables.comparison))
        files = sorted(
            p.name + ("/" if p.is_dir() else "") for p in results_dir.iterdir() if not p.name.startswith(".")
        )
        print(f"\nresults in {_short(results_dir)}/: {', '.join(files)}")
    not_done = [job for job in plan.jobs if job.state != "done"]
    counts = ", ".join(f"{n} {state}" for state, n in plan.counts().items())
    print(f"grid '{plan.name}': {len(plan.jobs)} jobs: {counts}")
    for job in not_done:
        reason = job.error or ("did not start" if job.state == "new" else "did not finish")
        print(f"  #{job.index} {job.state}: {_short(job.run_dir)}: {reason}")
    if not_done:
        print(
            f"{len(not_done)} of {len(plan.jobs)} jobs did not finish; the same command again retries them "
            "(interrupted ones resume from their last checkpoint; finished ones are skipped)."
        )
    return 1 if not_done else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sgvb grid",
        description="Run a named ablation grid (benchmarks/conf/grid/NAME.yaml) with Hydra multirun, then tabulate it. "
        "Finished jobs are skipped and interrupted ones resumed when the same grid runs again.",
        epilog="Parallel or cluster runs: add hydra/launcher=local_parallel or hydra/launcher=slurm "
        "(pip install 'stylegan-v-bench[launchers]').",
    )
    parser.add_argument("name", nargs="?", help="grid name (omit to list the grids)")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides for every job, e.g. trainer.total_kimg=8 seed=0,1"
    )
    parser.add_argument("--dry-run", action="store_true", help="list the expanded jobs and their state; run nothing")
    parser.add_argument("--results", help="results folder (default: results/NAME)")
    parser.add_argument("--select", default="final", help="checkpoint per run for the table: final | best:<key>[:max]")
    args = parser.parse_intermixed_args(argv)  # options may come between the overrides
    if args.name is None:
        print("grids: " + ", ".join(available_grids()))
        return 0
    from benchmarks.config import hydra_setup
    from benchmarks.tables import TableError
    from benchmarks.tables.selection import parse_select

    with one_line_errors("grid", known=(GridError, TableError), exit_on_error=False) as failure:
        parse_select(args.select)  # a bad --select fails before any job runs
        args.overrides = hydra_setup.quote_paths(args.overrides)  # a path holding '=' (a grid job's folder) as typed
        plan = plan_grid(args.name, args.overrides)
    if failure:
        return failure.status
    print(format_plan(plan))
    missing = missing_data(plan)
    if missing:
        print(
            f"sgvb grid: error: dataset.path {', '.join(repr(p) for p in missing)} does not exist: every job reading "
            "it would fail (give dataset.path=<your data>; `sgvb prepare` or `sgvb convert` makes one)",
            file=sys.stderr,
        )
        return 2
    problems = preflight_problems(plan)
    for problem in problems:
        print(f"sgvb grid: error: pre-flight (no job was started): {problem}", file=sys.stderr)
    if problems:
        return 2
    if args.dry_run:
        return 0
    results_dir = Path(args.results) if args.results else Path("results") / args.name
    launch(plan)
    with one_line_errors("grid", known=(TableError, OSError), exit_on_error=False) as failure:
        return summarize(plan, results_dir, select=args.select)
    return failure.status


if __name__ == "__main__":
    sys.exit(main())
