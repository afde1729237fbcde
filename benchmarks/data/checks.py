"""Dataset health check: ``sgvb check-dataset PATH`` reads every frame once, in parallel.

It reports unreadable or corrupt frames, mixed frame sizes, non-square frames, videos too short for a
metric protocol or a training sampler, and duplicate videos (identical decoded pixels). The cheap check the
dataset classes run when they are built (so training and evaluation fail in seconds on a missing, empty or
non-image frame, naming it) lives with them: ``frames.quick_check`` opens every frame's header,
``VideoFilesDataset`` every container. This module uses the dataset classes; they do not use it.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.data.base import DatasetError, bit_depth, length_stats, to_rgb8
from benchmarks.data.frames import FramesDataset
from benchmarks.data.video_files import VideoFilesDataset
from benchmarks.errors import one_line_errors

SUMMARY_EXAMPLES = 3


# ---------------------------------------------------------------------------------------------- full check
@dataclass
class VideoScan:
    """What reading every frame of one video found."""

    name: str
    length: int
    sizes: Counter = field(default_factory=Counter)
    depths: Counter = field(default_factory=Counter)  # bits per channel as stored -> frames
    errors: list[str] = field(default_factory=list)
    digest: str = ""


def open_dataset(path: str | os.PathLike, check: bool = False):
    """The dataset at ``path``: a frames zip or folder of frame folders, else a folder of video files."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"dataset path '{p}' does not exist")
    frames_like = p.is_file() or any(c.is_dir() for c in p.iterdir())
    cls = FramesDataset if frames_like else VideoFilesDataset
    return cls(str(p), resolution=1, check=check)


_WORKER_DATASET: dict = {}


def _scan(args: tuple) -> VideoScan:
    path, i = args
    if path not in _WORKER_DATASET:  # one open dataset (zip handle) per worker process
        _WORKER_DATASET[path] = open_dataset(path)
    return scan_video(_WORKER_DATASET[path], i)


def scan_video(dataset, i: int) -> VideoScan:
    """Decode every frame of video ``i`` (sizes as stored, before any resizing) and hash the pixels."""
    scan = VideoScan(name=dataset.video_name(i), length=dataset.video_length(i))
    digest = hashlib.sha256()
    for k, image in dataset.raw_frames(i, scan.errors):
        scan.depths[bit_depth(image)] += 1
        try:
            a = np.asarray(to_rgb8(image))  # what training reads (an RGB frame: no copy)
        except ValueError as exc:
            scan.errors.append(f"frame {k} of video '{scan.name}': {exc}")
            continue
        scan.sizes[(a.shape[1], a.shape[0])] += 1
        digest.update(np.asarray(a.shape, dtype=np.int64).tobytes())
        digest.update(a.tobytes())
    read = sum(scan.sizes.values())
    if read < scan.length and not scan.errors:
        scan.errors.append(f"video '{scan.name}' decoded {read} of its {scan.length} frames")
    scan.digest = digest.hexdigest()
    return scan


@dataclass
class Requirement:
    """A protocol or sampler: videos need ``min_length`` frames; ``num_videos`` are wanted (None: any)."""

    name: str
    min_length: int
    num_videos: int | None = None


def protocol_requirement(name: str) -> Requirement:
    from metrics import build_metric

    try:
        metric = build_metric(name)
    except (KeyError, ValueError) as exc:
        raise DatasetError(
            f"--protocol '{name}' is not a metric protocol; "
            "expected e.g. fvd2048_16f, fvd2048_128f (`sgvb list metrics`)"
        ) from exc
    span = int(getattr(metric, "num_frames", 1)) * int(getattr(metric, "subsample", 1))
    return Requirement(f"protocol {name}", span, getattr(metric, "num_videos", None))


def sampler_requirement(name: str) -> Requirement:
    from registry import SAMPLERS

    try:
        sampler = SAMPLERS.build(name)
    except Exception as exc:  # noqa: BLE001 - unknown names, bad options
        raise DatasetError(
            f"--sampler '{name}' is not a sampler; expected e.g. sparse_random (`sgvb list samplers`)"
        ) from exc
    return Requirement(f"sampler {name}", int(sampler.min_video_length))


@dataclass
class CheckReport:
    path: str
    scans: list[VideoScan]
    requirements: list[Requirement]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        length = length_stats([s.length for s in self.scans])  # the prepare manifest's summary
        sizes: Counter = sum((s.sizes for s in self.scans), Counter())
        lines = [
            f"check-dataset '{self.path}': {len(self.scans)} videos, {sum(sizes.values())} frames read, "
            f"length min/median/mean/max {length['min']}/{length['median']:g}/{length['mean']:g}/{length['max']}",
            "frame sizes: "
            + ", ".join(f"{w}x{h} ({n} frames)" for (w, h), n in sizes.most_common(4))
            + (f", ... {len(sizes) - 4} more" if len(sizes) > 4 else ""),
            "bit depth: "
            + ", ".join(
                f"{bits}-bit ({n} frames{'; scaled to 8 bits' if bits == 16 else ''})"
                for bits, n in sorted(sum((s.depths for s in self.scans), Counter()).items())
            ),
        ]
        lines += [f"ERROR {e}" for e in self.errors] + [f"warning {w}" for w in self.warnings]
        lines.append(
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
            if self.errors or self.warnings
            else "OK: no problems found"
        )
        return "\n".join(lines)


def _examples(items: list[str]) -> str:
    more = f", ... ({len(items) - SUMMARY_EXAMPLES} more)" if len(items) > SUMMARY_EXAMPLES else ""
    return "; ".join(items[:SUMMARY_EXAMPLES]) + more


def check_dataset(
    path: str | os.PathLike,
    *,
    protocols: tuple[str, ...] = (),
    samplers: tuple[str, ...] = (),
    workers: int | None = None,
) -> CheckReport:
    """Read every frame of the dataset at ``path`` (``workers`` processes) and report its problems."""
    requirements = [protocol_requirement(p) for p in protocols] + [sampler_requirement(s) for s in samplers]
    dataset = open_dataset(path)
    key = str(Path(path).expanduser())
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(dataset)))
    if workers == 1:
        scans = [scan_video(dataset, i) for i in range(len(dataset))]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            scans = list(pool.imap(_scan, [(key, i) for i in range(len(dataset))], chunksize=4))
    report = CheckReport(key, scans, requirements)
    _judge(report)
    return report


def _judge(report: CheckReport) -> None:
    scans = report.scans
    bad = [e for s in scans for e in s.errors]
    if bad:
        report.errors.append(f"{len(bad)} unreadable or corrupt frame(s): {_examples(bad)}")
    sizes: Counter = sum((s.sizes for s in scans), Counter())
    if len(sizes) > 1:
        (w, h), n = sizes.most_common(1)[0]
        off = [
            f"'{s.name}' ({', '.join(f'{a}x{b}' for a, b in s.sizes if (a, b) != (w, h))})"
            for s in scans
            if set(s.sizes) - {(w, h)}
        ]
        report.errors.append(
            f"mixed frame sizes: {len(off)} video(s) differ from the most common {w}x{h}: {_examples(off)}"
        )
    non_square = [f"{w}x{h} ({n} frames)" for (w, h), n in sizes.items() if w != h]
    if non_square:
        report.errors.append(
            f"non-square frames: {_examples(non_square)}; "
            "StyleGAN-V expects square frames (`sgvb prepare`/`sgvb convert` crop them)"
        )
    for req in report.requirements:
        short = [f"'{s.name}' ({s.length})" for s in scans if s.length < req.min_length]
        usable = len(scans) - len(short)
        if usable == 0:
            report.errors.append(
                f"{req.name}: needs videos of {req.min_length} frames; none of the {len(scans)} has that many"
            )
        elif short:
            report.warnings.append(
                f"{req.name}: {len(short)} video(s) shorter than {req.min_length} frames are skipped: "
                f"{_examples(short)}"
            )
        if req.num_videos is not None and 0 < usable < req.num_videos:
            report.warnings.append(
                f"{req.name}: {usable} usable videos, fewer than the {req.num_videos} it takes (it uses all {usable})"
            )
    groups = defaultdict(list)
    for s in scans:
        if not s.errors and s.sizes:
            groups[s.digest].append(s.name)
    dups = [" = ".join(f"'{n}'" for n in names) for names in groups.values() if len(names) > 1]
    if dups:
        report.warnings.append(f"{len(dups)} group(s) of duplicate videos (identical frames): {_examples(dups)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgvb check-dataset", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a frames zip or folder, or a folder of video files")
    parser.add_argument(
        "--protocol",
        action="append",
        default=[],
        help="a metric protocol whose length the videos need, e.g. fvd2048_128f (repeatable)",
    )
    parser.add_argument(
        "--sampler",
        action="append",
        default=[],
        help="a training sampler whose length the videos need, e.g. sparse_random (repeatable)",
    )
    parser.add_argument("--workers", type=int, default=None, help="reading processes (default: every CPU)")
    args = parser.parse_args(argv)
    # a missing path, an unknown protocol or sampler, a folder no dataset reads: one line, exit status 2
    with one_line_errors("check-dataset", known=(DatasetError, OSError), exit_on_error=False) as failure:
        report = check_dataset(
            args.path, protocols=tuple(args.protocol), samplers=tuple(args.sampler), workers=args.workers
        )
    if failure:
        return failure.status
    print(report.summary())
    return 1 if report.errors else 0  # problems found in the data: status 1


if __name__ == "__main__":
    sys.exit(main())
