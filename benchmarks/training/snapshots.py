"""The snapshot schedule of a training run: samples, checkpoints, evaluations, the best checkpoint, pruning.

Every ``trainer.snapshot_kimg`` the loop's state becomes samples and a checkpoint; every ``trainer.eval_kimg``
(and at the end) it is also evaluated (``metrics.evaluate`` on G_ema, one record per metric naming the
checkpoint). The best value of ``trainer.best_metric`` is better by the metric's registered direction
(``Metric.direction``: lower for distances, higher for Inception Scores); it is recorded in
``checkpoints/best.json`` and in the checkpoint, and its checkpoint is never pruned (``keep_checkpoints``
newest are kept besides it).

An evaluation interrupted by a kill is redone: the schedule keeps the kimg of every evaluation snapshot
(``eval_kimgs``, in each checkpoint), and ``catch_up`` (a resume, before training goes on) evaluates every kept
checkpoint of that list whose metric records lack one of the run's metrics, starting with the one it resumes
from. Pruning never deletes a checkpoint whose evaluation is missing.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from benchmarks.config.training import ConfigError, EvalSettings, SampleSettings, TrainerSettings
from benchmarks.records import checkpoint as ckpt
from benchmarks.records.run_folder import RunFolder
from benchmarks.records.run_records import Best
from benchmarks.training import dist
from benchmarks.training.samples import snapshot_samples


class SnapshotSource(Protocol):
    """What a snapshot reads from the training loop (``TrainingLoop`` is one): the schedule stays independent of it."""

    kimg: float
    G_ema: Any
    dataset: Any
    device: Any

    def state_dict(self) -> dict[str, Any]: ...


log = logging.getLogger("sgvb")

DIRECTIONS = ("lower", "higher")
OLD_PREFIXES = ("max:", "min:")  # best_metric's former direction prefixes, refused with a hint


def crossed(last: float, now: float, every: float) -> bool:
    """Has a multiple of ``every`` kimg been passed since ``last``?"""
    if every <= 0:
        return False
    return math.floor(now / every + 1e-9) > math.floor(last / every + 1e-9)


def metric_direction(name: str) -> str:
    """'lower' or 'higher' (is better): the registered metric's ``direction``."""
    from metrics import build_metric
    from registry import UnknownComponentError

    try:
        direction = build_metric(name).direction
    except (UnknownComponentError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"config 'trainer.best_metric': {str(exc).splitlines()[0]}") from None
    if direction not in DIRECTIONS:
        raise ConfigError(
            f"trainer.best_metric={name}: the metric's direction is {direction!r}, not one of {DIRECTIONS}"
        )
    return direction


class BestCheckpoint:
    """The best evaluation of one metric so far, compared in the metric's direction."""

    def __init__(self, metric: str | None = None, direction: str = "lower"):
        self.metric = metric.strip().lower() if metric else None
        self.direction = direction
        self.best: Best | None = None

    @classmethod
    def for_run(cls, best_metric: str | None, metrics: Sequence[Any]) -> "BestCheckpoint":
        """The tracker of ``trainer.best_metric`` (its direction looked up now, so a wrong name fails before training);
        tracks nothing when the run evaluates no metrics or names none."""
        if best_metric and best_metric.strip().lower().startswith(OLD_PREFIXES):
            name = best_metric.split(":", 1)[1].strip()
            raise ConfigError(
                f"trainer.best_metric={best_metric}: the direction comes from the metric (its registered "
                f"Metric.direction), not a prefix; write trainer.best_metric={name}"
            )
        if not best_metric or not metrics:
            return cls()
        return cls(best_metric, metric_direction(best_metric))

    def is_better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best.value if self.direction == "higher" else value < self.best.value

    def offer(self, record: Mapping[str, Any], *, kimg: float, checkpoint: str) -> bool:
        """Take a metric record (``metrics.evaluate``'s dict) of the tracked metric if it is better; True if taken."""
        if self.metric is None or str(record.get("metric", "")).lower() != self.metric:
            return False
        value = float(record.get("value", math.nan))
        if not math.isfinite(value) or not self.is_better(value):
            return False
        self.best = Best(metric=self.metric, value=value, kimg=kimg, checkpoint=checkpoint, direction=self.direction)
        return True

    def protected(self) -> set[str]:
        """Checkpoint file names pruning must keep."""
        return {self.best.checkpoint} if self.best is not None else set()

    def state_dict(self) -> dict[str, Any]:
        return self.best.as_dict() if self.best is not None else {}

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        """A checkpoint's ``best``; one of another metric (the run changed ``best_metric``) is dropped."""
        self.best = None
        complete = bool(state) and all(state.get(key) is not None for key in Best.REQUIRED)
        if complete and str(state["metric"]).lower() == self.metric:
            self.best = Best.from_dict(dict(state))


class Snapshots:
    """When the loop writes snapshots and evaluates them, and what each one writes (rank 0 writes files)."""

    def __init__(
        self,
        *,
        run: RunFolder,
        trainer: TrainerSettings,
        samples: SampleSettings,
        evaluation: EvalSettings,
        seed: int,
        progress: bool = False,
    ):
        self.run, self.trainer, self.samples, self.evaluation, self.seed = run, trainer, samples, evaluation, seed
        self.progress = progress  # an evaluation's own counter (metric, side, rate, ETA): it can take minutes
        self.best = BestCheckpoint.for_run(trainer.best_metric, evaluation.metrics)
        self.last_snapshot_kimg, self.last_eval_kimg = 0.0, 0.0
        self.eval_kimgs: list[float] = []  # kimg of every evaluation snapshot (its evaluation may still be missing)

    def due(self, kimg: float, *, done: bool) -> tuple[bool, bool]:
        """``(snapshot, evaluate)`` after a tick at ``kimg`` (the end of training does both)."""
        evaluate = done or crossed(self.last_eval_kimg, kimg, self.trainer.eval_kimg)
        return done or evaluate or crossed(self.last_snapshot_kimg, kimg, self.trainer.snapshot_kimg), evaluate

    def restart_at(self, kimg: float) -> None:
        """Count the schedule from ``kimg`` (a run continued from an official snapshot)."""
        self.last_snapshot_kimg = self.last_eval_kimg = kimg

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_snapshot_kimg": self.last_snapshot_kimg,
            "last_eval_kimg": self.last_eval_kimg,
            "eval_kimgs": list(self.eval_kimgs),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_snapshot_kimg = float(state["last_snapshot_kimg"])
        self.last_eval_kimg = float(state["last_eval_kimg"])
        # a checkpoint written before the list existed: its own evaluation is the only one known due
        self.eval_kimgs = [float(k) for k in state.get("eval_kimgs") or [self.last_eval_kimg] if k > 0]
        self.best.load_state_dict(state.get("best"))

    # ------------------------------------------------------------------------------ missing evaluations
    def metric_names(self) -> list[str]:
        return [str(m).strip().lower() for m in self.evaluation.metrics]

    def missing_evaluations(self) -> dict[str, list[str]]:
        """``{checkpoint file name: [metric, ...]}``: kept evaluation snapshots whose metric records lack a metric."""
        from metrics.records import read_run_metric_records

        names = self.metric_names()
        if not names:
            return {}
        due = {ckpt.state_tag(k) for k in self.eval_kimgs}
        kept = {
            ckpt.state_tag(k): p.name for p in ckpt.list_checkpoints(self.run.path) if (k := ckpt.checkpoint_kimg(p))
        }
        recorded = {
            (str(r.metric).lower(), ckpt.state_tag(r.kimg))
            for r in read_run_metric_records(self.run.path)
            if r.kimg is not None
        }
        missing = {}
        for tag, name in sorted(kept.items()):
            lacking = [m for m in names if tag in due and (m, tag) not in recorded]
            if lacking:
                missing[name] = lacking
        return missing

    def catch_up(self, loop: SnapshotSource) -> list[str]:
        """Evaluate every kept evaluation snapshot whose records are missing (a kill interrupted its evaluation),
        the one ``loop`` holds first; the file names evaluated. Collective: every rank calls it."""
        missing = dist.broadcast_object(self.missing_evaluations() if self.run.writer else None)
        if not missing:
            return []
        current = ckpt.checkpoint_name(loop.kimg)
        order = sorted(missing, key=lambda name: (name != current, ckpt.checkpoint_kimg(name)))
        for name in order:
            path = self.run.checkpoints / name
            log.info("checkpoint %s has no record of %s: evaluating it now", name, ", ".join(missing[name]))
            if name == current:
                G, kimg = loop.G_ema, loop.kimg
            else:
                state = ckpt.load_checkpoint(path, map_location="cpu")
                G = copy.deepcopy(loop.G_ema)
                G.load_state_dict(state["G_ema"])
                kimg = float(state["nimg"]) / 1000.0
            improved = self.evaluate_network(G, loop, path, kimg=kimg, metrics=missing[name])
            if improved and name == current and self.run.writer:  # the new best in the checkpoint too
                state = ckpt.load_checkpoint(path, map_location="cpu")
                state["best"] = self.best.state_dict()
                ckpt.save_checkpoint(path, state)
        dist.barrier()
        return order

    def protected(self) -> set[str]:
        """Checkpoint file names pruning must keep: the best one and every one whose evaluation is missing."""
        return self.best.protected() | set(self.missing_evaluations())

    def take(self, loop: SnapshotSource, *, evaluate: bool, samples: bool = True) -> Path:
        """Samples + checkpoint (+ evaluation, best, pruning). Collective: every rank calls it."""
        kimg = loop.kimg
        # The schedule is advanced before the state is captured, so a resume from this file re-does nothing.
        self.last_snapshot_kimg = kimg
        if evaluate:
            self.last_eval_kimg = kimg
            if self.evaluation.metrics and kimg not in self.eval_kimgs:
                self.eval_kimgs.append(kimg)
        state = loop.state_dict()  # gathers RNG states from every rank
        path = self.run.checkpoints / ckpt.checkpoint_name(kimg)
        if self.run.writer and samples:
            s = self.samples
            try:
                snapshot_samples(
                    loop.G_ema,
                    self.run.samples,
                    ckpt.state_tag(kimg),
                    seed=self.seed,
                    num_videos=s.videos,
                    num_frames=s.frames,
                    long_frames=s.long_frames,
                    fps=s.fps,
                )
            except Exception as exc:  # samples are a convenience; never lose a checkpoint over them
                log.warning("writing samples at kimg %.3f failed: %s: %s", kimg, type(exc).__name__, exc)
        if self.run.writer:
            ckpt.save_checkpoint(path, state)
            log.info("checkpoint %s", path)
        if evaluate and self.evaluation.metrics and self.evaluate(loop, path) and self.run.writer:
            state["best"] = self.best.state_dict()  # the new best in the checkpoint too
            ckpt.save_checkpoint(path, state)
        if self.run.writer:
            ckpt.prune_checkpoints(self.run.path, self.trainer.keep_checkpoints, self.protected())
        dist.barrier()
        return path

    def record_path(self, checkpoint_path: Path) -> str:
        """The checkpoint as a metric record names it: relative to the run folder (``checkpoints/ckpt-...pt``), so
        the record stays true when the folder moves."""
        try:
            return checkpoint_path.relative_to(self.run.path).as_posix()
        except ValueError:
            return str(checkpoint_path)

    def progress_of(self, metric: Any, kimg: float):
        """The evaluation's progress on the console (rank 0, ``progress=true``): without it the training bar stands
        still for the minutes an evaluation takes."""
        import contextlib

        if not (self.progress and self.run.writer):
            return contextlib.nullcontext()
        from benchmarks.progress import MetricProgress
        from metrics import build_metric
        from metrics.base import reporting_progress

        built = build_metric(
            {k: v for k, v in metric.items() if k != "detector_path"} if isinstance(metric, Mapping) else metric
        )
        runs = int(self.evaluation.options.get("num_runs", 1))
        return reporting_progress(MetricProgress(built, num_runs=runs, label=f"{built.name} @ kimg {kimg:.3f}"))

    def evaluate(self, loop: SnapshotSource, checkpoint_path: Path) -> bool:
        """Every metric on G_ema, recorded by ``metrics.evaluate``; True when the best checkpoint changed."""
        return self.evaluate_network(loop.G_ema, loop, checkpoint_path, kimg=loop.kimg, metrics=self.evaluation.metrics)

    def evaluate_network(
        self, G: Any, loop: SnapshotSource, checkpoint_path: Path, *, kimg: float, metrics: Sequence[Any]
    ) -> bool:
        """``metrics`` on the generator ``G`` of the checkpoint at ``kimg``; True when the best checkpoint changed."""
        from metrics import evaluate

        improved = False
        for metric in metrics:
            t0 = time.time()
            with self.progress_of(metric, kimg):
                record = evaluate(
                    metric,
                    fake=G,
                    real=loop.dataset,
                    run_dir=str(self.run.path),
                    device=loop.device,
                    kimg=kimg,
                    checkpoint=self.record_path(checkpoint_path),
                    **self.evaluation.options,
                )
            log.info(
                "metric %s = %s at kimg %.3f (%.1fs)",
                record.get("metric", metric),
                record.get("value"),
                kimg,
                time.time() - t0,
            )
            improved |= self.best.offer(record, kimg=kimg, checkpoint=checkpoint_path.name)
        if improved:
            self.run.write_best(self.best.best)
        return improved
