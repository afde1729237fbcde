"""Reading run folders for a table: what each run says about itself, through the records' owners.

A run folder is any folder holding ``run.json`` or ``status.json`` (``benchmarks.records.run_records``
names and reads them, and ``config.yaml``); its metric records come from ``metrics.records``, whose reader
refuses, with a warning naming file and line, a line that is not a complete record. Failed and partial runs
are kept: every part of a ``Run`` may be missing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.records.run_folder import flatten
from benchmarks.records.run_records import RUN_INFO, STATUS, read_config, read_run_info, read_status
from benchmarks.tables import TableError

if TYPE_CHECKING:
    from metrics.records import MetricRecord

__all__ = ["RUN_MARKERS", "Run", "find_run_dirs", "read_run"]

RUN_MARKERS = (RUN_INFO, STATUS)
HYDRA_RUNTIME = Path(".hydra") / "hydra.yaml"  # Hydra's own record of a job: its config-group choices
CHOICES_PREFIX = "hydra.runtime.choices."


@dataclass
class Run:
    """What a run folder says about itself; every part may be missing for failed or partial runs."""

    path: Path
    status: str = "unknown"
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # run.json as a plain dict
    config: dict[str, Any] = field(default_factory=dict)  # config.yaml, flattened to dotted keys
    records: list[MetricRecord] = field(default_factory=list)  # metric-*.jsonl, in file order
    choices: dict[str, str] = field(default_factory=dict)  # Hydra config-group choices (e.g. model preset)

    @property
    def name(self) -> str:
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


def find_run_dirs(dirs: Iterable[str | os.PathLike]) -> list[Path]:
    """Run folders (holding ``run.json`` or ``status.json``) at or below each of ``dirs``, without duplicates.

    In the order of ``dirs`` (so ``sgvb grid`` lists its jobs in grid order), sorted by name below each.
    """
    found: dict[Path, None] = {}
    for root in dirs:
        root = Path(root)
        if not root.is_dir():
            raise TableError(f"'{root}' is not a directory (expected a run folder or a folder holding run folders)")
        below = []
        for current, subdirs, files in os.walk(root):
            if any(marker in files for marker in RUN_MARKERS):
                below.append(Path(current).resolve())
                subdirs[:] = []  # a run folder's own sub-folders hold no runs
            else:
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found.update(dict.fromkeys(sorted(below)))
    return list(found)


def read_run(path: str | os.PathLike) -> Run:
    from metrics.records import read_run_metric_records  # here: importing ``metrics`` imports torch

    run = Run(path=Path(path))
    info = read_run_info(run.path)
    run.info = info.as_dict() if info is not None else {}
    status = read_status(run.path)
    if status is not None:
        run.status = str(status.state or "unknown")
        run.error = status.error or None
    run.config = flatten(read_config(run.path))
    run.records = read_run_metric_records(run.path)
    run.choices = hydra_choices(run.path / HYDRA_RUNTIME)
    if status is not None and status.state == "done":
        _flag_unevaluated_final(run, status.kimg)
    return run


def _flag_unevaluated_final(run: Run, kimg: float) -> None:
    """A done run whose final checkpoint lacks a record of one of its metrics (an evaluation killed before a
    resume redid it): its last value is not its final one, so the table says so."""
    from benchmarks.records.checkpoint import state_tag

    configured = {str(v).lower() for k, v in run.config.items() if k.startswith("metrics.") and k.count(".") == 1}
    metrics = configured | {r.metric.lower() for r in run.records}
    final = {r.metric.lower() for r in run.records if r.kimg is not None and state_tag(r.kimg) == state_tag(kimg)}
    lacking = sorted(metrics - final)
    if lacking:
        warnings.warn(
            f"{run.name}: the final checkpoint (kimg {kimg:.3f}) has no record of {', '.join(lacking)}; its values "
            "are from earlier checkpoints (resume it with resume=auto to evaluate the final one)",
            stacklevel=2,
        )


def hydra_choices(path: Path) -> dict[str, str]:
    """The config-group choices Hydra recorded for a job (``model: digan_small``), its own ``hydra/*`` left out."""
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as exc:  # noqa: BLE001 - any YAML problem makes the file unreadable
        warnings.warn(f"skipping unreadable {path}: {exc}", stacklevel=2)
        return {}
    flat = flatten(data) if isinstance(data, dict) else {}
    return {
        k[len(CHOICES_PREFIX) :]: str(v)
        for k, v in flat.items()
        if k.startswith(CHOICES_PREFIX) and v is not None and "hydra/" not in k
    }
