"""Run an audit: every metric, every distortion, every strength, between the reference and the distorted test half.

The reference half is the metric's *real* side, so its features are computed once per metric and then
read from the real-statistics cache (``metrics/cache.py``) for every other distortion and strength.
Strength 0 (the undistorted test half) is scored once per metric: it is the metric's noise floor, the
value two samples of the same data get.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.audit import figures, summary
from benchmarks.audit.data import DistortedVideos, SourceClips, split_halves
from registry import DISTORTIONS
from registry.core import canonical, split_spec


def metric_span(metric: Any, clip_frames: int) -> int:
    """Frames of test video a metric reads: T * subsample for clip metrics, ``clip_frames`` for frame metrics (FID)."""
    if hasattr(metric, "num_frames"):
        return int(metric.num_frames) * int(getattr(metric, "subsample", 1))
    return int(clip_frames)


def metric_labels(chosen: Sequence[Any]) -> list[str]:
    """The audit table's name of each metric: its own name, with its detector where two share a name
    (``fvd32_16f`` with I3D and ``fvd32_16f[videomae_v2]``), so every metric keeps its own rows and curve."""
    names = [m.name for m in chosen]
    labels = []
    for metric, name in zip(chosen, names):
        spec = getattr(metric, "detector_spec", None)
        detector = split_spec(spec, "detector")[0] if spec is not None and not isinstance(spec, str) else spec
        label = f"{name}[{detector}]" if names.count(name) > 1 and detector is not None else name
        labels.append(label)
    if len(set(labels)) != len(labels):
        duplicated = sorted({label for label in labels if labels.count(label) > 1})
        raise ValueError(f"metrics: {duplicated} given twice (same name and detector); give each metric once")
    return labels


def check_strengths(strengths: Sequence[float]) -> list[float]:
    values = sorted({float(s) for s in strengths})
    bad = [s for s in values if not 0 < s <= 1]
    if bad or not values:
        raise ValueError(
            f"strengths: give values in (0, 1] (0, the noise floor, is always measured), got {list(strengths)}"
        )
    return values


def build_distortions(specs: Sequence[Any]) -> dict[str, Any]:
    if not specs:
        raise ValueError("distortions is empty: e.g. distortions=[gaussian_blur,frame_freeze] (sgvb list distortions)")
    built = {}
    for spec in specs:
        name, _ = split_spec(spec, "distortion")
        built[canonical(name)] = DISTORTIONS.build(spec)
    return built


def run_audit(
    dataset,
    *,
    metrics: Sequence[Any],
    distortions: Sequence[Any],
    strengths: Sequence[float],
    num_videos: int,
    out_dir: str | Path,
    device: Any = None,
    seed: int = 0,
    batch_size: int | None = None,
    distortion_batch: int = 16,
    clip_frames: int = 16,
    detector_path: str | None = None,
    allow_stand_in_detectors: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every (metric, distortion, strength); write the table, summaries and figures to ``out_dir``; return the
    table."""
    from metrics import build_metric, evaluate

    strengths = check_strengths(strengths)
    built = build_distortions(distortions)
    if not metrics:
        raise ValueError("metrics is empty: e.g. metrics=[fvd64_16f,consistency64_32f]")
    chosen = [build_metric(m) for m in metrics]
    labels = dict(zip((id(m) for m in chosen), metric_labels(chosen)))
    reference, test = split_halves(dataset, int(num_videos))
    spans = {m.name: metric_span(m, clip_frames) for m in chosen}
    source_frames = max(d.source_frames(s) for d in built.values() for s in spans.values())
    source = SourceClips(test, source_frames, seed)
    common = dict(
        real=reference,
        device=device,
        seed=seed,
        batch_size=batch_size,
        detector_path=detector_path,
        allow_stand_in_detectors=allow_stand_in_detectors,
        cache_dir=cache_dir,
    )

    from benchmarks.progress import steps

    counter = steps("audit", len(chosen) * (1 + len(built) * len(strengths)), "evaluations", enabled=progress)
    rows = []
    for metric in chosen:

        def score(distortion, name: str, strength: float) -> dict:
            fake = DistortedVideos(
                source, distortion, name, strength, spans[metric.name], batch_size=distortion_batch, seed=seed
            )
            record = evaluate(metric, fake=fake, **common)
            if counter is not None:
                counter.update(1)
            return record

        floor = score(next(iter(built.values())), "none", 0.0)
        label = labels[id(metric)]
        print(
            f"audit: {label}: noise floor {floor['value']:.4f} (n = {floor['protocol']['num_fake']})",
            file=sys.stderr,
        )
        for name, distortion in built.items():
            records = [(0.0, floor)] + [(s, score(distortion, name, s)) for s in strengths]
            for strength, rec in records:
                rows.append(
                    {
                        "metric": label,
                        "distortion": name,
                        "family": distortion.family,
                        "strength": strength,
                        "parameter_name": distortion.parameter_name,
                        "parameter": distortion.parameter(strength) if strength else None,
                        "value": rec["value"],
                        "noise_floor": floor["value"],
                        "n": rec["protocol"]["num_fake"],
                        "stand_in": bool(rec["protocol"].get("stand_in", False)),
                    }
                )
            print(
                f"audit: {label} × {name}: " + ", ".join(f"{s:g}→{r['value']:.4f}" for s, r in records),
                file=sys.stderr,
            )
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=summary.TABLE_COLUMNS).to_csv(
            Path(out_dir) / "audit.partial.csv", index=False
        )  # long runs keep finished metrics
    if counter is not None:
        counter.close()
    table = pd.DataFrame(rows, columns=summary.TABLE_COLUMNS)
    write_outputs(table, Path(out_dir))
    (Path(out_dir) / "audit.partial.csv").unlink(missing_ok=True)
    return table


def write_outputs(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """``audit.csv`` (long form), ``summary_distortions.csv``, ``summary_metrics.csv``, ``summary.md``,
    ``response.png/pdf`` (every metric on one axis) and one figure per family."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_distortion = summary.per_distortion(table)
    by_metric = summary.per_metric(by_distortion)
    paths = {
        "table": out_dir / "audit.csv",
        "distortions": out_dir / "summary_distortions.csv",
        "metrics": out_dir / "summary_metrics.csv",
        "markdown": out_dir / "summary.md",
    }
    table.to_csv(paths["table"], index=False)
    by_distortion.to_csv(paths["distortions"], index=False)
    by_metric.to_csv(paths["metrics"], index=False)
    caveat = (
        "\n**Stand-in detectors** (random networks): these responses describe the stand-ins, "
        "not the real I3D/Inception/DINO/VideoMAE/V-JEPA/PIPs++.\n"
        if table["stand_in"].any()
        else ""
    )
    paths["markdown"].write_text(summary.markdown(by_distortion, by_metric) + caveat)
    stand = " [stand-in detectors]" if table["stand_in"].any() else ""
    for path in figures.plot_overview(table, out_dir / "response", f"every metric: response by family{stand}"):
        paths[f"overview_{path.suffix[1:]}"] = path
    for family in table["family"].unique():
        for path in figures.plot_family(
            table, family, out_dir / f"response_{family}", f"{family} distortions: metric response{stand}"
        ):
            paths[f"{family}_{path.suffix[1:]}"] = path
    return paths
