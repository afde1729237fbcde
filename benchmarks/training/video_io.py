"""Writing generated videos: float ``[B, T, C, H, W]`` in [-1, 1] -> uint8 -> GIF / MP4 / frame folders.

Quantisation is the official one, ``(x * 127.5 + 128).clamp(0, 255)``, so saved samples match what
the metrics see. Every writer is atomic (``registry.files``): a killed or failed write leaves no partial file.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from registry.files import atomic_folder, atomic_open, atomic_path


def to_uint8(videos: torch.Tensor) -> torch.Tensor:
    """``[..., C, H, W]`` float in [-1, 1] -> ``[..., H, W, C]`` uint8 (official rounding)."""
    x = (videos.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.movedim(-3, -1)


def video_grid(videos: torch.Tensor, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile ``[B, T, H, W, C]`` uint8 videos into one ``[T, rows*H', cols*W', C]`` video (even sizes for MP4)."""
    b, t, h, w, c = videos.shape
    ncols = ncols or math.ceil(math.sqrt(b))
    nrows = math.ceil(b / ncols)
    x = torch.zeros(nrows * ncols, t, h + pad, w + pad, c, dtype=torch.uint8)
    x[:b, :, :h, :w] = videos.cpu()
    grid = rearrange(x, "(r q) t h w c -> t (r h) (q w) c", r=nrows, q=ncols)
    grid = grid[:, : grid.shape[1] - pad or None, : grid.shape[2] - pad or None]
    return _even(grid.numpy())


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad H and W to even sizes (yuv420p needs them) by repeating the last row/column."""
    t, h, w, c = frames.shape
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frames


def write_gif(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0) -> Path:
    """``frames [T, H, W, 3]`` uint8 -> looping GIF (Pillow)."""
    from PIL import Image

    path = Path(path)
    images = [Image.fromarray(f) for f in frames]
    duration_ms = max(int(round(1000.0 / fps)), 10)
    with atomic_open(path) as handle:
        images[0].save(handle, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0, crf: int = 18) -> Path:
    """``frames [T, H, W, 3]`` uint8 -> H.264 MP4 (PyAV); any positive (fractional) frame rate."""
    import av

    path = Path(path)
    frames = _even(np.ascontiguousarray(frames))
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frames(folder: str | os.PathLike, frames: np.ndarray, ext: str = "png") -> Path:
    """``frames [T, H, W, 3]`` uint8 -> ``folder/000000.<ext>``... (the frames-dataset layout, readable by
    ``sgvb eval``)."""
    from PIL import Image

    folder = Path(folder)
    kwargs = {"quality": 95} if ext.lower() in ("jpg", "jpeg") else {}
    with atomic_folder(folder) as tmp:
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp / f"{i:06d}.{ext}", **kwargs)
    return folder


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Dispatch on the suffix: ``.mp4``, ``.gif``, or no suffix = a folder of PNG frames."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        return write_mp4(path, frames, fps)
    if suffix == ".gif":
        return write_gif(path, frames, fps)
    if suffix == "":
        return write_frames(path, frames)
    raise ValueError(
        f"unsupported video file type '{suffix}' for '{path}': use .mp4, .gif, or a folder name without suffix"
    )
