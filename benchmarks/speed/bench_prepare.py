"""Speed and memory of ``sgvb prepare`` on a synthetic raw tree, plus a real kill-and-resume.

    python -m benchmarks.speed.bench_prepare                       # 1,000 Taichi-style mp4 videos, 2 workers
    python -m benchmarks.speed.bench_prepare --videos 200 --frames 32 --source-size 160x90

Builds a raw tree in the published Taichi-HD layout (``train/<video>.mp4``; every video a few moving
coloured bars at ``--source-size``), then runs ``sgvb prepare taichi`` in a fresh process per
``--workers`` value and reports frames/s (wall clock, decode + resize + JPEG + zip) and peak resident
memory of the main process and of the largest worker. Then it prepares the tree again, kills that
process with SIGKILL part-way, reruns the same command, and checks the resumed zip equals the
uninterrupted one (same fingerprint). Last, it times the up-front quick check and ``check-dataset``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RUN_PREPARE = """
import json, os, resource, sys, time
import benchmarks.data.prepare.build as build
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # after imports (torch): not the data's
render = build._render
peaks = sys.argv[5]
def measured(task):  # workers are forked, so they run this wrapper; each records its own peak RSS
    info = render(task)
    with open(os.path.join(peaks, str(os.getpid())), "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return info
build._render = measured
t = time.perf_counter()
m = build.prepare_dataset(
    "taichi", sys.argv[1], sys.argv[2], resolution=int(sys.argv[3]), workers=int(sys.argv[4]), log=lambda *_: None
)
wall = time.perf_counter() - t
workers = [float(open(os.path.join(peaks, f)).read()) for f in os.listdir(peaks) if f != str(os.getpid())]
print(json.dumps({
    "wall_s": wall, "frames": m["frames"], "videos": m["videos"], "fingerprint": m["fingerprint"],
    "import_mib": baseline, "main_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_peak_mib": max(workers, default=0),
}))
"""


def build_raw_tree(root: Path, videos: int, frames: int, width: int, height: int) -> None:
    import av

    rng = np.random.default_rng(0)
    folder = root / "train"
    folder.mkdir(parents=True)
    xs = np.arange(width)
    for v in range(videos):
        colours = rng.integers(0, 255, (3, 3))
        speed = rng.uniform(0.5, 3)
        with av.open(str(folder / f"video_{v:05d}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "23"}
            for k in range(frames):
                band = ((xs + speed * k) // max(width // 6, 1)).astype(int) % 3
                frame = np.broadcast_to(colours[band][None], (height, width, 3)).astype(np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def run_prepare(raw: Path, out: Path, resolution: int, workers: int, kill_at: int | None = None) -> dict | None:
    """Prepare in a fresh process; with ``kill_at``, SIGKILL it once that many videos are finished."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    peaks = Path(tempfile.mkdtemp(dir=out.parent.parent))
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_PREPARE, str(raw), str(out), str(resolution), str(workers), str(peaks)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    if kill_at is not None:
        parts = out.parent / f".{out.name}.partial" / "videos"
        while proc.poll() is None and (not parts.is_dir() or len(list(parts.glob("*.zip"))) < kill_at):
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: main process and its workers, as a crash would
            proc.wait()
            return None
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed: {stderr.strip().splitlines()[-1] if stderr.strip() else proc.returncode}")
    return json.loads(stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=16, help="frames per raw video")
    parser.add_argument("--source-size", default="96x64", help="raw frame size WxH")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    width, height = (int(x) for x in args.source_size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["SGVB_CACHE_DIR"] = str(tmp / "cache")
        t = time.perf_counter()
        build_raw_tree(tmp / "raw", args.videos, args.frames, width, height)
        print(
            f"raw tree: {args.videos} Taichi-layout mp4 videos x {args.frames} frames at {width}x{height} "
            f"(built in {time.perf_counter() - t:.1f}s); output {args.resolution}x{args.resolution}, "
            f"CPUs: {os.cpu_count()}"
        )
        print(
            f"{'workers':>7} {'frames/s':>9} {'videos/s':>9} {'wall s':>7} "
            f"{'main peak MiB (after imports)':>30} {'worker peak MiB':>16}"
        )
        results = {}
        for w in args.workers:
            r = run_prepare(tmp / "raw", tmp / f"w{w}" / "taichi.zip", args.resolution, w)
            results[w] = r
            print(
                f"{w:>7} {r['frames'] / r['wall_s']:>9.0f} {r['videos'] / r['wall_s']:>9.1f} {r['wall_s']:>7.1f} "
                f"{r['main_peak_mib']:>17.0f} ({r['import_mib']:.0f}) {r['worker_peak_mib']:>16.0f}"
            )
        reference = results[args.workers[-1]]
        out = tmp / "killed" / "taichi.zip"
        run_prepare(tmp / "raw", out, args.resolution, args.workers[-1], kill_at=args.videos // 2)
        parts = tmp / "killed" / ".taichi.zip.partial" / "videos"
        done = len(list(parts.glob("*.zip"))) if parts.is_dir() else 0
        present = out.exists()
        resumed = run_prepare(tmp / "raw", out, args.resolution, args.workers[-1])
        same = resumed["fingerprint"] == reference["fingerprint"]
        print(
            f"SIGKILL after {done} of {args.videos} videos: zip present: {'YES' if present else 'no'}; "
            f"resumed in {resumed['wall_s']:.1f}s; identical to the uninterrupted zip: {'yes' if same else 'NO'}"
        )

        from benchmarks.data import FramesDataset
        from benchmarks.data.checks import check_dataset

        t = time.perf_counter()
        FramesDataset(tmp / "w1" / "taichi.zip" if 1 in results else out, resolution=args.resolution)
        quick = time.perf_counter() - t
        t = time.perf_counter()
        report = check_dataset(out, workers=args.workers[-1])
        full = time.perf_counter() - t
        frames = reference["frames"]
        print(
            f"quick check (headers) at dataset construction: {quick:.2f}s ({frames / quick:.0f} frames/s); "
            f"check-dataset ({args.workers[-1]} workers): {full:.1f}s ({frames / full:.0f} frames/s), "
            f"{len(report.errors)} error(s)"
        )
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
