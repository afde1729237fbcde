"""Cost of FVMD's features at the published input size: clips/s of the PIPs++ motion-histogram detector.

    python -m benchmarks.speed.bench_fvmd                      # CPU, 1 clip of 16 x 256², published network
    python -m benchmarks.speed.bench_fvmd --batch 4 --device cuda
    python -m benchmarks.speed.bench_fvmd --stand-in           # the offline stand-in at its 64² input

The published network is built with random weights (the arithmetic, hence the time, does not depend on
them). Each clip: resize to 256² (a 256² input is used as is), the encoder on 16 frames, then 16 refinement
steps for 400 points (1-d convolutions up to 1024 channels over 400 x 16 positions per step), then the
histograms. Printed: seconds per batch (median of ``--repeats`` after one warm-up unless ``--no-warmup``),
clips/s, and the share spent in the encoder (timed on its own).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1, help="clips per detector call")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("--stand-in", action="store_true", help="the offline stand-in at its own input size")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    from metrics import fvmd
    from metrics.pips import PUBLISHED, STAND_IN, PIPsPlusPlus

    torch.manual_seed(0)
    if args.stand_in:  # as metrics.detectors.pips2 builds it offline
        model, name, size = PIPsPlusPlus(**STAND_IN), "pips2[stand-in]", 64
    else:
        model, name, size = PIPsPlusPlus(**PUBLISHED), "pips2", fvmd.INPUT_SIZE
    det = fvmd.MotionHistogramDetector(model, name=name, sha256=None, resolution=size).to(device)
    x = torch.randint(0, 256, (args.batch, 3, 16, size, size), dtype=torch.uint8, device=device)
    frames = 2 * (x[0].transpose(0, 1).float() / 255) - 1  # [16, 3, H, W]
    with torch.no_grad():
        if not args.no_warmup:
            det(x)
        total = _timed(lambda: det(x), device, args.repeats)
        encoder = _timed(lambda: det.model.fnet(frames), device, args.repeats) * args.batch
    print(
        f"fvmd features ({det.name}, {size}² x 16 frames, batch {args.batch}, {device}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"load {os.getloadavg()[0]:.1f}): {total:.1f} s per batch = {args.batch / total:.4f} clips/s; "
        f"encoder {100 * encoder / total:.0f} %, tracking + histograms {100 * (1 - encoder / total):.0f} %"
    )


if __name__ == "__main__":
    main()
