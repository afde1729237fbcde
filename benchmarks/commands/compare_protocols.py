"""``sgvb compare-protocols``: every published FVD protocol on the same real and fake videos, and what differs.

"My FVD does not match the paper" is nearly always an unstated protocol. This command runs each implementation's
whole pipeline (metrics.published: StyleGAN-V, StyleGAN-V with 4 real clips per video, Latte, TATS, DIGAN, VideoGPT
and its [-0.5, 0.5] variant, cd-fvd with I3D and VideoMAE, common_metrics_on_video_quality's two modes and its
FVD-vs-length curve, the original TF FVD) on one real and one fake set in one pass (detector features shared per
backbone, clip and pixels), then prints the values and, for each pair, what differs (clip rule, resize, range,
quantisation, estimator, draws) or why the two cannot be compared (different backbones).

examples:
  sgvb compare-protocols --allow-stand-in-detectors                     # built-in synthetic data, offline
  sgvb compare-protocols --real data/sky.zip --fake out/videos --resolution 256 --detector-path ~/weights
  sgvb compare-protocols --real data/sky.zip --fake out/videos --protocols stylegan_v digan tats --out cmp/

Protocols and the papers that used them: docs/protocols.md.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from benchmarks.config.commands import CompareProtocolsConfig
from benchmarks.errors import one_line_errors


class CompareProtocolsError(ValueError):
    """A setting of ``sgvb compare-protocols`` that cannot work (names the option and what to do)."""


def _parser() -> argparse.ArgumentParser:
    from metrics.published import PROTOCOLS

    d = CompareProtocolsConfig()
    parser = argparse.ArgumentParser(
        prog="sgvb compare-protocols",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=__doc__.split("\n\n", 2)[2]
        + "\nprotocols:\n"
        + "\n".join(f"  {name:<20} {p.implementation}" for name, p in PROTOCOLS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--real",
        default=d.real,
        help="real videos: a frames .zip/folder, a folder of video files, or synthetic[:SEED] (default: %(default)s)",
    )
    parser.add_argument("--fake", default=d.fake, help="generated videos, same forms (default: %(default)s)")
    parser.add_argument(
        "--resolution",
        type=int,
        default=d.resolution,
        help="square frame size of both sides (default: the real data's own; synthetic 32)",
    )
    parser.add_argument(
        "--protocols",
        nargs="+",
        metavar="NAME",
        default=d.protocols,
        help="protocols to run (default: all, listed below)",
    )
    parser.add_argument("--num-frames", type=int, default=d.num_frames, help="frames per clip (default: %(default)s)")
    parser.add_argument(
        "--num-videos",
        type=int,
        default=d.num_videos,
        help="clips per side for every protocol (default: each protocol's own, 2048 or 256; "
        "on the built-in synthetic data: --synthetic-videos)",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=d.trials,
        help="repeated draws for every protocol (default: each protocol's own, DIGAN 10)",
    )
    parser.add_argument(
        "--synthetic-videos",
        type=int,
        default=d.synthetic_videos,
        help="videos in the built-in synthetic data (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=d.seed, help="draws the clips (default: %(default)s)")
    parser.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N (default: %(default)s)")
    parser.add_argument(
        "--detector-path",
        default=d.detector_path,
        help="a folder holding i3d_torchscript.pt, i3d_pretrained_400.pt and VideoMAE-v2's file",
    )
    parser.add_argument(
        "--allow-stand-in-detectors",
        action="store_true",
        default=d.allow_stand_in_detectors,
        help="offline smoke runs: random detectors of the same architectures (marked [stand-in])",
    )
    parser.add_argument(
        "--stand-in-resolution",
        type=int,
        default=d.stand_in_resolution,
        help="input size of the stand-in detectors (default: 32)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=d.batch_size, help="clips per detector call (default: %(default)s)"
    )
    parser.add_argument(
        "--out", default=d.out, help="a folder for metric-fvd_<protocol>.jsonl records and comparison.md"
    )
    return parser


def settings_from(argv: list[str] | None) -> CompareProtocolsConfig:
    args = vars(_parser().parse_args(argv))
    return CompareProtocolsConfig(**args)


def _synthetic_seed(spec: str) -> int | None:
    """``synthetic`` -> 0, ``synthetic:3`` -> 3, anything else -> None."""
    if spec == "synthetic":
        return 0
    if spec.startswith("synthetic:"):
        try:
            return int(spec.split(":", 1)[1])
        except ValueError:
            raise CompareProtocolsError(f"'{spec}': the seed after 'synthetic:' must be an integer") from None
    return None


def build_side(spec: str, what: str, resolution: int | None, synthetic_videos: int):
    """A dataset from a path or ``synthetic[:SEED]``, at ``resolution`` (None: its own square frame size)."""
    from benchmarks.commands.eval_inputs import build_at_own_resolution

    seed = _synthetic_seed(spec)
    if seed is not None:
        return build_at_own_resolution(
            {"_name_": "synthetic", "resolution": resolution or 32, "num_videos": synthetic_videos, "seed": seed},
            what,
        )
    p = Path(spec).expanduser()
    if not p.exists():
        raise CompareProtocolsError(
            f"--{what} '{p}' does not exist; give a frames .zip/folder, a folder of video files, or synthetic[:SEED]"
        )
    has_dirs = p.is_dir() and any(child.is_dir() for child in p.iterdir())
    kind = "frames" if p.suffix == ".zip" or has_dirs else "mp4"
    return build_at_own_resolution(
        {"_name_": kind, "path": str(p), "resolution": resolution}, what, resolution_option="--resolution R"
    )


def run(settings: CompareProtocolsConfig):
    """Build both sides, run the protocols, write records and ``comparison.md`` when ``out`` is set, print."""
    from metrics.published import compare_protocols
    from registry.devices import resolve_device

    real = build_side(settings.real, "real", settings.resolution, settings.synthetic_videos)
    # a folder of generated videos is never resized behind the user's back: its own size must match (or --resolution)
    fake_resolution = settings.resolution or (
        int(real.resolution) if _synthetic_seed(settings.fake) is not None else None
    )
    fake = build_side(settings.fake, "fake", fake_resolution, settings.synthetic_videos)
    num_videos = settings.num_videos
    if num_videos is None and _synthetic_seed(settings.real) is not None:
        num_videos = settings.synthetic_videos
        print(
            f"note: --num-videos {num_videos} on the built-in synthetic data (the protocols' own N is 2048 or 256)",
            file=sys.stderr,
        )
    from metrics.weights import MissingWeightsError

    try:
        result = compare_protocols(
            real,
            fake,
            protocols=settings.protocols,
            num_frames=settings.num_frames,
            num_videos=num_videos,
            trials=settings.trials,
            seed=settings.seed,
            device=resolve_device(settings.device),
            detector_path=settings.detector_path,
            allow_stand_in=settings.allow_stand_in_detectors,
            stand_in_resolution=settings.stand_in_resolution,
            batch_size=settings.batch_size,
        )
    except MissingWeightsError as exc:  # its advice names sgvb eval's keys: say this command's flags
        text = str(exc).replace("pass detector_path=<file>", "pass --detector-path <folder>")
        raise CompareProtocolsError(
            text.replace("allow_stand_in_detectors=true", "--allow-stand-in-detectors")
        ) from None
    text = report(result)
    if settings.out:
        write_outputs(
            result, Path(settings.out).expanduser(), text, seed=settings.seed, real_fingerprint=real.fingerprint()
        )
    print(text)
    return result


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def report(result) -> str:
    """Markdown: the values, the pairs and what differs between them, each protocol's definition."""
    from metrics.published.compare import comparable, differences

    rows = result.results
    stand_in = any(r.stand_in for r in rows)
    lines = ["## FVD under each published protocol", ""]
    if stand_in:
        lines += ["**stand-in detectors**: these numbers compare only with each other, not with any paper.", ""]
    lines += ["| protocol | FVD | N real / fake | backbone | protocol id |", "|---|---|---|---|---|"]
    for r in rows:
        value = _fmt(r.value) + (f" ± {_fmt(r.std)} ({len(r.values)} draws)" if len(r.values) > 1 else "")
        lines.append(
            f"| {r.protocol.name} | {value} | {r.num_real} / {r.num_fake} | {r.detector} | `{r.protocol.protocol_id}` |"
        )
    curves = [r for r in rows if r.curve]
    for r in curves:
        points = ", ".join(f"{k}f: {_fmt(v)}" for k, v in r.curve.items())
        lines += ["", f"{r.protocol.name} FVD vs length: {points}"]
    lines += ["", "## What differs between each pair", "", "| pair | Δ FVD | differs in |", "|---|---|---|"]
    for a, b in itertools.combinations(rows, 2):
        why = comparable(a.protocol, b.protocol)
        if why and why.startswith("not comparable"):
            lines.append(f"| {a.protocol.name} vs {b.protocol.name} | - | {why} |")
            continue
        diff = ", ".join(differences(a.protocol, b.protocol)) or "nothing (same pipeline)"
        if why:
            diff += f" ({why.split(':')[0]})"
        lines.append(f"| {a.protocol.name} vs {b.protocol.name} | {_fmt(b.value - a.value)} | {diff} |")
    lines += ["", "## Definitions", ""]
    for r in rows:
        aspects = "; ".join(f"{k}: {v}" for k, v in r.protocol.describe().items())
        lines.append(f"- **{r.protocol.name}** ({r.protocol.implementation}): {aspects}")
    lines += [
        "",
        f"{result.clips_computed} clips through a network for {result.clips_requested} requested "
        f"(shared features), {result.seconds:.1f} s.",
    ]
    return "\n".join(lines)


def write_outputs(result, out: Path, text: str, *, seed: int, real_fingerprint: str | None) -> None:
    from metrics.records import append_metric_record
    from registry.files import atomic_open

    out.mkdir(parents=True, exist_ok=True)
    for r in result.results:
        append_metric_record(out, r.record(seed=seed, real_fingerprint=real_fingerprint))
    with atomic_open(out / "comparison.md") as handle:
        handle.write((text + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    settings = settings_from(argv)
    with one_line_errors("compare-protocols", exit_on_error=False) as failure:
        run(settings)
    return failure.status if failure else 0


if __name__ == "__main__":
    sys.exit(main())
