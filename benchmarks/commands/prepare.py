"""``sgvb prepare NAME RAW OUT [--resolution R] [--split S] ...``: argument parsing and one-line errors."""
from __future__ import annotations

import argparse
import sys

from benchmarks.data.base import DatasetError
from benchmarks.data.prepare.build import prepare_dataset
from benchmarks.data.prepare.layouts import PREPARERS


def _epilog() -> str:
    lines = ["datasets (default split, resolution; raw layout):"]
    for p in PREPARERS.values():
        lines.append(f"  {p.name}: split {p.default_split} of {'|'.join(p.splits)}, {p.resolution}px; {p.layout}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgvb prepare", description=__doc__.split("\n")[0],
                                     epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(PREPARERS), metavar="NAME", help=f"one of {', '.join(PREPARERS)}")
    parser.add_argument("raw", help="the unpacked raw download (RainbowJelly: the video file)")
    parser.add_argument("out", help="output .zip (frames layout); the manifest goes next to it as .json")
    parser.add_argument("--resolution", type=int, default=None, help="square size (default: the paper's, 256; MEAD 1024)")
    parser.add_argument("--split", default=None, help="train | test | all (ffs also val); default: the paper's, recorded")
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality (default 75: what the official scripts really wrote)")
    parser.add_argument("--fps", type=float, default=None, help="resample video sources to this frame rate (default: every frame)")
    parser.add_argument("--workers", type=int, default=None, help="decoding/resizing processes (default: every CPU)")
    parser.add_argument("--fold", type=int, default=None, help="ucf101: official split list 1, 2 or 3 (default 1)")
    parser.add_argument("--crop", default=None, help="ffs: per_frame (official, default) or per_video face box")
    parser.add_argument("--view", default=None, help="mead: camera view (default front)")
    parser.add_argument("--start-frame", type=int, default=None, help="rainbow_jelly: first frame used (default 150)")
    parser.add_argument("--clip-length", type=int, default=None, help="rainbow_jelly: frames per clip (default 512)")
    args = parser.parse_args(argv)
    options = {"fold": args.fold, "crop": args.crop, "view": args.view, "start_frame": args.start_frame, "clip_length": args.clip_length}
    try:
        prepare_dataset(args.name, args.raw, args.out, resolution=args.resolution, split=args.split, quality=args.quality,
                        fps=args.fps, workers=args.workers, options=options)
    except DatasetError as exc:
        print(f"sgvb prepare: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
