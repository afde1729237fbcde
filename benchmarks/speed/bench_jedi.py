"""JEDi's feature cost: V-JEPA ViT-H/16 + SSv2 probe clips/s at the published input size (16 x 224 x 224).

    python -m benchmarks.speed.bench_jedi                          # CPU, all 32 blocks, 2 clips, 1 timed batch
    python -m benchmarks.speed.bench_jedi --device cuda --batch 16 --repeats 5

The network is built at its published size with random weights (the cost does not depend on the values) and fed
uint8 clips through ``VJEPADetector`` (normalisation, encoder, probe pooler, float32 as the reference runs it).
Times are the median of ``--repeats`` timed batches after one warm-up batch (``--warmup 0`` skips it: on a loaded
2-core machine one ViT-H batch takes minutes); features only, no data loading or kernel means.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from metrics.vjepa import HUGE_FRAMES, VJEPADetector, VJEPAFeatures

    device = torch.device(args.device)
    torch.manual_seed(0)
    detector = VJEPADetector(VJEPAFeatures.huge(), name="vjepa_ssv2[random]", sha256=None).to(device)
    size = detector.model.encoder.img_size
    clips = torch.randint(0, 256, (args.batch, 3, HUGE_FRAMES, size, size), dtype=torch.uint8, device=device)

    def run() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        detector(clips)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    for _ in range(args.warmup):
        run()
    seconds = statistics.median(run() for _ in range(args.repeats))
    params = sum(p.numel() for p in detector.parameters())
    print(
        json.dumps(
            {
                "device": str(device),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "parameters": params,
                "input": f"{args.batch} x 3 x {HUGE_FRAMES} x {size} x {size} uint8",
                "seconds_per_batch": round(seconds, 2),
                "clips_per_s": round(args.batch / seconds, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
