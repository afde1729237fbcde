"""Speed and memory of the StyleGAN-V generator/discriminator against a StyleGAN2 of the same config.

    python -m benchmarks.speed.bench_models                      # CPU: 64x64; adds 256x256 when CUDA is present
    python -m benchmarks.speed.bench_models --resolution 256 --batch 16 --device cuda

StyleGAN2 here is the same code with no time input (positional encoding ``none``: no motion network,
512-channel constant input) and a 1-frame discriminator (the plain 'resnet' D), fed the same number
of frames (batch x frames images), so "StyleGAN-V costs X% more than StyleGAN2" is measured per frame.
Times are medians over ``--repeats`` after ``--warmup`` runs; peak memory is
``torch.cuda.max_memory_allocated`` on GPU and the process's peak RSS (VmHWM, reset before each
measurement where Linux allows) on CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from registry import DISCRIMINATORS, GENERATORS


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(fn, device: torch.device, warmup: int, repeats: int) -> tuple[float, float]:
    """(median milliseconds, peak MiB) of ``fn``."""
    for _ in range(warmup):
        fn()
    _reset_peak(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), _peak_mib(device)


def bench_pair(
    *,
    video: bool,
    resolution: int,
    batch: int,
    frames: int,
    device: torch.device,
    precision: str,
    warmup: int,
    repeats: int,
    width: dict,
    setting: str = "optimized",
    profile: int = 0,
) -> dict[str, tuple[float, float]]:
    """Times of one G/D pair: StyleGAN-V (``video``) or its StyleGAN2 counterpart on batch*frames images.

    ``setting="baseline"``: the reference (unfused) ops in NCHW; ``"optimized"``: fused ops, channels_last.
    """
    from stylegan_v.ops import reference_ops

    torch.manual_seed(0)
    if video:
        G = GENERATORS.build({"_name_": "stylegan_v", **width}, resolution=resolution)
        D = DISCRIMINATORS.build({"_name_": "stylegan_v", **width}, resolution=resolution, num_frames=frames)
        n, k = batch, frames
    else:
        G = GENERATORS.build({"_name_": "stylegan_v", "positional_encoding": "none", **width}, resolution=resolution)
        D = DISCRIMINATORS.build({"_name_": "stylegan_v", **width}, resolution=resolution, num_frames=1)
        n, k = batch * frames, 1
    G, D = G.to(device).train(), D.to(device).train()
    if setting == "optimized":
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    z = torch.randn(n, G.z_dim, device=device)
    t = torch.sort(torch.rand(n, k, device=device) * 32, dim=1).values + torch.rand(n, 1, device=device) * 900
    real = torch.randn(n, k, 3, resolution, resolution, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def g_forward():
        with torch.no_grad(), autocast:
            G(z, t)

    def g_forward_backward():
        with autocast:
            loss = G(z, t).square().mean()
        loss.backward()

    def d_forward_backward():
        with autocast:
            loss = D(real, t).sum()
        loss.backward()

    if profile:
        _print_profile({"G fwd+bwd": g_forward_backward, "D fwd+bwd": d_forward_backward}, setting, profile)
    with reference_ops(setting == "baseline"):
        return {
            "G fwd": _measure(g_forward, device, warmup, repeats),
            "G fwd+bwd": _measure(g_forward_backward, device, warmup, repeats),
            "D fwd+bwd": _measure(d_forward_backward, device, warmup, repeats),
        }


def _print_profile(fns: dict, setting: str, rows: int) -> None:
    """``torch.profiler`` table (self CPU/CUDA time per op, top ``rows``) of one run of each function."""
    from torch.profiler import ProfilerActivity, profile

    from stylegan_v.ops import reference_ops

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    for name, fn in fns.items():
        with reference_ops(setting == "baseline"):
            fn()  # warm-up
            with profile(activities=activities) as prof:
                fn()
        key = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
        print(f"\n### torch.profiler: StyleGAN-V {name}, {setting} setting\n")
        print(prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=40))


def format_table(rows: list[tuple[str, dict]], ops: list[str]) -> str:
    head = f"{'model':<34}" + "".join(f"{op + ' ms':>14}{'peak MiB':>10}" for op in ops)
    lines = [head, "-" * len(head)]
    for name, res in rows:
        lines.append(f"{name:<34}" + "".join(f"{res[op][0]:>14.1f}{res[op][1]:>10.0f}" for op in ops))
    return "\n".join(lines)


def parse_device(parser, text: str) -> torch.device:
    """``--device auto|cpu|cuda[:N]`` of a benchmark script; a CUDA request without CUDA is a usage error."""
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(text)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    return device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: cuda when available)")
    parser.add_argument(
        "--resolution", type=int, nargs="*", default=None, help="resolutions (default: 64, plus 256 on GPU)"
    )
    parser.add_argument("--batch", type=int, default=4, help="videos per batch (default 4)")
    parser.add_argument("--frames", type=int, default=3, help="frames per video clip (default 3, as the official D)")
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], default="auto", help="auto = bf16 autocast on GPU, fp32 on CPU"
    )
    parser.add_argument("--channel-base", type=int, default=None, help="override widths (default: official)")
    parser.add_argument("--channel-max", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--setting",
        choices=["baseline", "optimized"],
        default="optimized",
        help="baseline: reference ops, NCHW; optimized: fused ops, channels_last",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="ROWS",
        help="print torch.profiler tables (top ROWS ops) of StyleGAN-V's G and D fwd+bwd",
    )
    args = parser.parse_args(argv)

    device = parse_device(parser, args.device)
    precision = args.precision if args.precision != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    resolutions = args.resolution or ([64, 256] if device.type == "cuda" else [64])
    width = {"channel_max": args.channel_max}
    if args.channel_base is not None:
        width["channel_base"] = args.channel_base
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"device: {name}, precision: {precision}, torch {torch.__version__}, batch {args.batch} videos x "
        f"{args.frames} frames, widths {width}"
    )
    ops = ["G fwd", "G fwd+bwd", "D fwd+bwd"]
    for res in resolutions:
        common = dict(
            resolution=res,
            batch=args.batch,
            frames=args.frames,
            device=device,
            precision=precision,
            warmup=args.warmup,
            repeats=args.repeats,
            width=width,
            setting=args.setting,
        )
        sgv = bench_pair(video=True, profile=args.profile, **common)
        sg2 = bench_pair(video=False, **common)
        extra = {op: (100 * (sgv[op][0] / sg2[op][0] - 1), 100 * (sgv[op][1] / sg2[op][1] - 1)) for op in ops}
        print(f"\n{res}x{res}")
        print(
            format_table(
                [
                    (f"StyleGAN-V ({args.batch}x{args.frames} frames)", sgv),
                    (f"StyleGAN2 ({args.batch * args.frames} images)", sg2),
                ],
                ops,
            )
        )
        print(
            f"{'StyleGAN-V extra cost, %':<34}"
            + "".join(f"{extra[op][0]:>+13.1f}%{extra[op][1]:>+9.1f}%" for op in ops)
        )
        step_v = sum(sgv[op][0] for op in ops[1:])
        step_2 = sum(sg2[op][0] for op in ops[1:])
        print(
            f"G+D fwd+bwd: StyleGAN-V {step_v:.1f} ms vs StyleGAN2 {step_2:.1f} ms "
            f"-> StyleGAN-V costs {100 * (step_v / step_2 - 1):+.1f}% per frame"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
