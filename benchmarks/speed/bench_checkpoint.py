"""Loading an official network pickle vs ``torch.load`` of the same tensors: time and peak memory.

    python -m benchmarks.speed.bench_checkpoint --resolution 256              # snapshot with Adam states (~1 GB)
    python -m benchmarks.speed.bench_checkpoint --resolution 256 --no-optimizers

Writes a StyleGAN-V ``network-snapshot`` pickle of the official 256² shapes in the official format
(stylegan_v/official_fixtures.py, random weights), and a ``torch.save`` file holding exactly the same
tensors. Each load runs in a fresh process: wall time of the load, and the peak resident memory the
load adds (``ru_maxrss`` after minus before, imports excluded). Ours is the whole user path,
``stylegan_v.official.load_network_pkl`` (safe unpickling, building our modules, copying the
weights); the reader alone (``legacy_pickle.load_pickle``) is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _child(mode: str, path: str) -> dict:
    import torch

    import stylegan_v  # noqa: F401
    from stylegan_v.legacy_pickle import load_pickle
    from stylegan_v.official import load_network_pkl

    torch.set_num_threads(1)
    peak = _PeakRSS()
    t0 = time.perf_counter()
    if mode == "official":
        out = load_network_pkl(path, verbose=False)
    elif mode == "reader":
        out = load_pickle(path)
    else:
        out = torch.load(path, map_location="cpu", weights_only=True)
    seconds = time.perf_counter() - t0
    added = peak.stop()
    del out
    return {"mode": mode, "seconds": seconds, "peak_added_bytes": added}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class _PeakRSS:
    """Largest resident set size above the starting one, sampled every millisecond in a thread."""

    def __init__(self):
        import threading

        self.start, self.peak, self.running = _rss(), 0, True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return max(self.peak, _rss()) - self.start


def _run_child(mode: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed.bench_checkpoint", "--child", mode, str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_files(folder: Path, resolution: int, optimizers: bool) -> tuple[Path, Path]:
    """The snapshot pickle and a torch.save file with the same tensors."""
    import torch

    from stylegan_v.legacy_pickle import ObjectRecord, PersistentRecord, load_pickle
    from stylegan_v.official_fixtures import write_snapshot

    pkl = folder / f"network-snapshot-{resolution}.pkl"
    write_snapshot(pkl, res=resolution, marker=folder / "EXECUTED", with_optimizers=optimizers)
    tensors: dict[str, torch.Tensor] = {}

    seen: set[int] = set()

    def collect(obj, prefix: str) -> None:  # every distinct tensor once (configs hold parent links: visit once)
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            tensors[prefix] = obj.detach()
        elif isinstance(obj, (ObjectRecord, PersistentRecord)):
            collect(obj.state, prefix)
            collect(dict(obj) if isinstance(obj, dict) else {}, prefix)
        elif isinstance(obj, dict):
            for k, v in obj.items():
                collect(v, f"{prefix}.{k}" if not isinstance(k, torch.Tensor) else f"{prefix}.{len(tensors)}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                collect(v, f"{prefix}.{i}")

    collect(load_pickle(pkl), "snapshot")
    pt = folder / f"same-tensors-{resolution}.pt"
    torch.save(tensors, pt)
    return pkl, pt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--no-optimizers", action="store_true", help="snapshot without G_opt/D_opt")
    parser.add_argument("--repeat", type=int, default=2, help="fresh processes per variant (best time, largest peak)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp folder)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        pkl, pt = write_files(Path(tmp), args.resolution, not args.no_optimizers)
        size = pkl.stat().st_size
        results = {}
        for mode, path in (("torch.load", pt), ("official", pkl), ("reader", pkl)):
            runs = [_run_child(mode, path) for _ in range(args.repeat)]
            results[mode] = {
                "seconds": min(r["seconds"] for r in runs),
                "peak_added_bytes": max(r["peak_added_bytes"] for r in runs),
            }
        base = results["torch.load"]["seconds"]
        print(
            f"snapshot {args.resolution}x{args.resolution}{'' if not args.no_optimizers else ' (no optimizers)'}: "
            f"pickle {size / 2**20:.0f} MiB, same tensors via torch.save {pt.stat().st_size / 2**20:.0f} MiB"
        )
        print(f"{'loader':<34} {'seconds':>8} {'x torch.load':>13} {'peak added':>11} {'x file size':>12}")
        for mode, label in (
            ("torch.load", "torch.load(weights_only=True)"),
            ("official", "load_network_pkl (our modules)"),
            ("reader", "legacy_pickle.load_pickle (reader)"),
        ):
            r = results[mode]
            print(
                f"{label:<34} {r['seconds']:>8.2f} {r['seconds'] / base:>13.2f} "
                f"{r['peak_added_bytes'] / 2**20:>8.0f} MiB "
                f"{r['peak_added_bytes'] / size:>12.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
