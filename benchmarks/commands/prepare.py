"""``sgvb prepare NAME RAW OUT [--resolution R] [--split S] ...``: argument parsing and one-line errors.

NAME is any registered preparer (``registry.PREPARERS``): the built-ins and those of installed plugins
(entry-point group ``sgvb.preparers``).
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.data.base import DatasetError
from benchmarks.data.prepare.build import prepare_dataset
from benchmarks.errors import one_line_errors
from registry import PREPARERS, RegistryError


def _epilog() -> str:
    """Each dataset's split, size and raw layout; a plugin's only by name (listing imports no plugin)."""
    lines = ["datasets (default split, resolution; raw layout):"]
    for name in PREPARERS.list():
        info = PREPARERS.info(name)
        if not info.loaded:
            lines.append(f"  {name}: plugin {info.provider} {info.version} ({info.obj})")
            continue
        p = PREPARERS.get(name)
        lines.append(f"  {name}: split {p.default_split} of {'|'.join(p.splits)}, {p.resolution}px; {p.layout}")
    return "\n".join(lines)


# the built-in preparers' options, each with its own help; a plugin's other options are added when it is chosen
BUILTIN_OPTIONS = ("fold", "crop", "view", "start_frame", "clip_length")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgvb prepare",
        description=__doc__.split("\n")[0],
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = PREPARERS.list()
    parser.add_argument("name", choices=names, metavar="NAME", help=f"one of {', '.join(names)}")
    parser.add_argument("raw", help="the unpacked raw download (RainbowJelly: the video file)")
    parser.add_argument("out", help="output .zip (frames layout); the manifest goes next to it as .json")
    parser.add_argument(
        "--resolution", type=int, default=None, help="square size (default: the paper's, 256; MEAD 1024)"
    )
    parser.add_argument(
        "--split", default=None, help="train | test | all (ffs also val); default: the paper's, recorded"
    )
    parser.add_argument(
        "--quality", type=int, default=75, help="JPEG quality (default 75: what the official scripts really wrote)"
    )
    parser.add_argument(
        "--fps", type=float, default=None, help="resample video sources to this frame rate (default: every frame)"
    )
    parser.add_argument("--workers", type=int, default=None, help="decoding/resizing processes (default: every CPU)")
    parser.add_argument("--fold", type=int, default=None, help="ucf101: official split list 1, 2 or 3 (default 1)")
    parser.add_argument("--crop", default=None, help="ffs: per_frame (official, default) or per_video face box")
    parser.add_argument("--view", default=None, help="mead: camera view (default front)")
    parser.add_argument("--start-frame", type=int, default=None, help="rainbow_jelly: first frame used (default 150)")
    parser.add_argument("--clip-length", type=int, default=None, help="rainbow_jelly: frames per clip (default 512)")
    return parser


def _add_own_options(parser: argparse.ArgumentParser, name: str) -> list[str]:
    """Command-line options for what the chosen preparer takes beyond the built-ins' options (a plugin's), typed by
    their defaults."""
    added = []
    for key, default in PREPARERS.get(name).options.items():
        if key in BUILTIN_OPTIONS:
            continue
        kind = type(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else str
        parser.add_argument(
            f"--{key.replace('_', '-')}", dest=key, type=kind, default=None, help=f"{name}: (default {default})"
        )
        added.append(key)
    return added


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    with one_line_errors("prepare", known=(RegistryError,), exit_on_error=False) as failure:
        # a plugin that fails to import: the registry names it and why
        own = _add_own_options(parser, parser.parse_known_args(argv)[0].name)
    if failure:
        return failure.status
    args = parser.parse_args(argv)
    options = {key: getattr(args, key) for key in (*BUILTIN_OPTIONS, *own)}
    with one_line_errors("prepare", known=(DatasetError, RegistryError), log_dir=None, exit_on_error=False) as failure:
        prepare_dataset(
            args.name,
            args.raw,
            args.out,
            resolution=args.resolution,
            split=args.split,
            quality=args.quality,
            fps=args.fps,
            workers=args.workers,
            options=options,
        )
    return failure.status if failure else 0


if __name__ == "__main__":
    sys.exit(main())
