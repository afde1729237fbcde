"""Pre-flight: what would stop a training run later, found in seconds before the first step.

``check(config, run_dir)`` runs at the start of ``sgvb train`` (``benchmarks.training.job.train``) and looks at
what otherwise fails only at the first evaluation, after hours of training:

* the dataset builds and its first frame reads;
* every metric's real side is satisfiable by the dataset: as many videos as its name states (``num_videos``)
  of the frames it spans (``num_frames`` x ``subsample``), unless ``allow_fewer=true``;
* every metric's detector weights resolve (a local file, or one download now), unless
  ``allow_stand_in_detectors=true`` explicitly allows the untrained stand-ins;
* the run folder can be created and written.

One problem is the ``ConfigError``'s one line (``sgvb train: error: pre-flight (nothing was trained): ...``);
several are one line each on stderr (``sgvb train: pre-flight: ...``), then the ``ConfigError`` says how many (its
message lists them all for the log). The checks read only the metrics' declared sizes and detector specs, like ``sgvb
check-dataset --protocol`` does; no component is named here.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.config.training import ConfigError, TrainConfig

PREFIX = "sgvb train: pre-flight: "


def check(config: TrainConfig, run_dir: str | os.PathLike) -> None:
    """Raise ``ConfigError`` listing every problem found (one line each, also printed to stderr); None when
    training can start."""
    from benchmarks.training.snapshots import BestCheckpoint

    BestCheckpoint.for_run(config.trainer.best_metric, config.metrics)  # a mistyped best_metric first, in its words
    problems = problems_of(config, Path(run_dir))
    if not problems:
        return
    if len(problems) == 1:  # the error line itself says it
        raise ConfigError(f"pre-flight (nothing was trained): {problems[0]}")
    for problem in problems:
        print(PREFIX + problem, file=sys.stderr)
    raise ConfigError(
        f"pre-flight found {len(problems)} problems before training, one per line above (nothing was trained)\n"
        + "\n".join(problems)
    )


def problems_of(config: TrainConfig, run_dir: Path) -> list[str]:
    """Every problem, one line each (the order: data, metrics, detectors, run folder)."""
    problems: list[str] = []
    dataset = _readable_dataset(config.dataset, problems)
    metrics = _metrics(config, problems)
    if dataset is not None and not config.allow_fewer:
        problems += [p for metric in metrics if (p := _real_count_problem(metric, dataset)) is not None]
    if not config.allow_stand_in_detectors:
        problems += _detector_problems(metrics, config.detector_path)
    problem = _run_dir_problem(run_dir)
    if problem is not None:
        problems.append(problem)
    return problems


def _one_line(exc: BaseException) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return text or type(exc).__name__


def _readable_dataset(spec: Any, problems: list[str]) -> Any:
    from benchmarks.training.components import build_dataset

    try:
        dataset = build_dataset(spec)
    except Exception as exc:  # noqa: BLE001 - any failure to open the data is the user's to fix
        problems.append(f"the dataset cannot be opened: {_one_line(exc)}")
        return None
    try:
        if len(dataset) == 0:
            problems.append(f"the dataset {_describe(spec)} holds no video")
            return None
        dataset.read_frames(0, [0])
    except Exception as exc:  # noqa: BLE001
        problems.append(f"the dataset {_describe(spec)} cannot be read: {_one_line(exc)}")
        return None
    return dataset


def _describe(spec: Any) -> str:
    if isinstance(spec, dict) or hasattr(spec, "get"):
        name, path = spec.get("_name_"), spec.get("path")
        return f"'{name}'" + (f" ({path})" if path else "")
    return f"'{spec}'"


def _metrics(config: TrainConfig, problems: list[str]) -> list[tuple[Any, Any]]:
    """(built metric, its detector path) of every metric of the run; a metric that does not build is a problem."""
    from metrics.evaluation import split_detector_path

    built = []
    for spec in config.metrics:
        try:
            built.append(split_detector_path(spec, config.detector_path))
        except Exception as exc:  # noqa: BLE001 - unknown names, bad arguments
            problems.append(f"config 'metrics': {spec!r} does not build: {_one_line(exc)}")
    return built


def _real_count_problem(metric_and_path: tuple[Any, Any], dataset: Any) -> str | None:
    metric, _ = metric_and_path
    span = int(getattr(metric, "num_frames", 1) or 1) * int(getattr(metric, "subsample", 1) or 1)
    wanted = getattr(metric, "num_videos", None)
    long_enough = sum(1 for i in range(len(dataset)) if dataset.video_length(i) >= span)
    if wanted is None:
        if long_enough:
            return None
        return (
            f"metric {metric.name} needs real videos of {span} frames; none of the {len(dataset)} videos of the "
            "dataset has that many"
        )
    if long_enough >= int(wanted):
        return None
    return (
        f"metric {metric.name} needs {int(wanted)} real videos of at least {span} frames; the dataset has "
        f"{long_enough} (of {len(dataset)} videos): give more data, choose a smaller metric, or pass "
        "allow_fewer=true (the record then says so)"
    )


def _detector_problems(metrics: list[tuple[Any, Any]], default_path: Any) -> list[str]:
    """Load each distinct detector once without stand-ins: a missing or damaged weight file is a problem now."""
    import torch

    from metrics.detectors import load_detector

    problems, seen = [], set()
    for metric, path in metrics:
        spec = getattr(metric, "detector_spec", None)
        if spec is None:
            continue
        key = (repr(spec), str(path))
        if key in seen:
            continue
        seen.add(key)
        try:
            load_detector(spec, path=path, device=torch.device("cpu"), allow_stand_in=False)
        except Exception as exc:  # noqa: BLE001 - missing, damaged or unusable weight files
            line = _one_line(exc)
            hint = (
                ""
                if "allow_stand_in" in line
                else " (allow_stand_in_detectors=true: untrained stand-ins, smoke tests only)"
            )
            problems.append(f"metric {metric.name}: {line}{hint}")
    return problems


def _run_dir_problem(run_dir: Path) -> str | None:
    """The run folder, or the nearest folder above it that exists (nothing is created here), takes a file."""
    folder = run_dir.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    where = "the run folder" if folder == run_dir.absolute() else f"the run folder {run_dir} cannot be made: folder"
    try:
        if not folder.is_dir():
            return f"{where} {folder} is not a folder"
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".sgvb-preflight-") as f:
            f.write(b"ok")
    except OSError as exc:
        return f"{where} {folder} is not writable: {exc.strerror or _one_line(exc)}"
    return None
