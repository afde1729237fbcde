"""Speed of metric feature extraction (clips/s, frames/s) and of the Fréchet distance (ours vs scipy sqrtm).

    python -m benchmarks.speed.bench_metrics                  # CPU, stand-in detectors at small input sizes
    python -m benchmarks.speed.bench_metrics --device cuda --resolution 256 --batch 32
    python -m benchmarks.speed.bench_metrics --skip-features  # only the Fréchet timings

Real detectors are used when their files are found (explicit ``--detector-dir``, ``$SGVB_WEIGHTS_DIR``
or ``~/.cache/sgvb``); otherwise the seeded stand-in of the same architecture (at ``--stand-in-resolution``)
and the line says so. Feature times are medians over ``--repeats`` after one warm-up batch and include
the uint8 -> float conversion and resize done inside the detector, not data loading. The Fréchet
timing uses post-ReLU correlated synthetic features with N = ``--num`` samples per side (median of
``--repeats``, float64): the official ``scipy.linalg.sqrtm`` formula on the CPU against ours on
``--frechet-device``, first evaluation (real side factorised) and repeated ones (factor reused), all in
one run so the ratios hold on a loaded machine; ``--busy K`` repeats it with K competing processes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_detector(
    name: str,
    *,
    device: torch.device,
    resolution: int,
    frames: int,
    batch: int | None,
    repeats: int,
    stand_in_resolution: int | None,
) -> str:
    from metrics.detectors import load_detector

    kwargs = {"stand_in_resolution": stand_in_resolution} if stand_in_resolution else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = load_detector(name, device=device, allow_stand_in=True, **kwargs)
    on_gpu = device.type == "cuda"
    batch = batch or ((16 if on_gpu else 4) if det.video else (128 if on_gpu else 32))
    shape = (batch, 3, frames, resolution, resolution) if det.video else (batch, 3, resolution, resolution)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
    det(x)  # warm-up
    t = _median_time(lambda: det(x), repeats, device)[0]
    unit = (
        f"{batch / t:8.2f} clips/s ({batch * frames / t:8.1f} frames/s) of {frames}x{resolution}²"
        if det.video
        else f"{batch / t:8.1f} frames/s of {resolution}²"
    )
    kind = "stand-in" if det.stand_in else "weights"
    return f"{det.name:<24} [{kind}, input {det.input_resolution}] batch {batch:>3}: {unit}"


def bench_vit_g(device: torch.device, *, clips: int, repeats: int) -> str:
    """Speed of the full-size VideoMAE-v2 ViT-g (random weights: same cost as the published ones) with the
    detector's bf16 path."""
    from metrics.detectors import VideoMAEDetector
    from metrics.videomae import VideoMAEv2, clips_per_chunk

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VideoMAEv2.giant().to(device=device, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32)
    det = VideoMAEDetector(model, name="videomae_v2[random ViT-g]", sha256=None).to(device)
    x = torch.randint(0, 256, (clips, 3, 16, 256, 256), dtype=torch.uint8, device=device)
    det(x[:1])
    t = _median_time(lambda: det(x), repeats, device)[0]
    mem = (
        f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB, "
        f"chunk {clips_per_chunk(model, device)} clips"
        if device.type == "cuda"
        else ""
    )
    return f"{det.name:<24} [1.01B params, bf16 autocast] {clips} clips of 16x256²: {clips / t:8.2f} clips/s{mem}"


def _median_time(fn, repeats: int, device: torch.device | None = None) -> tuple[float, Any]:
    """(median wall time of ``fn()`` over ``repeats`` calls, its last value); with ``device``, synchronised around
    each."""
    times, value = [], None
    if device is not None:
        _sync(device)
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        value = fn()
        if device is not None:
            _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def _busy(stop) -> None:
    x = 0
    while not stop.is_set():
        x += 1


class contention:
    """``workers`` busy processes competing for the cores while the block runs (the shared-machine case)."""

    def __init__(self, workers: int):
        self.workers = workers

    def __enter__(self):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.stop = ctx.Event()
        self.procs = [ctx.Process(target=_busy, args=(self.stop,), daemon=True) for _ in range(self.workers)]
        for proc in self.procs:
            proc.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for proc in self.procs:
            proc.join(5)
        return False


def bench_frechet(dim: int, num: int, *, with_scipy: bool, repeats: int = 3, device: str = "cpu", busy: int = 0) -> str:
    """Same-run times of the official formula (scipy sqrtm) and ours: first evaluation and repeated ones against the
    same real side."""
    from metrics import stats
    from metrics.stats import frechet_distance, frechet_distance_scipy

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    a = np.maximum(rng.normal(size=(num, dim)) @ mix, 0)
    b = np.maximum(rng.normal(size=(num, dim)) @ mix + 0.05, 0)
    m1, c1, m2, c2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    dev = None if device == "cpu" else device
    frechet_distance(m1[:8], c1[:8, :8], m2[:8], c2[:8, :8], device=dev)  # warm-up (thread pools, CUDA context)

    def first():
        stats._FACTORS.clear()
        return frechet_distance(m1, c1, m2, c2, device=dev)

    with contention(busy) if busy else contextlib.nullcontext():
        t_first, ours = _median_time(first, repeats)
        t_again, again = _median_time(lambda: frechet_distance(m1, c1, m2, c2, device=dev), repeats)
        threads = f", {stats.blas_threads(dim)} BLAS threads" if device == "cpu" else ""
        line = (
            f"Fréchet d={dim:<5} N={num} on {device}{threads}{f' with {busy} busy processes' if busy else ''}: "
            f"ours {t_first:7.3f}s first, "
            f"{t_again:7.3f}s repeated (real side factorised once)  FD={ours:.10f}"
        )
        if with_scipy:
            t_ref, ref = _median_time(lambda: frechet_distance_scipy(m1, c1, m2, c2), repeats)
            line += (
                f" | official scipy.linalg.sqrtm {t_ref:7.3f}s FD={ref:.10f}  rel.diff {abs(ours - ref) / abs(ref):.1e}"
                f"  ratio first {t_first / t_ref:.3f}x, repeated {t_again / t_ref:.3f}x"
            )
    assert again == ours
    return line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--detectors", default="i3d,i3d_pytorch,i3d_videogpt,videomae_v2,c3d_ucf101,inception,dino_vits16")
    p.add_argument("--resolution", type=int, default=None, help="input frame size (default 256 on CUDA, 32 on CPU)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument(
        "--batch", type=int, default=None, help="clips (video detectors) or frames (image detectors) per call"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--stand-in-resolution",
        type=int,
        default=None,
        help="stand-in detector input size (default: each detector's own)",
    )
    p.add_argument("--detector-dir", default=None, help="folder with the real detector files (sets SGVB_WEIGHTS_DIR)")
    p.add_argument("--dims", default="400,2048")
    p.add_argument("--num", type=int, default=2048)
    p.add_argument("--no-scipy", action="store_true")
    p.add_argument("--frechet-device", default="cpu", help="where the fast method's float64 algebra runs (cpu or cuda)")
    p.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="override the fast method's fixed BLAS thread count (metrics.stats.FRECHET_BLAS_THREADS)",
    )
    p.add_argument(
        "--busy", type=int, default=0, help="also time the Fréchet distance with this many busy processes competing"
    )
    p.add_argument("--skip-features", action="store_true")
    p.add_argument("--skip-frechet", action="store_true")
    p.add_argument(
        "--vit-g",
        type=int,
        default=0,
        help="also time the full-size VideoMAE-v2 ViT-g on this many clips (random weights)",
    )
    args = p.parse_args(argv)
    if args.detector_dir:
        os.environ["SGVB_WEIGHTS_DIR"] = args.detector_dir
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    res = args.resolution or (256 if on_gpu else 32)
    print(
        f"# bench_metrics: device {device} "
        f"({torch.cuda.get_device_name(device) if on_gpu else f'{torch.get_num_threads()} CPU threads'}), "
        f"torch {torch.__version__}"
    )
    if not args.skip_features:
        for name in [n.strip() for n in args.detectors.split(",") if n.strip()]:
            print(
                bench_detector(
                    name,
                    device=device,
                    resolution=res,
                    frames=args.frames,
                    batch=args.batch,
                    repeats=args.repeats,
                    stand_in_resolution=args.stand_in_resolution,
                ),
                flush=True,
            )
    if args.blas_threads:
        from metrics import stats

        stats.FRECHET_BLAS_THREADS = args.blas_threads
    if args.vit_g:
        print(bench_vit_g(device, clips=args.vit_g, repeats=args.repeats), flush=True)
    if not args.skip_frechet:
        for dim in [int(d) for d in args.dims.split(",")]:
            for busy in sorted({0, args.busy}):
                print(
                    bench_frechet(
                        dim,
                        args.num,
                        with_scipy=not args.no_scipy,
                        repeats=args.repeats,
                        device=args.frechet_device,
                        busy=busy,
                    ),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
