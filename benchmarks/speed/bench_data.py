"""Read-speed benchmark for the datasets: ``python -m benchmarks.speed.bench_data [--resolution 64] [--frames 256]``.

Builds a small synthetic source in a temporary folder, writes it as a frames directory, a frames zip
(via ``sgvb convert``) and mp4 files, then times (a) whole-video reads and (b) 3-frame training clips
(``ClipDataset`` + ``sparse_random``) for each, printing frames per second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.data.clips import ClipDataset
from benchmarks.data.convert import convert_videos
from benchmarks.data.frames import FramesDataset
from benchmarks.data.synthetic import SyntheticDataset
from benchmarks.data.video_files import VideoFilesDataset


def _write_mp4(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _rate(fn, frames_per_call: int, repeats: int) -> float:
    start = time.perf_counter()
    for r in range(repeats):
        fn(r)
    return frames_per_call * repeats / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--frames", type=int, default=256, help="frames per video")
    parser.add_argument("--videos", type=int, default=4)
    args = parser.parse_args(argv)
    synthetic = SyntheticDataset(resolution=args.resolution, num_videos=args.videos, num_frames=args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["SGVB_CACHE_DIR"] = str(tmp / "cache")  # keep the mp4 length cache out of ~/.cache
        (tmp / "mp4").mkdir()
        for i in range(args.videos):
            video = synthetic.read_video(i).numpy()
            _write_mp4(tmp / "mp4" / f"{i:03d}.mp4", video)
            (tmp / "dir" / f"{i:03d}").mkdir(parents=True)
            for k, frame in enumerate(video):
                Image.fromarray(frame).save(tmp / "dir" / f"{i:03d}" / f"{k:06d}.jpg", quality=95)
        convert_videos(tmp / "mp4", tmp / "frames.zip", resolution=args.resolution, log=lambda *_: None)
        datasets = {
            "synthetic": synthetic,
            "frames (dir)": FramesDataset(tmp / "dir", resolution=args.resolution),
            "frames (zip)": FramesDataset(tmp / "frames.zip", resolution=args.resolution),
            "mp4": VideoFilesDataset(tmp / "mp4", resolution=args.resolution),
        }
        print(f"{args.videos} videos x {args.frames} frames at {args.resolution}x{args.resolution}")
        print(f"{'dataset':<14} {'whole video fps':>16} {'clip fps (3 frames)':>20}")
        for name, ds in datasets.items():
            ds.lengths()  # count lengths (mp4) outside the timing
            whole = _rate(lambda r: ds.read_video(r % len(ds)), args.frames, args.videos)
            clips = ClipDataset(ds, "sparse_random", seed=0)
            clip = _rate(lambda r: clips[r % len(clips)], 3, 200)
            print(f"{name:<14} {whole:>16.0f} {clip:>20.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
