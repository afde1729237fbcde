"""Cost of repeated draws (``num_runs``): one evaluation with N runs vs N separate evaluations.

    python -m benchmarks.speed.bench_num_runs [--videos 64] [--runs 5] [--device cpu]

Real clips are drawn at random offsets from 32-frame videos, fake clips come from a folder (the same
clips in every run). With ``num_runs`` a clip drawn again reuses its features and the fake side is
computed once, so N runs cost far less than N evaluations. Stand-in I3D at 32 px (no weights needed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

from metrics import evaluate
from metrics.testing import ArrayVideoDataset, moving_blobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    real = ArrayVideoDataset(moving_blobs(args.videos, 32, 32, seed=1))
    fake = ArrayVideoDataset(moving_blobs(args.videos, 16, 32, seed=2))
    metric = f"fvd{args.videos}_16f"
    kw = dict(fake=fake, real=real, device=args.device, allow_stand_in_detectors=True)
    evaluate(metric, cache_dir=tempfile.mkdtemp(), **kw)  # warm-up: detector built once per process
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        rec = evaluate(metric, num_runs=args.runs, cache_dir=cache, **kw)
        repeated = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        for r in range(args.runs):
            evaluate(metric, seed=r, cache_dir=cache, **kw)
        separate = time.perf_counter() - t0
    print(
        f"{metric}, {args.runs} runs, {args.device}: num_runs={args.runs} {repeated:.1f} s "
        f"(value {rec['value']:.2f} ± {rec['value_std']:.2f}); {args.runs} separate evaluations {separate:.1f} s; "
        f"ratio {separate / repeated:.2f}x"
    )


if __name__ == "__main__":
    main()
