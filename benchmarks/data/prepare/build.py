"""Run a preparer: render videos in worker processes into a staging folder, then assemble the zip and manifest.

Resumable by construction: every finished video is a part file under ``.<out>.partial/videos/`` (renamed
into place only when complete), next to ``plan.json`` (everything that decides the output). A killed
run leaves the parts; running the same command again keeps the parts that verify (a readable zip whose
frames are all there, as its ``info.json`` counts them) and renders the rest anew. Workers die with the
run that started them (they never write into the folder after a kill). A run with different settings
refuses to mix the two. The zip is assembled under a temporary name and renamed only when complete, so
``OUT`` is either absent or whole (a staging folder left beside a whole ``OUT`` by a kill after the rename is
swept by the next prepare into that folder: ``sweep_finished_stages``); its bytes depend only on the parts
(fixed entry dates, no clock), so a resumed prepare gives the same file as an uninterrupted one, whenever the kill
came.
"""

from __future__ import annotations

import datetime as _dt
import json
import multiprocessing
import os
import shutil
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.data.base import DatasetError, length_stats
from benchmarks.data.frames import FramesDataset
from benchmarks.data.prepare.layouts import PrepareError
from benchmarks.data.prepare.render import PART_INFO, die_with_parent, render_part
from benchmarks.data.zips import put
from benchmarks.progress import steps
from registry import PREPARERS, UnknownComponentError
from registry.files import TEMP_GLOB, atomic_path, atomic_write_json
from registry.interfaces import DatasetPreparer, VideoJob

MANIFEST_FORMAT = 1
FVD_LENGTHS = (16, 128)  # the official FVD clip lengths: how many videos each can use


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def sweep_finished_stages(folder: Path) -> list[Path]:
    """Remove the staging folders of ``folder`` whose output is in place; returns them.

    Why: the zip is renamed in only when whole and its staging folder is removed after that, so a kill between the
    two (or during the removal) leaves a hidden folder as large as the dataset that nothing would ever resume (a
    prepare into an existing output is refused). Every prepare sweeps its output's folder first, as atomic writes
    sweep the temp files of dead writers."""
    swept = []
    for stage in sorted(folder.glob(".*.partial")):
        if stage.is_dir() and (folder / stage.name[1 : -len(".partial")]).is_file():
            shutil.rmtree(stage, ignore_errors=True)
            swept.append(stage)
    return swept


def _render(args: tuple) -> dict:
    job, part, resolution, quality, fps, parent = args
    return render_part(job, part, resolution, quality, fps, parent=parent)


def part_is_complete(part: Path) -> bool:
    """A part is finished when it is a readable zip (CRCs checked) whose ``info.json`` counts exactly its frames."""
    try:
        with zipfile.ZipFile(part) as zf:
            if zf.testzip() is not None:
                return False
            info = json.loads(zf.read(PART_INFO))
            frames = sorted(n for n in zf.namelist() if n != PART_INFO)
        return frames == [f"{k:06d}.jpg" for k in range(int(info["frames"]))] and info["frames"] > 0
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return False


def length_histogram(lengths: list[int]) -> dict[str, int]:
    """Videos per power-of-two length bucket ('16-31': videos with 16..31 frames), in increasing order."""
    counts = Counter(max(n, 1).bit_length() - 1 for n in lengths)
    return {f"{1 << b}-{(1 << (b + 1)) - 1}": counts[b] for b in sorted(counts)}


def resolve_options(name: str, preparer: DatasetPreparer, given: dict[str, Any]) -> dict[str, Any]:
    """The preparer's options with the given ones applied; an option it does not take is an error."""
    unknown = [k for k, v in given.items() if v is not None and k not in preparer.options]
    if unknown:
        takes = ", ".join(f"--{k.replace('_', '-')}" for k in preparer.options) or "no dataset options"
        raise PrepareError(f"{name}: --{unknown[0].replace('_', '-')} does not apply (it takes {takes})")
    return {k: (given[k] if given.get(k) is not None else v) for k, v in preparer.options.items()}


def prepare_dataset(
    name: str,
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    resolution: int | None = None,
    split: str | None = None,
    quality: int = 75,
    fps: float | None = None,
    workers: int | None = None,
    options: dict[str, Any] | None = None,
    log=print,
    progress: bool = True,
) -> dict:
    """Prepare benchmark ``name`` (a ``PREPARERS`` name) from the raw download ``raw`` into the frames zip ``out``;
    returns the manifest. ``progress``: videos rendered, then assembled, with rate and ETA on stderr
    (``benchmarks.progress``; one line per step when stderr is not a terminal)."""
    try:
        name = PREPARERS.info(name).name
    except UnknownComponentError as exc:
        raise PrepareError(f"unknown dataset '{name}': expected one of {', '.join(PREPARERS)}") from exc
    preparer = PREPARERS.build(name)
    raw, out = Path(raw).expanduser(), Path(out).expanduser()
    split = split or preparer.default_split
    resolution = int(resolution or preparer.resolution)
    if split not in preparer.splits:
        raise PrepareError(f"{name}: --split must be one of {', '.join(preparer.splits)}, got '{split}'")
    if out.suffix.lower() != ".zip":
        raise PrepareError(f"output '{out}' must end in .zip")
    sweep_finished_stages(out.parent)  # what a prepare killed after its zip's rename left
    if out.exists():
        raise PrepareError(f"output '{out}' already exists; delete it to prepare again")
    if not raw.exists():
        raise PrepareError(f"raw dataset '{raw}' does not exist: expected {preparer.layout}")
    if resolution < 1 or not 1 <= quality <= 100:
        raise PrepareError(f"--resolution must be positive and --quality in 1..100, got {resolution} and {quality}")
    if fps is not None and (fps <= 0 or not preparer.resamplable):
        raise PrepareError(
            f"{name}: --fps {fps} is not allowed ({'must be positive' if fps <= 0 else preparer.frame_rate})"
        )
    opts = resolve_options(name, preparer, options or {})
    try:
        jobs = preparer.jobs(raw, split, opts)
    except DatasetError:
        raise
    except ValueError as exc:  # the contract's layout error (a plugin need not import ours)
        raise PrepareError(f"{name}: {exc}") from exc

    stage = staging_dir(out)
    plan = {
        "format": MANIFEST_FORMAT,
        "dataset": name,
        "split": split,
        "resolution": resolution,
        "quality": quality,
        "fps": fps,
        "options": opts,
        "jobs": [j.key() for j in jobs],
    }
    parts = _open_staging(stage, plan)
    pending = []
    for j in jobs:
        part = parts / f"{j.name}.zip"
        if not part_is_complete(part):  # missing, or not what a finished worker leaves: render it again
            part.unlink(missing_ok=True)
            pending.append(j)
    if len(pending) < len(jobs):
        log(f"resuming: {len(jobs) - len(pending)} of {len(jobs)} videos already prepared in '{stage}'")
    start = time.perf_counter()
    _render_all(pending, parts, resolution, quality, fps, workers, progress)
    with atomic_path(out) as assembly:  # the zip takes its name only after the manifest is written
        manifest = _assemble(assembly, out.stem, name, preparer, jobs, parts, plan, raw, progress)
        manifest["elapsed_s"] = round(time.perf_counter() - start, 3)
        manifest_path = atomic_write_json(out.with_suffix(".json"), manifest)
    shutil.rmtree(stage)
    log(
        f"wrote '{out}' ({manifest['videos']} videos, {manifest['frames']} frames, {resolution}x{resolution}) "
        f"and '{manifest_path}'"
    )
    return manifest


def _open_staging(stage: Path, plan: dict) -> Path:
    parts = stage / "videos"
    plan_file = stage / "plan.json"
    if not plan_file.is_file() and stage.exists():  # no plan, no trusted parts: whatever is there is not ours
        shutil.rmtree(stage)
    if plan_file.is_file():
        try:
            old = json.loads(plan_file.read_text())
        except ValueError:
            old = None
        if old != plan:
            differ = sorted(k for k in plan if old is None or old.get(k) != plan[k])
            raise PrepareError(
                f"'{stage}' holds an unfinished prepare with other settings ({', '.join(differ)} differ); "
                f"rerun with the same settings to resume it, or delete it to start over"
            )
    else:
        parts.mkdir(parents=True, exist_ok=True)
        atomic_write_json(plan_file, plan)
    parts.mkdir(parents=True, exist_ok=True)
    for leftover in parts.glob(TEMP_GLOB):  # a killed worker's unfinished part
        leftover.unlink(missing_ok=True)
    return parts


def _render_all(
    pending: list[VideoJob],
    parts: Path,
    resolution: int,
    quality: int,
    fps: float | None,
    workers: int | None,
    progress: bool,
) -> None:
    """Render the pending videos, ``workers`` at a time (default: every CPU); the first failure stops the run."""
    if not pending:
        return
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(pending)))
    parent = os.getpid()
    watch = parent if workers > 1 else None  # a pool worker checks that this run still lives before its rename
    tasks = ((job, str(parts / f"{job.name}.zip"), resolution, quality, fps, watch) for job in pending)
    counter = steps("prepare: rendering", len(pending), "videos", enabled=progress)
    try:
        if workers == 1:
            for task in tasks:
                _render(task)
                if counter is not None:
                    counter.update(1)
            return
        # chunksize 1 and imap keep at most a few videos in flight per worker: memory stays bounded
        # a worker dies with this process (a SIGKILLed run must not leave workers finishing parts behind its back)
        with multiprocessing.get_context("fork").Pool(workers, initializer=die_with_parent, initargs=(parent,)) as pool:
            for _ in pool.imap_unordered(_render, tasks, chunksize=1):
                if counter is not None:
                    counter.update(1)
    finally:
        if counter is not None:
            counter.close()


def _assemble(
    tmp: Path,
    top: str,
    name: str,
    preparer: DatasetPreparer,
    jobs: list[VideoJob],
    parts: Path,
    plan: dict,
    raw: Path,
    progress: bool = False,
) -> dict:
    """Copy the parts, in name order, into ``<top>/<video>/%06d.jpg`` of the zip ``tmp``; add the manifest."""
    infos = []
    counter = steps("prepare: assembling", len(jobs), "videos", enabled=progress)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        put(zf, f"{top}/", b"")
        for job in jobs:
            with zipfile.ZipFile(parts / f"{job.name}.zip") as part:
                infos.append(json.loads(part.read(PART_INFO)))
                put(zf, f"{top}/{job.name}/", b"")
                for member in sorted(n for n in part.namelist() if n != PART_INFO):
                    put(zf, f"{top}/{job.name}/{member}", part.read(member))
            if counter is not None:
                counter.update(1)
    if counter is not None:
        counter.close()
    lengths = [i["frames"] for i in infos]
    manifest = {
        "format": MANIFEST_FORMAT,
        "dataset": name,
        "split": plan["split"],
        "options": plan["options"],
        "raw": str(raw),
        "zip_top_folder": top,
        "resolution": plan["resolution"],
        "videos": len(lengths),
        "frames": sum(lengths),
        "length": length_stats(lengths),  # what check-dataset prints too
        "length_histogram": length_histogram(lengths),
        "videos_at_least": {str(n): sum(1 for x in lengths if x >= n) for n in FVD_LENGTHS},
        "fps": plan["fps"] or preparer.fps,
        "frame_rate_rule": preparer.frame_rate
        if plan["fps"] is None
        else f"resampled to {plan['fps']} fps (nearest frame in time)",
        "preprocessing": {
            "crop_and_resize": preparer.preprocessing,
            "jpeg_quality": plan["quality"],
            "frame_names": "%06d.jpg",
        },
        "fingerprint": FramesDataset(tmp, resolution=plan["resolution"], check=False).fingerprint(),
        "fingerprint_of": (
            f"FramesDataset(path, resolution={plan['resolution']}): the key our real-statistics cache uses"
        ),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "per_video": infos,
    }
    with zipfile.ZipFile(tmp, "a") as zf:  # dataset.json is not a frame: the fingerprint above stays valid
        put(  # no clock in the zip: the same parts give the same bytes (the date is in the manifest file)
            zf,
            f"{top}/dataset.json",
            json.dumps(
                {"labels": None, "sgvb": {k: v for k, v in manifest.items() if k not in ("per_video", "created")}},
                indent=1,
            ).encode(),
        )
    return manifest
