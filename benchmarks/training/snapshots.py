"""The snapshot schedule of a training run: samples, checkpoints, evaluations, the best checkpoint, pruning.

Every ``trainer.snapshot_kimg`` the loop's state becomes samples and a checkpoint; every ``trainer.eval_kimg``
(and at the end) it is also evaluated (``metrics.evaluate`` on G_ema, one record per metric naming the
checkpoint). The best value of ``trainer.best_metric`` is better by the metric's registered direction
(``Metric.direction``: lower for distances, higher for Inception Scores); it is recorded in
``checkpoints/best.json`` and in the checkpoint, and its checkpoint is never pruned (``keep_checkpoints``
newest are kept besides it).
"""

from __future__ import annotations

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
        self, *, run: RunFolder, trainer: TrainerSettings, samples: SampleSettings, evaluation: EvalSettings, seed: int
    ):
        self.run, self.trainer, self.samples, self.evaluation, self.seed = run, trainer, samples, evaluation, seed
        self.best = BestCheckpoint.for_run(trainer.best_metric, evaluation.metrics)
        self.last_snapshot_kimg, self.last_eval_kimg = 0.0, 0.0

    def due(self, kimg: float, *, done: bool) -> tuple[bool, bool]:
        """``(snapshot, evaluate)`` after a tick at ``kimg`` (the end of training does both)."""
        evaluate = done or crossed(self.last_eval_kimg, kimg, self.trainer.eval_kimg)
        return done or evaluate or crossed(self.last_snapshot_kimg, kimg, self.trainer.snapshot_kimg), evaluate

    def restart_at(self, kimg: float) -> None:
        """Count the schedule from ``kimg`` (a run continued from an official snapshot)."""
        self.last_snapshot_kimg = self.last_eval_kimg = kimg

    def state_dict(self) -> dict[str, Any]:
        return {"last_snapshot_kimg": self.last_snapshot_kimg, "last_eval_kimg": self.last_eval_kimg}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_snapshot_kimg = float(state["last_snapshot_kimg"])
        self.last_eval_kimg = float(state["last_eval_kimg"])
        self.best.load_state_dict(state.get("best"))

    def take(self, loop: SnapshotSource, *, evaluate: bool) -> Path:
        """Samples + checkpoint (+ evaluation, best, pruning). Collective: every rank calls it."""
        kimg = loop.kimg
        # The schedule is advanced before the state is captured, so a resume from this file re-does nothing.
        self.last_snapshot_kimg = kimg
        if evaluate:
            self.last_eval_kimg = kimg
        state = loop.state_dict()  # gathers RNG states from every rank
        path = self.run.checkpoints / ckpt.checkpoint_name(kimg)
        if self.run.writer:
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
            ckpt.save_checkpoint(path, state)
            log.info("checkpoint %s", path)
        if evaluate and self.evaluation.metrics and self.evaluate(loop, path) and self.run.writer:
            state["best"] = self.best.state_dict()  # the new best in the checkpoint too
            ckpt.save_checkpoint(path, state)
        if self.run.writer:
            ckpt.prune_checkpoints(self.run.path, self.trainer.keep_checkpoints, self.best.protected())
        dist.barrier()
        return path

    def evaluate(self, loop: SnapshotSource, checkpoint_path: Path) -> bool:
        """Every metric on G_ema, recorded by ``metrics.evaluate``; True when the best checkpoint changed."""
        from metrics import evaluate

        improved = False
        for metric in self.evaluation.metrics:
            t0 = time.time()
            record = evaluate(
                metric,
                fake=loop.G_ema,
                real=loop.dataset,
                run_dir=str(self.run.path),
                device=loop.device,
                kimg=loop.kimg,
                checkpoint=str(checkpoint_path),
                **self.evaluation.options,
            )
            log.info(
                "metric %s = %s at kimg %.3f (%.1fs)",
                record.get("metric", metric),
                record.get("value"),
                loop.kimg,
                time.time() - t0,
            )
            improved |= self.best.offer(record, kimg=loop.kimg, checkpoint=checkpoint_path.name)
        if improved:
            self.run.write_best(self.best.best)
        return improved
