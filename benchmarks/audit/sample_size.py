"""The sample-size study on a dataset: how many videos each metric needs for a stable value and a stable ranking.

The configurations are the audit's: the dataset is split into a reference half (the real side) and a test half
(``benchmarks.audit.data``), and each (distortion, strength), strength 0 included, is one configuration. Every
feature set the chosen metrics read (``metrics.sample_size.STUDY_FEATURES``) is computed ONCE per side, through the
evaluation context's detectors and real-statistics cache (a second run with the same ``cache_dir`` computes
nothing); ``metrics.sample_size.study`` then draws N = 16, 32, ... rows per side ``repeats`` times from them.

Outputs in ``out_dir``: ``sample_size.csv`` (the curves), ``sample_size.png``, ``n_stable.json`` (N_stable per
metric with the record result keys it stands for: ``benchmarks.tables.sample_size`` reads it) and ``summary.md``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.audit.data import DistortedVideos, SourceClips, split_halves
from benchmarks.audit.runner import build_distortions, check_strengths
from registry.files import atomic_write_text

FORMAT = "sgvb-sample-size"
FORMAT_VERSION = 1
FRAMES_PER_BATCH = 32


def configurations(built: dict[str, Any], strengths: Sequence[float]) -> list[tuple[str, str, float]]:
    """(label, distortion, strength): the undistorted test half once, then every distortion at every strength."""
    first = next(iter(built))
    return [("none@0", first, 0.0)] + [(f"{name}@{s:g}", name, s) for name in built for s in strengths]


def frame_picks(num_frames: int, frames_per_clip: int) -> tuple[int, ...]:
    """``frames_per_clip`` frame indices spread evenly over a clip of ``num_frames`` (first and last included)."""
    return tuple(sorted({int(round(t)) for t in np.linspace(0, num_frames - 1, max(1, frames_per_clip))}))


class KeptClips:
    """``base`` whose ``clips`` are decoded once, at their first read, and kept: every feature set reads the same real
    clips, and decoding them again (H.264 windows, for ``sample_footage``) would cost more than the detectors."""

    def __init__(self, base, clips: list[Any]):
        self.base, self.resolution, self.path = base, base.resolution, getattr(base, "path", "")
        self._frames = {c.video: list(c.frames) for c in clips}
        self._kept: dict[int, dict[int, torch.Tensor]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.base)

    def video_length(self, i: int) -> int:
        return self.base.video_length(i)

    def video_name(self, i: int) -> str:
        return self.base.video_name(i)

    def fingerprint(self) -> str:
        return self.base.fingerprint()

    def read_frames(self, i: int, frame_indices) -> torch.Tensor:
        wanted = list(frame_indices)
        if i not in self._frames or not set(wanted) <= set(self._frames[i]):
            return self.base.read_frames(i, wanted)
        with self._lock:
            if i not in self._kept:
                self._kept[i] = dict(zip(self._frames[i], self.base.read_frames(i, self._frames[i])))  # [T, H, W, C]
        return torch.stack([self._kept[i][t] for t in wanted])


class FeatureSides:
    """One feature set's rows per side, computed once each and kept in the real-statistics cache."""

    def __init__(self, ctx, name: str, spec, clip_frames: int, frames_per_clip: int, batch_size: int | None):
        from metrics.fvd import default_batch_size

        self.ctx, self.name, self.spec = ctx, name, spec
        self.detector = ctx.detector(spec.detector, metric=f"sample-size {name}", video=spec.video)
        self.num_frames = spec.num_frames if spec.video else clip_frames
        self.picks = frame_picks(clip_frames, frames_per_clip)
        self.batch = batch_size or (default_batch_size(32, self.num_frames) if spec.video else FRAMES_PER_BATCH)

    def rows(self, dataset, clips: list[Any], label: str) -> np.ndarray:
        """``[items, d]``: one row per clip (video detector) or per picked frame of each clip (image detector)."""
        from metrics import sources

        if self.spec.video:
            items = [sources.Clip(c.video, tuple(c.frames[: self.num_frames])) for c in clips]
        else:
            items = [sources.Clip(c.video, tuple(c.frames[t] for t in self.picks)) for c in clips]

        def compute() -> dict[str, torch.Tensor]:
            start = time.perf_counter()
            if self.spec.video:
                batches = self.ctx.dataset_features(self.detector, dataset, items, batch_size=self.batch)
            else:
                batches = (
                    self.detector(f)
                    for f in sources.iter_dataset_frame_batches(
                        dataset, items, batch_size=self.batch, device=self.ctx.device, num_threads=self.ctx.num_threads
                    )
                )
            rows = torch.cat([b.float().cpu() for b in batches])
            print(
                f"sample-size: {self.name} of {label}: {rows.shape[0]} rows in {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
            return {"features": rows}

        fields = {
            "study": "sample_size",
            "features": self.name,
            "fingerprint": dataset.fingerprint(),
            "items": [(c.video, list(c.frames)) for c in items],
            "detector": self.detector.identity,
        }
        arrays, _ = self.ctx.cached_real(f"sample-size-{self.name}", fields, compute)
        return np.asarray(arrays["features"], np.float64)


def run_sample_size(
    dataset,
    *,
    metrics: Sequence[str],
    distortions: Sequence[Any],
    strengths: Sequence[float],
    num_videos: int,
    out_dir: str | Path,
    sizes: Sequence[int] | None = None,
    repeats: int = 10,
    clip_frames: int = 16,
    frames_per_clip: int = 4,
    max_rel_std: float = 0.02,
    min_tau: float = 0.9,
    distortion_batch: int = 16,
    device: Any = None,
    seed: int = 0,
    batch_size: int | None = None,
    detector_path: str | None = None,
    allow_stand_in_detectors: bool = False,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the study; write the CSV, PNG, ``n_stable.json`` and ``summary.md`` to ``out_dir``; return the JSON."""
    from metrics import sample_size
    from metrics.evaluation import evaluation_context

    if not metrics:
        raise ValueError(f"metrics is empty: choose among {', '.join(sample_size.STUDY_METRICS)}")
    chosen = {m: sample_size.study_metric(m) for m in metrics}
    if repeats < 2:
        raise ValueError(f"repeats: the spread over draws needs at least 2, got {repeats}")
    if not 0 < max_rel_std or not -1 <= min_tau <= 1:
        raise ValueError(f"max_rel_std must be > 0 and min_tau in [-1, 1], got {max_rel_std}, {min_tau}")
    specs = {f: sample_size.STUDY_FEATURES[f] for f in dict.fromkeys(m.features for m in chosen.values())}
    clip_frames = max([int(clip_frames)] + [s.num_frames for s in specs.values() if s.video])
    built = build_distortions(distortions)
    strengths = check_strengths(strengths)
    reference, test = split_halves(dataset, int(num_videos))
    source = SourceClips(test, max(d.source_frames(clip_frames) for d in built.values()), seed)
    ctx = evaluation_context(
        device=device,
        seed=seed,
        batch_size=batch_size,
        detector_path=detector_path,
        allow_stand_in_detectors=allow_stand_in_detectors,
        cache_dir=cache_dir,
    )
    from metrics import sources

    real_clips = sources.select_real_clips(reference, num_videos=len(reference), num_frames=clip_frames, seed=seed)
    reference = KeptClips(reference, real_clips)
    configs = configurations(built, strengths)
    fake_sets = {
        label: DistortedVideos(source, built[name], name, s, clip_frames, batch_size=distortion_batch, seed=seed)
        for label, name, s in configs
    }
    fake_clips = [sources.Clip(i, tuple(range(clip_frames))) for i in range(len(test))]

    rows: list[dict[str, Any]] = []
    detectors, stand_in = {}, False
    with torch.no_grad():
        for fname, spec in specs.items():
            sides = FeatureSides(ctx, fname, spec, clip_frames, frames_per_clip, batch_size)
            detectors[fname] = sides.detector.name
            stand_in = stand_in or bool(sides.detector.stand_in)
            real = sides.rows(reference, real_clips, "the reference half")
            fakes = {label: sides.rows(videos, fake_clips, label) for label, videos in fake_sets.items()}
            mine = {m: spec_ for m, spec_ in chosen.items() if spec_.features == fname}
            start = time.perf_counter()
            rows += sample_size.study(
                real, fakes, mine, sizes=list(sizes) if sizes else None, repeats=int(repeats), seed=seed
            )
            print(f"sample-size: {', '.join(mine)} drawn in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    stable = sample_size.n_stable(rows, max_rel_std=max_rel_std, min_tau=min_tau)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample_size.write_csv(rows, out / "sample_size.csv")
    sample_size.plot(rows, out / "sample_size.png", max_rel_std=max_rel_std, min_tau=min_tau)
    report = summary_json(
        rows,
        stable,
        chosen=chosen,
        dataset=dataset,
        detectors=detectors,
        stand_in=stand_in,
        configs=[c[0] for c in configs],
        repeats=int(repeats),
        max_rel_std=max_rel_std,
        min_tau=min_tau,
    )
    atomic_write_text(out / "n_stable.json", json.dumps(report, indent=1) + "\n")  # complete or absent
    atomic_write_text(out / "summary.md", summary_markdown(report))
    return report


def summary_json(rows, stable, *, chosen, dataset, detectors, stand_in, configs, repeats, max_rel_std, min_tau):
    """What ``n_stable.json`` holds: per metric row its N_stable, the largest N tried, where the covariance stops
    being rank-deficient (Gaussian metrics), and the record result keys it stands for."""
    from metrics import sample_size
    from metrics.stats import RANK_NOTE

    metrics = {}
    for name, n in stable.items():
        mine = sorted((r for r in rows if r["metric"] == name), key=lambda r: r["n"])
        deficient = [r["n"] for r in mine if r["rank_deficient"]]
        base = next(m for m in chosen if name == m or name.startswith(m + "_"))
        metrics[name] = {
            "n_stable": n,
            "largest_n": mine[-1]["n"],
            "features": chosen[base].features,
            "detector": detectors[chosen[base].features],
            "rank_deficient_up_to": max(deficient) if deficient else None,
            "dim": mine[-1]["dim"],
            "result_keys": sample_size.result_keys_pattern(name),
            "rel_std": {str(r["n"]): r["rel_std"] for r in mine},
            "tau": {str(r["n"]): r["tau"] for r in mine},
        }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset": type(dataset).__name__ + (f"({dataset.path})" if getattr(dataset, "path", "") else ""),
        "dataset_fingerprint": dataset.fingerprint(),
        "stand_in": stand_in,
        "configurations": configs,
        "repeats": repeats,
        "max_rel_std": max_rel_std,
        "min_tau": min_tau,
        "rank_note": RANK_NOTE,
        "metrics": metrics,
    }


def summary_markdown(report: dict[str, Any]) -> str:
    stand_in = " Stand-in detectors: numbers describe random networks of the real architectures."
    lines = [
        f"# Sample-size study: {report['dataset']}",
        "",
        f"Configurations: {', '.join(report['configurations'])}; {report['repeats']} draws per N. "
        f"N_stable = smallest N from which on relative std ≤ {report['max_rel_std']:.0%} and Kendall τ ≥ "
        f"{report['min_tau']} (— = not reached up to the largest N)." + (stand_in if report["stand_in"] else ""),
        "",
        "| metric | detector | N_stable | largest N | rank-deficient up to N |",
        "|---|---|---|---|---|",
    ]
    for name, m in report["metrics"].items():
        n = m["n_stable"] if m["n_stable"] is not None else "—"
        deficient = m["rank_deficient_up_to"] if m["rank_deficient_up_to"] is not None else ""
        lines.append(f"| {name} | {m['detector']} | {n} | {m['largest_n']} | {deficient} |")
    if any(m["rank_deficient_up_to"] for m in report["metrics"].values()):
        lines += ["", f"Rank-deficient rows: {report['rank_note']}."]
    return "\n".join(lines) + "\n"
