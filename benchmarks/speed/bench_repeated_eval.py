"""Repeated evaluations of KID, IS and LVC: ``num_runs`` on a folder of generated videos, and LVC's real side.

    python -m benchmarks.speed.bench_repeated_eval [--frames 128] [--runs 5] [--videos 16]

* ``kid<F>_full`` and ``is<F>`` with ``num_runs=R`` on a folder (fake frames are the same in every run) against a
  dataset whose real features are already in the statistics cache (the second evaluation of a training run);
* LVC (``consistency<V>_32f``): ``summarize``'s real-side work per evaluation (pooled real statistics and the
  real windows' Fréchet distances), timed over ``--runs`` calls with the same real sums.

Stand-in Inception (75 px) and DINO (32 px): no weights needed. Prints wall times and the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=128, help="fake frames of KID / IS")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--videos", type=int, default=16)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")

    from metrics import consistency, evaluate
    from metrics.testing import ArrayVideoDataset, moving_blobs

    real = ArrayVideoDataset(moving_blobs(args.videos, 32, 32, seed=1))
    fake = ArrayVideoDataset(moving_blobs(args.videos, 16, 32, seed=2))
    load = os.getloadavg()[0]
    lines = []
    with tempfile.TemporaryDirectory() as cache:
        kw = dict(fake=fake, real=real, device="cpu", allow_stand_in_detectors=True, cache_dir=cache)
        for metric in (f"kid{args.frames}_full", f"is{args.frames}"):
            evaluate(metric, **kw)  # the detector loaded and the real side cached, as in a training run
            t0 = time.perf_counter()
            rec = evaluate(metric, num_runs=args.runs, **kw)
            took = time.perf_counter() - t0
            lines.append(f"{metric}, num_runs={args.runs}, folder fake: {took:.2f} s (value {rec['value']:.4g})")
        name = f"consistency{args.videos}_32f"
        spec = {"_name_": "consistency", "num_videos": args.videos, "num_frames": 32, "num_windows": 4}
        evaluate(spec, **kw | {"fake": ArrayVideoDataset(moving_blobs(args.videos, 32, 32, seed=2))})
        files = sorted(p for p in os.listdir(cache) if p.startswith(name))
        import numpy as np

        with np.load(os.path.join(cache, files[0])) as data:
            real_sums = {k: data[k] for k in data.files if k != "_key"}
        gen = {k: v * 1.0 for k, v in real_sums.items()}
        gen["lag_sum"] = gen["lag_sum"] * 0.99
        t0 = time.perf_counter()
        for _ in range(args.runs):
            consistency.summarize(gen, real_sums)
        lines.append(f"{name}: summarize x{args.runs} (same real sums): {time.perf_counter() - t0:.3f} s")
    print(f"load average {load:.2f} (1 min) before, {os.getloadavg()[0]:.2f} after; {os.cpu_count()} cores")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
