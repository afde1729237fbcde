"""Training-step speed of every compatible generator x discriminator pair in the registries.

    python -m benchmarks.speed.bench_train --resolution 32 --small          # CPU, narrow widths
    python -m benchmarks.speed.bench_train --resolution 256 --batch 16      # GPU, official widths

Each pair runs in a fresh process (so peak memory is its own): the harness builds it exactly as
``sgvb train`` would (config option ``<kind>/<name>.yaml``, or ``<name>_small.yaml`` with
``--small``, else the bare registry name), checks compatibility, runs ``--warmup`` steps, then times
``--steps`` full training steps (G phase, D phase, lazy R1 at its real frequency, EMA, ADA).
Reports sec/kimg (kimg = frames, as in training) and peak memory (CUDA: max allocated; CPU: peak RSS).
``--settings baseline,optimized`` builds the pair twice (see ``build_loop``) and interleaves their
steps in one process, reporting the optimized/baseline time ratio of the same run.
Incompatible pairs are listed with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"


def option_spec(kind: str, name: str, small: bool) -> dict:
    """The config option ``sgvb train`` would use for ``name``: ``<name>_small`` with ``small`` where that file
    exists (composed by Hydra, so its defaults list applies: the small files only hold what differs), else
    ``<name>``, else the bare registry name."""
    from benchmarks.config.hydra_setup import load_option

    for stem in ([f"{name}_small"] if small else []) + [name]:
        if (CONF / kind / f"{stem}.yaml").is_file():
            spec = load_option(kind, stem)
            if spec.get("_name_") == name:
                return spec
    return {"_name_": name}


SETTINGS = ("baseline", "optimized")


def build_loop(args, setting: str):
    """A ``TrainingLoop`` for one pair, as ``sgvb train`` builds it, in one speed ``setting``.

    baseline: fp32, eager, NCHW, for-loop Adam and the reference (unfused) ops: the straightforward
    implementation every speed-up is measured against. optimized: bf16 autocast on CUDA (unless
    ``--precision fp32``), channels_last, fused Adam, fused ops, and ``torch.compile`` of the G and
    D forward paths where ``--compile`` asks for it (R1 stays eager: no double backward through compile).
    Returns ``(loop, None)`` or ``(None, {"status": "incompatible", ...})``.
    """
    import torch

    from benchmarks.config.training import RuntimeSettings, TrainerSettings
    from benchmarks.records.run_folder import RunFolder
    from benchmarks.training import dist
    from benchmarks.training.components import (
        ConfigError,
        build_augmentation,
        build_dataset,
        build_discriminators,
        build_generator,
        check_compatibility,
        smoke_test,
    )
    from benchmarks.training.job import pick_device
    from benchmarks.training.loop import TrainingLoop

    device = pick_device(args.device, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_from_env(device.type)  # under torchrun: one process per GPU (NCCL), gradients averaged by the loop
    torch.manual_seed(0)
    dataset = build_dataset({"_name_": "synthetic", "resolution": args.resolution, "num_videos": 64, "num_frames": 64})
    try:
        G = build_generator(option_spec("generator", args.generator, args.small), resolution=args.resolution)
        slots = build_discriminators(
            option_spec("discriminator", args.discriminator, args.small),
            resolution=args.resolution,
            default_sampler=None,
            default_loss="non_saturating",
            r1_gamma=0.0002 * args.resolution**2 / args.batch,
        )
        stages = tuple(getattr(G, "training_stages", ("main",)))
        stage_kimg = {s: 0 for s in stages[:-1]}  # multi-stage generators: time their last stage (earlier hooks run)
        check_compatibility(G, slots, dataset, stages=stages, stage_kimg=stage_kimg, max_num_frames=1024)
        G.to(device).eval(), [s.D.to(device).eval() for s in slots]
        smoke_test(G, slots, dataset, device)
    except ConfigError as exc:
        return None, {"status": "incompatible", "reason": str(exc).splitlines()[0][:160]}
    G.train(), [s.D.train() for s in slots]
    fast = setting == "optimized"
    loop = TrainingLoop(
        G=G,
        slots=slots,
        dataset=dataset,
        augment=build_augmentation({"_name_": "ada", "p": 0.2, "adaptive": False}),
        run=RunFolder(".", writer=False),
        device=device,
        runtime=RuntimeSettings(
            precision=args.precision if fast else "fp32",
            channels_last=fast,
            compile=fast and args.compile,
            fused_adam=fast,
            progress=False,
        ),
        trainer=TrainerSettings(
            batch_size=args.batch,
            batch_gpu=args.batch_gpu or args.batch // int(os.environ.get("WORLD_SIZE", "1")),
            num_workers=0,
            total_kimg=1e9,
            stage_kimg=stage_kimg,
            r1_interval=16,
            ema_kimg=args.batch * 10 / 32,
        ),
    )
    loop._advance_stage()
    return loop, None


def _timed_step(loop, setting: str, stats) -> float:
    import torch

    from stylegan_v.ops import reference_ops

    if loop.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with reference_ops(setting == "baseline"):
        loop.train_step(stats)
    if loop.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_pair(args) -> dict:
    """Time ``--steps`` full steps of every setting in ``--settings``, interleaved step by step in one process
    (machine load then hits all settings alike, so their ratio is meaningful on a shared machine).

    Steps cover a whole lazy-R1 period when ``--steps`` is 16: the R1 step then weighs as in training.
    """
    import statistics

    import torch

    loops = {}
    for setting in args.settings:
        loop, failure = build_loop(args, setting)
        if failure:
            return failure
        loops[setting] = loop
    stats = defaultdict(list)
    device = next(iter(loops.values())).device
    for setting, loop in loops.items():
        for _ in range(args.warmup):
            _timed_step(loop, setting, stats)
        loop.step = 0  # the timed steps start a lazy-R1 period, as every setting does
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = {s: [] for s in loops}
    order = list(loops)
    for _ in range(args.steps):
        for setting in order:
            times[setting].append(_timed_step(loops[setting], setting, stats))
        order.reverse()  # ABBA...: neither setting always runs right after the other
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    first = next(iter(loops.values()))
    frames = first.batch_size * first.frames_per_clip()
    result = {
        "status": "ok",
        "frames_per_step": frames,
        "peak_gib": peak,
        "g_params_m": sum(p.numel() for p in first.G.parameters()) / 1e6,
        "d_params_m": sum(p.numel() for s in first.slots for p in s.D.parameters()) / 1e6,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "settings": {},
    }
    for setting, ts in times.items():
        total = sum(ts)  # the mean over whole R1 periods; medians would drop the R1 step
        result["settings"][setting] = {
            "sec_per_kimg": total / (frames * len(ts) / 1000),
            "sec_per_step": total / len(ts),
            "median_step": statistics.median(ts),
        }
    main_setting = args.settings[-1]
    result.update(
        sec_per_kimg=result["settings"][main_setting]["sec_per_kimg"],
        sec_per_step=result["settings"][main_setting]["sec_per_step"],
    )
    if len(times) == 2:
        result["ratio"] = (
            result["settings"]["optimized"]["sec_per_step"] / result["settings"]["baseline"]["sec_per_step"]
        )
        # step i of both settings is the same kind of step (R1 or not): the median of their ratios shrugs off a burst
        # of load that hit one setting's steps, which the ratio of totals does not
        result["ratio_paired_median"] = statistics.median(o / b for o, b in zip(times["optimized"], times["baseline"]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4, help="videos per step")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="use <name>_small.yaml options where they exist")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument(
        "--batch-gpu", type=int, default=0, help="videos per forward (0 = --batch; smaller = accumulation)"
    )
    parser.add_argument(
        "--settings", default="optimized", help="comma list of baseline,optimized (both: interleaved, with their ratio)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="optimized setting: torch.compile the G and D forward paths"
    )
    parser.add_argument("--generators", default="*", help="registry pattern")
    parser.add_argument("--discriminators", default="*", help="registry pattern")
    parser.add_argument("--generator", help=argparse.SUPPRESS)
    parser.add_argument("--discriminator", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.settings = [x.strip() for x in args.settings.split(",") if x.strip()]
    if not args.settings or set(args.settings) - set(SETTINGS):
        parser.error(f"--settings: expected a comma list of {SETTINGS}, got {','.join(args.settings)!r}")

    if args.generator:  # child process: one pair, one JSON line
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        result = run_pair(args)
        if int(os.environ.get("RANK", "0")) == 0:
            result["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
            print("RESULT " + json.dumps(result))
        return 0

    from registry import DISCRIMINATORS, GENERATORS

    passthrough = (
        [
            f"--resolution={args.resolution}",
            f"--batch={args.batch}",
            f"--steps={args.steps}",
            f"--warmup={args.warmup}",
            f"--device={args.device}",
            f"--precision={args.precision}",
            f"--threads={args.threads}",
            f"--batch-gpu={args.batch_gpu}",
            f"--settings={','.join(args.settings)}",
        ]
        + (["--small"] if args.small else [])
        + (["--compile"] if args.compile else [])
    )
    rows = []
    for g in GENERATORS.list(args.generators):
        for d in DISCRIMINATORS.list(args.discriminators):
            result = measure_pair(g, d, passthrough)
            rows.append((g, d, result))
            print(_row(g, d, result), flush=True) if len(rows) > 1 else print(
                _header() + "\n" + _row(g, d, result), flush=True
            )
    return 0


def measure_pair(generator: str, discriminator: str, options: list[str], *, nproc: int = 1) -> dict:
    """``run_pair`` in a fresh process (its own peak memory, its own compile caches); ``options`` are CLI flags.

    ``nproc > 1`` launches it with ``torchrun`` (one process per GPU, NCCL): ``--batch`` is then the
    global batch, split over the processes as in training, so sec/kimg compares directly with 1 GPU.
    """
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone"]
        if nproc > 1
        else [sys.executable]
    )
    out = subprocess.run(
        [
            *launcher,
            "-m",
            "benchmarks.speed.bench_train",
            f"--generator={generator}",
            f"--discriminator={discriminator}",
            *options,
        ],
        capture_output=True,
        text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    return (
        json.loads(lines[-1][7:])
        if lines
        else {"status": "error", "reason": (out.stderr.strip().splitlines() or ["?"])[-1][:160]}
    )


def _header() -> str:
    return (
        f"{'generator':<14} {'discriminator':<18} {'sec/kimg':>9} {'sec/step':>9} {'frames/step':>11} "
        f"{'peak GiB':>9} {'G M':>6} {'D M':>6}  device"
    )


def _row(g: str, d: str, r: dict) -> str:
    if r["status"] != "ok":
        return f"{g:<14} {d:<18} {r['status']}: {r.get('reason', '')}"
    return (
        f"{g:<14} {d:<18} {r['sec_per_kimg']:>9.1f} {r['sec_per_step']:>9.3f} {r['frames_per_step']:>11d} "
        f"{r['peak_gib']:>9.2f} "
        f"{r['g_params_m']:>6.2f} {r['d_params_m']:>6.2f}  {r['device']}"
        + (
            f"  optimized/baseline {r['ratio']:.2f}x (median of paired steps {r['ratio_paired_median']:.2f}x)"
            if "ratio" in r
            else ""
        )
    )


if __name__ == "__main__":
    sys.exit(main())
