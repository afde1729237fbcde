"""A procedural video dataset that needs no files: moving, rotating, coloured shapes on textured backgrounds.

Every video is a closed-form function of time, so any frame of any video renders on demand in
O(number of frames asked for), at any resolution and any length (10^4 frames cost nothing to index).
Per video (drawn from a seed derived from ``(seed, video index)``): a background of two muted colours
mixed by a slowly panning low-frequency texture, and 1-3 shapes (circle, square, triangle, diamond) with
a saturated colour and a shading ramp that makes rotation visible. Position, angle and scale follow sums of
random low-frequency sinusoids with incommensurate periods (plus a constant spin), so motion is smooth,
clearly visible at 32x32 (about 1 pixel per frame), and never loops: frames far apart differ.
It is simple enough for a small GAN to learn on a CPU, and a static or looping generator is visibly worse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from benchmarks.data.base import DatasetError, VideoDataset, hash_items
from registry import DATASETS

# Bump when the rendering changes: the fingerprint (metric cache key) includes it.
GENERATOR_VERSION = 1
SHAPES = ("circle", "square", "triangle", "diamond")
_CHUNK = 64  # frames rendered at once (bounds memory at high resolution)


def _sinusoids(
    rng: np.random.Generator, n: int, total_amplitude: float, period_range: tuple[float, float]
) -> np.ndarray:
    """``[n, 3]`` rows (amplitude, angular frequency, phase); periods log-uniform, amplitudes sum to
    ``total_amplitude``."""
    periods = np.exp(rng.uniform(math.log(period_range[0]), math.log(period_range[1]), size=n))
    weights = rng.dirichlet(np.ones(n))
    phases = rng.uniform(0, 2 * math.pi, size=n)
    return np.stack([total_amplitude * weights, 2 * math.pi / periods, phases], axis=1)


def _eval(waves: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sum of sinusoids ``[n, 3]`` at times ``t [T]`` -> ``[T]`` (float64 so long videos stay exact)."""
    return (waves[:, 0, None] * np.sin(waves[:, 1, None] * t[None] + waves[:, 2, None])).sum(0)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


@DATASETS.register("synthetic", aliases=["shapes"])
class SyntheticDataset(VideoDataset):
    """``num_videos`` procedural videos of ``num_frames`` frames, deterministic per (``seed``, video index)."""

    def __init__(self, resolution: int = 32, num_videos: int = 1024, num_frames: int = 128, seed: int = 0):
        for name, value, minimum in (
            ("resolution", resolution, 4),
            ("num_videos", num_videos, 1),
            ("num_frames", num_frames, 1),
        ):
            if int(value) != value or value < minimum:
                raise DatasetError(f"synthetic: {name} must be an integer >= {minimum}, got {value!r}")
        self.resolution = int(resolution)
        self.num_videos = int(num_videos)
        self.num_frames = int(num_frames)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.num_videos

    def video_name(self, i: int) -> str:
        return f"{self._check_video_index(i):06d}"

    def video_length(self, i: int) -> int:
        self._check_video_index(i)
        return self.num_frames

    def fingerprint(self) -> str:
        return hash_items("synthetic", GENERATOR_VERSION, self.resolution, self.num_videos, self.num_frames, self.seed)

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        i = self._check_video_index(i)
        indices = self._check_frame_indices(i, frame_indices)
        return self.render(i, indices)

    # ------------------------------------------------------------------ rendering
    def video_params(self, i: int) -> dict:
        """The random description of video ``i`` (colours, texture, shapes and their motion)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(i)]))
        hue0 = rng.uniform()
        background = {
            "colors": np.stack(
                [
                    _hsv_to_rgb(hue0, rng.uniform(0.2, 0.5), rng.uniform(0.25, 0.45)),
                    _hsv_to_rgb((hue0 + rng.uniform(0.15, 0.5)) % 1, rng.uniform(0.2, 0.5), rng.uniform(0.55, 0.8)),
                ]
            ),
            # three plane waves: (kx, ky, phase); the first two are coarse, the third a mild fine texture
            "waves": np.concatenate(
                [
                    _directions(rng, 2) * rng.uniform(1.0, 3.0, size=(2, 1)) * math.pi,
                    _directions(rng, 1) * rng.uniform(3.5, 5.5, size=(1, 1)) * math.pi,
                ]
            ),
            "wave_phase": rng.uniform(0, 2 * math.pi, size=3),
            "pan": [_sinusoids(rng, 2, 0.3, (100.0, 400.0)) for _ in range(2)],
        }
        shapes = []
        for _ in range(int(rng.integers(1, 4))):
            spin = rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.08)
            shapes.append(
                {
                    "kind": SHAPES[int(rng.integers(len(SHAPES)))],
                    "color": _hsv_to_rgb(rng.uniform(), rng.uniform(0.7, 1.0), rng.uniform(0.85, 1.0)),
                    "size": rng.uniform(0.2, 0.35),
                    "x": _sinusoids(rng, 3, rng.uniform(0.45, 0.65), (24.0, 160.0)),
                    "y": _sinusoids(rng, 3, rng.uniform(0.45, 0.65), (24.0, 160.0)),
                    "spin": spin,
                    "wobble": _sinusoids(rng, 2, 0.6, (30.0, 120.0)),
                    "scale": _sinusoids(rng, 1, 0.2, (40.0, 200.0)),
                }
            )
        return {"background": background, "shapes": shapes}

    def render(self, i: int, times: Sequence[float]) -> torch.Tensor:
        """Frames of video ``i`` at (possibly fractional) ``times`` -> uint8 ``[T, H, W, C]``."""
        params = self.video_params(i)
        t_all = np.asarray(times, dtype=np.float64).reshape(-1)
        out = torch.empty(len(t_all), self.resolution, self.resolution, 3, dtype=torch.uint8)
        for start in range(0, len(t_all), _CHUNK):
            out[start : start + _CHUNK] = self._render_chunk(params, t_all[start : start + _CHUNK])
        return out

    def _render_chunk(self, params: dict, t: np.ndarray) -> torch.Tensor:
        # numpy float32: single-threaded elementwise maths, fast for small frames and safe in DataLoader workers
        f32 = np.float32
        res = self.resolution
        coords = ((np.arange(res, dtype=f32) + 0.5) / res * 2 - 1).astype(f32)  # pixel centres in [-1, 1]
        ys, xs = coords[None, :, None], coords[None, None, :]  # [1, H, 1], [1, 1, W]
        pixel = f32(2.0 / res)

        def per_frame(values: np.ndarray) -> np.ndarray:  # [T] float64 -> [T, 1, 1] float32
            return values.astype(f32)[:, None, None]

        bg = params["background"]
        px, py = per_frame(_eval(bg["pan"][0], t)), per_frame(_eval(bg["pan"][1], t))
        (k0x, k0y), (k1x, k1y), (k2x, k2y) = bg["waves"].astype(f32)
        p0, p1, p2 = bg["wave_phase"].astype(f32)
        u, v = xs - px, ys - py  # panned coordinates [T, 1, W], [T, H, 1]
        coarse = f32(0.5) * (np.sin(k0x * u + k0y * v + p0) + np.sin(k1x * u + k1y * v + p1))
        fine = np.sin(k2x * u + k2y * v + p2)
        mix = np.clip(f32(0.5) + f32(0.42) * coarse + f32(0.08) * fine, 0, 1)[..., None]  # [T, H, W, 1]
        c0, c1 = bg["colors"].astype(f32)
        image = c0 * (1 - mix) + c1 * mix  # [T, H, W, 3]

        for shape in params["shapes"]:
            cx, cy = per_frame(_eval(shape["x"], t)), per_frame(_eval(shape["y"], t))
            angle = per_frame(shape["spin"] * t + _eval(shape["wobble"], t))
            size = per_frame(shape["size"] * (1 + _eval(shape["scale"], t)))
            cos, sin = np.cos(angle), np.sin(angle)
            dx, dy = xs - cx, ys - cy
            qx = (cos * dx + sin * dy) / size  # shape-local coordinates [T, H, W]
            qy = (cos * dy - sin * dx) / size
            dist = _signed_distance(shape["kind"], qx, qy) * size  # image units
            alpha = np.clip(f32(0.5) - dist / pixel, 0, 1)[..., None]
            shade = (f32(0.75) + f32(0.25) * np.clip(qx, -1, 1))[
                ..., None
            ]  # a ramp across the shape shows its rotation
            image = image * (1 - alpha) + (shape["color"].astype(f32) * shade) * alpha
        return torch.from_numpy(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))


def _directions(rng: np.random.Generator, n: int) -> np.ndarray:
    angles = rng.uniform(0, 2 * math.pi, size=n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _signed_distance(kind: str, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Approximate signed distance (negative inside) to a unit-sized shape in local coordinates."""
    if kind == "circle":
        return np.sqrt(qx**2 + qy**2) - 1
    if kind == "square":
        return np.maximum(np.abs(qx), np.abs(qy)) - np.float32(0.8)
    if kind == "diamond":
        return (np.abs(qx) + np.abs(qy) - np.float32(1.1)) * np.float32(1 / math.sqrt(2))
    if kind == "triangle":  # equilateral, circumradius 1: the furthest of three edge half-planes
        angles = (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 - 2 * math.pi / 3)
        edges = [qx * np.float32(math.cos(a)) + qy * np.float32(math.sin(a)) for a in angles]
        return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - np.float32(0.5)
    raise ValueError(f"unknown shape kind {kind!r}")
