"""``sgvb convert SRC_DIR OUT.zip``: a folder of video files -> a frames-layout zip (what ``frames`` reads fastest).

Each video becomes ``<top>/<video>/%06d.jpg`` (``<top>`` = the zip's stem, so StyleGAN-V's own loader reads
it too): shorter side resized with LANCZOS to ``--resolution``, centre-cropped to a square, saved as JPEG
at ``--quality`` (really passed as ``quality=``; the official scripts' ``q=95`` silently gives 75).
``<top>/dataset.json`` records the sources, resolution and JPEG quality (``labels`` is null, as the
official format expects for unconditional data). A video that fails to decode is named and skipped;
the zip is written to a temporary file and renamed only when complete. It holds no clock (no creation time, fixed
member dates: ``benchmarks.data.zips``), so the same sources and options give the same bytes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import warnings
import zipfile
from pathlib import Path

from benchmarks.data.base import DatasetError, fit_square
from benchmarks.data.video_files import VIDEO_EXTENSIONS, find_videos, open_video
from benchmarks.data.zips import put
from benchmarks.errors import one_line_errors
from benchmarks.progress import steps
from registry.files import atomic_path


def decode_resampled(path: Path, fps: float | None = None, max_frames: int | None = None):
    """Yield PIL frames of a video, optionally resampled to ``fps`` (nearest frame in time)."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 0) or None
        emitted, target_index, previous, t0 = 0, 0, None, None
        for k, frame in enumerate(container.decode(stream)):
            if max_frames is not None and emitted >= max_frames:
                return
            if fps is None:
                yield frame.to_image()
                emitted += 1
                continue
            t = frame.time if frame.time is not None else (k / rate if rate else None)
            if t is None:
                raise DatasetError(
                    f"convert: '{path}' has no frame timestamps or frame rate, so --fps cannot resample it"
                )
            t0 = t if t0 is None else t0
            t -= t0
            image = frame.to_image()
            if previous is not None:  # targets nearer to the previous frame than to this one
                while target_index / fps <= (previous[0] + t) / 2 and (max_frames is None or emitted < max_frames):
                    yield previous[1]
                    emitted += 1
                    target_index += 1
            previous = (t, image)
        if fps is not None and previous is not None:
            end = previous[0] + (1 / rate if rate else 1 / fps)  # the last frame lasts one frame period
            while target_index / fps < end - 1e-9 and (max_frames is None or emitted < max_frames):
                yield previous[1]
                emitted += 1
                target_index += 1
    finally:
        container.close()


def _video_names(files: list[Path], root: Path) -> list[str]:
    """One folder name per video: its relative path without suffix, '/' -> '_'; clashes get the suffix, then a
    number."""
    names, taken = [], set()
    for f in files:
        base = f.relative_to(root).with_suffix("").as_posix().replace("/", "_")
        name = base if base not in taken else f"{base}_{f.suffix.lstrip('.').lower()}"
        n = 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


def convert_videos(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    resolution: int = 128,
    quality: int = 95,
    max_frames: int | None = None,
    fps: float | None = None,
    log=print,
    progress: bool = True,
) -> dict:
    """Convert every video file under ``src`` into the frames-layout zip ``out``; returns the metadata written.
    ``progress``: videos converted, with rate and ETA on stderr (one line per step when stderr is not a terminal)."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.exists():
        raise DatasetError(f"convert: source folder '{src}' does not exist")
    if not src.is_dir():
        raise DatasetError(f"convert: source '{src}' is not a folder of video files")
    if out.suffix.lower() != ".zip":
        raise DatasetError(f"convert: output '{out}' must end in .zip")
    if resolution < 1:
        raise DatasetError(f"convert: --resolution must be positive, got {resolution}")
    if not 1 <= quality <= 100:
        raise DatasetError(f"convert: --quality must be in 1..100, got {quality}")
    if max_frames is not None and max_frames < 1:
        raise DatasetError(f"convert: --max-frames must be >= 1, got {max_frames}")
    if fps is not None and fps <= 0:
        raise DatasetError(f"convert: --fps must be positive, got {fps}")
    files = find_videos(src)
    if not files:
        raise DatasetError(f"convert: no video files ({', '.join(VIDEO_EXTENSIONS)}) found in '{src}'")

    top = out.stem
    sources, failed = [], []
    counter = steps("convert", len(files), "videos", enabled=progress)
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            put(zf, f"{top}/", b"")
            for path, name in zip(files, _video_names(files, src)):
                rel = path.relative_to(src).as_posix()
                try:  # encode the whole video first, so a failure leaves no partial folder behind
                    jpegs = []
                    for image in decode_resampled(path, fps=fps, max_frames=max_frames):
                        buf = io.BytesIO()
                        fit_square(image, resolution).save(buf, format="JPEG", quality=quality)
                        jpegs.append(buf.getvalue())
                    if not jpegs:
                        raise DatasetError("no frames decoded")
                except Exception as exc:
                    reason = str(exc) if isinstance(exc, DatasetError) else f"{type(exc).__name__}: {exc}"
                    failed.append({"file": rel, "error": reason})
                    warnings.warn(f"convert: skipping '{path}': {reason}", stacklevel=2)
                    if counter is not None:
                        counter.update(1)
                    continue
                put(zf, f"{top}/{name}/", b"")
                for j, data in enumerate(jpegs):
                    put(zf, f"{top}/{name}/{j:06d}.jpg", data)
                sources.append({"file": rel, "video": name, "frames": len(jpegs)})  # names: in dataset.json
                if counter is not None:
                    counter.update(1)
            if counter is not None:
                counter.close()
            if not sources:
                raise DatasetError(
                    f"convert: none of the {len(files)} videos in '{src}' could be decoded "
                    f"(e.g. '{failed[0]['file']}': {failed[0]['error']})"
                )
            meta = {
                "labels": None,
                "sgvb": {
                    "format": "frames",
                    "resolution": resolution,
                    "resize": "shorter side to resolution (LANCZOS), centre crop",
                    "jpeg_quality": quality,
                    "fps": fps,
                    "max_frames": max_frames,
                    "sources": sources,
                    "failed": failed,
                },
            }
            put(zf, f"{top}/dataset.json", json.dumps(meta, indent=1))
    log(
        f"wrote '{out}': {len(sources)} videos, {sum(s['frames'] for s in sources)} frames"
        + (f"; skipped {len(failed)} that failed to decode: {', '.join(f['file'] for f in failed)}" if failed else "")
    )
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgvb convert", description=__doc__.split("\n")[0])
    parser.add_argument("src", help="folder of video files (searched recursively)")
    parser.add_argument("out", help="output .zip in the frames layout")
    parser.add_argument("--resolution", type=int, default=128, help="square output size (default 128)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality 1..100 (default 95)")
    parser.add_argument("--max-frames", type=int, default=None, help="keep at most this many frames per video")
    parser.add_argument("--fps", type=float, default=None, help="resample every video to this frame rate")
    args = parser.parse_args(argv)
    # a bad source, option or output path (or an unwritable one): one line, exit status 2
    with one_line_errors("convert", known=(DatasetError, OSError), exit_on_error=False) as failure:
        convert_videos(
            args.src,
            args.out,
            resolution=args.resolution,
            quality=args.quality,
            max_frames=args.max_frames,
            fps=args.fps,
        )
    return failure.status


if __name__ == "__main__":
    sys.exit(main())
