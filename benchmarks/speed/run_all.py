"""Every speed figure the README quotes, in one run, as one table (``python -m benchmarks.speed``).

    python -m benchmarks.speed                          # CPU: small widths at 32², quick
    python -m benchmarks.speed --write                  # also replace the speed section of benchmarks/speed/RESULTS.md
    python -m benchmarks.speed --resolution 256 --batch 64 --batch-gpu 16 --full-width   # GPU, official settings

Rows come from the existing benchmarks, not copies of them: training steps from ``bench_train``
(baseline vs optimized interleaved in one process, so the ratio is a same-run ratio), G/D passes
from ``bench_models``, detector throughput and the Fréchet timing from ``bench_metrics``, and
generator sampling through the metric pipeline (``metrics.sources.generated_clips``: bf16 and the
official uint8 quantisation on GPU). DDP rows run ``bench_train`` under torchrun when the machine
has several GPUs and say "not measured" otherwise. Nothing is estimated: a row that did not run
says why.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import time
import warnings
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- speed:begin (python -m benchmarks.speed --write) -->", "<!-- speed:end -->"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "gpu": ", ".join(gpus) if gpus else "none",
        "load average": " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?",
        "versions": f"Python {platform.python_version()}, torch {torch.__version__}"
        + (f", CUDA {torch.version.cuda}" if torch.cuda.is_available() else ""),
    }


class Table:
    """Rows of (group, what, value, ratio, command); printed as text and written as Markdown."""

    def __init__(self):
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, group: str, what: str, value: str, ratio: str = "", command: str = "") -> None:
        what, value = " ".join(what.split()), " ".join(value.split())
        self.rows.append((group, what, value, ratio, command))
        print(f"{group:<10} {what:<58} {value:<34} {ratio:<22} {command}", flush=True)

    def markdown(self, info: dict[str, str], argv: list[str]) -> str:
        lines = [
            BEGIN,
            "## Speed (`python -m benchmarks.speed`)",
            "",
            "    python -m benchmarks.speed " + " ".join(argv),
            "",
        ]
        lines += [f"- {k}: {v}" for k, v in info.items()]
        lines += ["", "| group | what | value | same-run ratio | from |", "|---|---|---|---|---|"]
        lines += [f"| {g} | {w} | {v} | {r} | {c} |" for g, w, v, r, c in self.rows]
        lines += ["", END]
        return "\n".join(lines)


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace the speed block of RESULTS.md (or append it): other sections are left as they are."""
    old = path.read_text() if path.is_file() else "# Measured figures\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def training_rows(table: Table, args, device: torch.device) -> None:
    from benchmarks.speed.bench_train import measure_pair

    options = training_options(args, device)
    command = "bench_train " + " ".join(o for o in options if not o.startswith("--settings"))
    widths = "official widths" if args.full_width else "small widths"
    for g, d in [x.split(":") for x in args.pairs.split(",")]:
        t0 = time.perf_counter()
        r = measure_pair(g, d, options)
        what = f"train step {g}/{d}, {args.resolution}², batch {args.batch}, {widths}"
        if r.get("status") != "ok":
            table.add("training", what, f"{r.get('status')}: {r.get('reason', '')}", "", command)
            continue
        b, o = r["settings"]["baseline"], r["settings"]["optimized"]
        table.add(
            "training",
            what + " — baseline (fp32 eager, reference ops)",
            f"{b['sec_per_kimg']:.2f} s/kimg ({b['sec_per_step']:.3f} s/step)",
            "1",
            command,
        )
        table.add(
            "training",
            what + f" — optimized ({_optimized_label(args, device)})",
            f"{o['sec_per_kimg']:.2f} s/kimg ({o['sec_per_step']:.3f} s/step)",
            f"{r['ratio']:.2f}x baseline (median of paired steps {r['ratio_paired_median']:.2f}x)",
            command,
        )
        print(f"  ({time.perf_counter() - t0:.0f} s, peak {r['peak_gib']:.2f} GiB, {r['device']})", flush=True)


def training_options(args, device: torch.device) -> list[str]:
    return (
        [
            f"--resolution={args.resolution}",
            f"--batch={args.batch}",
            f"--batch-gpu={args.batch_gpu}",
            f"--steps={args.steps}",
            f"--warmup={args.warmup}",
            f"--device={device.type}",
            f"--precision={args.precision}",
            f"--threads={args.threads}",
            "--settings=baseline,optimized",
        ]
        + ([] if args.full_width else ["--small"])
        + (["--compile"] if args.compile else [])
    )


def _optimized_label(args, device: torch.device) -> str:
    parts = [
        "bf16" if device.type == "cuda" and args.precision == "bf16" else "fp32",
        "fused ops",
        "channels_last",
        "fused Adam",
    ]
    return ", ".join(parts + (["torch.compile"] if args.compile else []))


def ddp_rows(table: Table, args, device: torch.device) -> None:
    from benchmarks.speed.bench_train import measure_pair

    options = training_options(args, device)
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    g, d = args.pairs.split(",")[0].split(":")
    one = None
    for n in (1, 2, 4, 8):
        what = f"DDP (NCCL) {g}/{d}, {n} GPU(s), global batch {args.batch}"
        if n > gpus:
            table.add("ddp", what, f"not measured ({gpus} GPU(s) on this machine)")
            continue
        r = measure_pair(
            g,
            d,
            [o for o in options if not o.startswith(("--settings", "--batch-gpu"))] + ["--settings=optimized"],
            nproc=n,
        )
        if r.get("status") != "ok":
            table.add("ddp", what, f"{r.get('status')}: {r.get('reason', '')}")
            continue
        one = one or r["sec_per_kimg"]
        table.add(
            "ddp",
            what,
            f"{r['sec_per_kimg']:.2f} s/kimg",
            f"scaling efficiency {one / (n * r['sec_per_kimg']):.2f}",
            "bench_train via torchrun",
        )


def model_rows(table: Table, args, device: torch.device) -> None:
    """G/D passes of both settings in alternating rounds (ABBA), each round a fresh pair timed 3 times; the
    median over rounds, so a burst of load on a shared machine does not land on one setting only."""
    import statistics

    from benchmarks.speed.bench_models import bench_pair

    width = {"channel_max": 512} if args.full_width else {"channel_base": 1024, "channel_max": 64}
    common = dict(
        video=True,
        resolution=args.resolution,
        batch=min(args.batch, args.batch_gpu or args.batch),
        frames=3,
        device=device,
        warmup=1,
        repeats=3,
        width=width,
    )
    precision = {
        "baseline": "fp32",
        "optimized": args.precision if device.type == "cuda" else "fp32",
    }  # the baseline is always fp32
    rounds: dict[str, list[dict]] = {"baseline": [], "optimized": []}
    for r in range(max(1, args.repeats)):
        for setting in ("baseline", "optimized") if r % 2 == 0 else ("optimized", "baseline"):
            rounds[setting].append(bench_pair(setting=setting, precision=precision[setting], **common))
    for op in ("G fwd", "G fwd+bwd", "D fwd+bwd"):
        base, fast = (statistics.median(x[op][0] for x in rounds[s]) for s in ("baseline", "optimized"))
        table.add(
            "models",
            f"StyleGAN-V {op}, {args.resolution}², {common['batch']}x3 frames, "
            f"{'official widths' if args.full_width else 'channel_max 64 (512-d codes)'}, "
            f"fp32 reference -> {precision['optimized']} optimized",
            f"{base:.1f} -> {fast:.1f} ms",
            f"{fast / base:.2f}x baseline (median of {len(rounds['baseline'])} alternating rounds)",
            "bench_models bench_pair",
        )


def metric_rows(table: Table, args, device: torch.device) -> None:
    from benchmarks.speed.bench_metrics import bench_detector, bench_frechet

    res = 256 if device.type == "cuda" else 32
    for name in ("i3d", "inception", "dino_vits16"):
        video = name.startswith("i3d")
        batch = (16 if device.type == "cuda" else 4) if video else (128 if device.type == "cuda" else 32)
        try:
            line = bench_detector(
                name,
                device=device,
                resolution=res,
                frames=16,
                batch=batch,
                repeats=args.repeats,
                stand_in_resolution=None,
            )
        except Exception as exc:
            table.add("metrics", f"detector {name}", f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            continue
        table.add(
            "metrics",
            f"detector {line.split('batch')[0].strip()}",
            line.split(":", 1)[1].strip(),
            "",
            "bench_metrics bench_detector",
        )
    sampling_rows(table, args, device)
    if not args.skip_frechet:
        line = bench_frechet(2048, 2048, with_scipy=True, repeats=1)
        table.add(
            "metrics",
            "Fréchet distance d=2048, N=2048 (ours vs scipy sqrtm)",
            line.split(":", 1)[1].strip()[:120],
            "",
            "bench_metrics bench_frechet",
        )


def sampling_rows(table: Table, args, device: torch.device) -> None:
    """Generator sampling through the metric pipeline: 16-frame uint8 clips per second, per generator."""
    for name in args.generators.split(","):
        try:
            _sampling_row(table, args, device, name)
        except Exception as exc:  # one generator failing must not lose the other rows
            table.add("metrics", f"sampling {name}", f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")


def _sampling_row(table: Table, args, device: torch.device, name: str) -> None:
    from benchmarks.speed.bench_train import option_spec
    from benchmarks.training.components import build_generator
    from metrics.sources import eval_mode, generated_clips

    res = args.resolution
    torch.manual_seed(0)
    G = build_generator(option_spec("generator", name, not args.full_width), resolution=res).to(device)
    batch = 4 if device.type == "cpu" else 16
    kwargs = dict(num_videos=batch, times=list(range(16)), batch_size=batch, device=device)
    with eval_mode(G), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        next(generated_clips(G, generator=torch.Generator(device).manual_seed(0), **kwargs))  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0, n = time.perf_counter(), 0
        for clips in generated_clips(
            G, generator=torch.Generator(device).manual_seed(1), **{**kwargs, "num_videos": batch * args.repeats}
        ):
            n += clips.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    precision = "bf16" if device.type == "cuda" else "fp32"
    table.add(
        "metrics",
        f"sampling {name} ({'official' if args.full_width else 'small'} widths), 16x{res}² uint8, {precision}",
        f"{n / dt:.2f} clips/s ({16 * n / dt:.1f} frames/s)",
        "",
        "metrics.sources.generated_clips",
    )


def fvd_row(table: Table, args, device: torch.device) -> None:
    """Wall time of one whole FVD evaluation of a (randomly initialised) StyleGAN-V against the synthetic data,
    stand-in detector: sampling, both feature passes and the Fréchet distance, as ``sgvb eval`` runs it."""
    import tempfile

    from benchmarks.speed.bench_train import option_spec
    from benchmarks.training.components import build_dataset, build_generator
    from metrics import evaluate

    torch.manual_seed(0)
    G = (
        build_generator(option_spec("generator", "stylegan_v", not args.full_width), resolution=args.resolution)
        .to(device)
        .eval()
    )
    real = build_dataset(
        {"_name_": "synthetic", "resolution": args.resolution, "num_videos": args.fvd_videos, "num_frames": 32}
    )
    with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        record = evaluate(args.fvd, fake=G, real=real, device=device, allow_stand_in_detectors=True, cache_dir=cache)
        wall = time.perf_counter() - t0
    detector = "stand-in detector" if record.get("protocol", {}).get("stand_in", True) else "real detector weights"
    table.add(
        "metrics",
        f"{args.fvd} evaluation of StyleGAN-V at {args.resolution}² ({detector}, cold cache)",
        f"{wall:.1f} s wall (value {record['value']:.4g})",
        "",
        "metrics.evaluate",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--batch", type=int, default=8, help="videos per training step (global)")
    p.add_argument("--batch-gpu", type=int, default=0, help="videos per forward (0 = --batch)")
    p.add_argument("--steps", type=int, default=16, help="timed steps per setting (16 = one lazy-R1 period)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument(
        "--precision", default="bf16", choices=["bf16", "fp32"], help="optimized setting on CUDA (CPU is always fp32)"
    )
    p.add_argument("--compile", action="store_true", help="optimized setting also uses torch.compile (default on CUDA)")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--full-width", action="store_true", help="official widths (default: the *_small presets)")
    p.add_argument("--pairs", default="stylegan_v:stylegan_v", help="generator:discriminator,... for the training rows")
    p.add_argument(
        "--generators", default="stylegan_v,digan,mocogan_hd,mocogan", help="generators for the sampling rows"
    )
    p.add_argument("--only", default="training,ddp,models,metrics,fvd", help="groups to run (fvd only with --fvd)")
    p.add_argument("--skip-frechet", action="store_true")
    p.add_argument("--fvd", default=None, help="also time one whole evaluation of this metric, e.g. fvd2048_16f")
    p.add_argument("--fvd-videos", type=int, default=2048, help="videos in the synthetic real dataset of --fvd")
    p.add_argument(
        "--write",
        nargs="?",
        const=str(RESULTS),
        default=None,
        help="write the Markdown section (default file: benchmarks/speed/RESULTS.md)",
    )
    args = p.parse_args(argv)
    from benchmarks.speed.bench_models import parse_device

    device = parse_device(p, args.device)
    args.compile = (args.compile or device.type == "cuda") and not args.no_compile
    if args.threads:
        torch.set_num_threads(args.threads)
    groups = {g.strip() for g in args.only.split(",")}
    known = {"training", "ddp", "models", "metrics", "fvd"}
    if groups - known:
        p.error(f"--only: unknown group(s) {sorted(groups - known)}; expected {', '.join(sorted(known))}")

    info = machine()
    for k, v in info.items():
        print(f"# {k}: {v}")
    table = Table()
    if "training" in groups:
        training_rows(table, args, device)
    if "ddp" in groups:
        ddp_rows(table, args, device)
    if "models" in groups:
        model_rows(table, args, device)
    if "metrics" in groups:
        metric_rows(table, args, device)
    if "fvd" in groups and args.fvd:
        fvd_row(table, args, device)
    if device.type != "cuda":
        table.add(
            "gpu",
            "every GPU row (bf16, compile, 256², NCCL)",
            "not measured (no GPU on this machine)",
            "",
            "benchmarks/speed/gpu_check.sh",
        )
    text = table.markdown(info, argv)
    if args.write:
        write_section(text, Path(args.write))
        print(f"# wrote the speed section of {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
