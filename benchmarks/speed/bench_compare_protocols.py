"""Wall time of ``sgvb compare-protocols`` (every protocol, one pass, shared features) vs each protocol alone.

    python -m benchmarks.speed.bench_compare_protocols                                    # CPU, stand-ins, 32²
    python -m benchmarks.speed.bench_compare_protocols --real data/sky_256.zip --fake out/videos \\
        --resolution 256 --num-videos 2048 --detector-path ~/weights --device cuda          # GPU, real weights

Networks are loaded once, before any timing (loading is the same for both). Each protocol alone runs
``metrics.published.compare.run_protocol`` with a fresh feature store; the comparison runs them all with one store,
as ``compare_protocols`` does. Prints per-protocol seconds, the slowest single protocol, the sum of the singles
(running each implementation's code separately) and the comparison's time with its ratio to the slowest single.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from benchmarks.commands.compare_protocols import build_side
from metrics.published import PROTOCOLS, get_protocol
from metrics.published.compare import FeatureStore, load_networks, run_protocol, with_overrides
from metrics.published.protocols import check_clip_length
from registry.devices import resolve_device


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="synthetic")
    parser.add_argument("--fake", default="synthetic:1")
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--synthetic-videos", type=int, default=8)
    parser.add_argument("--num-videos", type=int, default=8)
    parser.add_argument("--trials", type=int, default=None, help="default: each protocol's own (DIGAN 10)")
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--detector-path", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    device = resolve_device(args.device)
    real = build_side(args.real, "real", args.resolution, args.synthetic_videos)
    fake = build_side(args.fake, "fake", int(real.resolution), args.synthetic_videos)
    chosen = [with_overrides(get_protocol(n), num_videos=args.num_videos, trials=args.trials) for n in args.protocols]
    for p in chosen:
        check_clip_length(p, args.num_frames)
    networks = load_networks(
        [p.backbone for p in chosen], device=device, detector_path=args.detector_path, allow_stand_in=True
    )
    kw = dict(real=real, fake=fake, num_frames=args.num_frames)
    run_protocol(  # warm-up: first calls allocate and pick kernels
        with_overrides(chosen[0], num_videos=2, trials=1), FeatureStore(device=device), networks, **kw
    )

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out, time.perf_counter() - t0

    singles = {}
    for p in chosen:
        _, singles[p.name] = timed(
            lambda p=p: run_protocol(p, FeatureStore(device=device, batch_size=args.batch_size), networks, **kw)
        )
    store = FeatureStore(device=device, batch_size=args.batch_size)
    _, together = timed(lambda: [run_protocol(p, store, networks, **kw) for p in chosen])
    slowest = max(singles, key=singles.get)
    names = {n.name for n in (networks[b].detector for b in networks)}
    print(f"device {device}, {real.resolution}², N={args.num_videos}, T={args.num_frames}, detectors {sorted(names)}")
    print("| protocol | alone, s |\n|---|---|")
    for name, s in singles.items():
        print(f"| {name} | {s:.2f} |")
    print(f"slowest single: {slowest} {singles[slowest]:.2f} s; sum of singles {sum(singles.values()):.2f} s")
    print(
        f"compare-protocols (one pass): {together:.2f} s = {together / singles[slowest]:.2f}x the slowest single, "
        f"{together / sum(singles.values()):.2f}x the sum; {store.computed} clips through a network for "
        f"{store.requested} requested"
    )


if __name__ == "__main__":
    main()
