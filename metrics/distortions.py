"""Controlled video distortions for ``sgvb audit``: what a metric responds to, one property at a time.

Every distortion is registered in ``DISTORTIONS`` (plugins add more through the ``sgvb.distortions``
entry-point group) and keeps the ``Distortion`` contract (``registry/interfaces.py``): it maps a batch of
uint8 source clips ``[B, S, H, W, C]`` and a strength in [0, 1] to uint8 videos ``[B, T, H, W, C]``.
Strength 0 returns the first T source frames unchanged (the audit's noise floor); 1 is the strongest
setting, which each class maps to its own parameter (``parameter(strength)``, reported next to the
strength). ``family`` says what is changed:

  * ``spatial``: every frame on its own (blur, noise, JPEG, colour shift); the order of frames is kept;
  * ``temporal``: the order, timing or continuity of frames (freeze, shuffle, reversal, speed, loop,
    drops, content switch), or a change that varies over time (flicker, slow drift).

Distortions that read ahead of the T output frames (speed change, frame drops) declare ``context``:
source frames per output frame at strength 1, so the caller reads ``ceil(T * context)`` frames.
Randomness comes only from the ``torch.Generator`` passed in, so a run is reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange

from registry import DISTORTIONS
from registry.interfaces import Distortion


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round().clamp(0, 255).to(torch.uint8)


def take_frames(videos: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Frames ``index`` (``[T]`` shared, or ``[B, T]`` per video) of ``videos [B, S, H, W, C]``."""
    if index.ndim == 1:
        return videos[:, index]
    rows = torch.arange(videos.shape[0], device=videos.device)[:, None]  # [B, 1]
    return videos[rows, index.to(videos.device)]


class SpatialDistortion(Distortion):
    """Applied to each of the first T frames on its own: ``frames(x [N, C, H, W] uint8) -> uint8``."""

    family = "spatial"

    def apply(self, videos, strength, num_frames, generator):
        b = videos.shape[0]
        x = rearrange(videos[:, :num_frames], "b t h w c -> (b t) c h w")
        y = self.frames(x, strength, generator)
        return rearrange(y, "(b t) c h w -> b t h w c", b=b).contiguous()

    def frames(self, x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``[2r + 1]``, r = ceil(3 sigma)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


@DISTORTIONS.register("gaussian_blur", aliases=["blur"])
class GaussianBlur(SpatialDistortion):
    """Separable Gaussian blur, sigma = strength * ``max_sigma`` pixels (edges replicated)."""

    parameter_name = "sigma_px"

    def __init__(self, max_sigma: float = 2.0):
        self.max_sigma = float(max_sigma)

    def parameter(self, strength):
        return strength * self.max_sigma

    def frames(self, x, strength, generator):
        k = gaussian_kernel(self.parameter(strength)).to(x.device)
        r = (len(k) - 1) // 2
        y = x.float()
        c = y.shape[1]
        y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
        return to_uint8(y)


@DISTORTIONS.register("gaussian_noise", aliases=["noise"])
class GaussianNoise(SpatialDistortion):
    """Independent Gaussian pixel noise, std = strength * ``max_std`` grey levels (of 255)."""

    parameter_name = "std_levels"

    def __init__(self, max_std: float = 32.0):
        self.max_std = float(max_std)

    def parameter(self, strength):
        return strength * self.max_std

    def frames(self, x, strength, generator):
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        return to_uint8(x.float() + self.parameter(strength) * noise)


@DISTORTIONS.register("jpeg", aliases=["jpeg_quality"])
class JpegCompression(SpatialDistortion):
    """JPEG round trip at quality = round(100 - strength * (100 - ``min_quality``)) (libjpeg via Pillow,
    4:2:0 chroma)."""

    parameter_name = "quality"

    def __init__(self, min_quality: int = 5):
        if not 1 <= int(min_quality) <= 100:
            raise ValueError(f"jpeg: min_quality must be in [1, 100], got {min_quality}")
        self.min_quality = int(min_quality)

    def parameter(self, strength):
        return float(round(100 - strength * (100 - self.min_quality)))

    def frames(self, x, strength, generator):
        frames = rearrange(x.cpu(), "n c h w -> n h w c").numpy()
        quality = int(self.parameter(strength))
        out = torch.stack([torch.from_numpy(jpeg_round_trip(f, quality)) for f in frames])
        return rearrange(out, "n h w c -> n c h w").to(x.device)


def jpeg_round_trip(frame, quality: int):
    """uint8 ``[H, W, 3]`` numpy frame -> the same frame after JPEG encoding at ``quality`` and decoding."""
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB")).copy()


def hue_rotation(degrees: float) -> torch.Tensor:
    """3x3 rotation of RGB about the grey axis (1, 1, 1): greys stay, 120 degrees maps R -> G -> B -> R."""
    a = math.radians(degrees)
    u = torch.full((3,), 1 / math.sqrt(3), dtype=torch.float64)
    cross = torch.tensor([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]], dtype=torch.float64)
    return math.cos(a) * torch.eye(3, dtype=torch.float64) + math.sin(a) * cross + (1 - math.cos(a)) * torch.outer(u, u)


@DISTORTIONS.register("colour_shift", aliases=["color_shift", "hue_shift"])
class ColourShift(SpatialDistortion):
    """The same hue rotation on every frame, angle = strength * ``max_degrees`` (greys unchanged)."""

    parameter_name = "hue_degrees"

    def __init__(self, max_degrees: float = 180.0):
        self.max_degrees = float(max_degrees)

    def parameter(self, strength):
        return strength * self.max_degrees

    def frames(self, x, strength, generator):
        m = hue_rotation(self.parameter(strength)).to(device=x.device, dtype=torch.float32)
        return to_uint8(torch.einsum("ij,njhw->nihw", m, x.float()))


@DISTORTIONS.register("frame_freeze", aliases=["freeze", "stutter"])
class FrameFreeze(Distortion):
    """Every k-th frame held for k frames (a lower frame rate shown at the original one),
    k = 1 + round(strength * (max_hold - 1))."""

    parameter_name = "hold_frames"

    def __init__(self, max_hold: int = 16):
        self.max_hold = int(max_hold)

    def parameter(self, strength):
        return float(1 + round(strength * (self.max_hold - 1)))

    def apply(self, videos, strength, num_frames, generator):
        k = int(self.parameter(strength))
        return take_frames(videos, torch.arange(num_frames) // k * k)


@DISTORTIONS.register("window_shuffle", aliases=["shuffle"])
class WindowShuffle(Distortion):
    """Frames randomly permuted within consecutive windows of w = 1 + round(strength * (max_window - 1)) frames,
    per video."""

    parameter_name = "window_frames"

    def __init__(self, max_window: int = 16):
        self.max_window = int(max_window)

    def parameter(self, strength):
        return float(1 + round(strength * (self.max_window - 1)))

    def apply(self, videos, strength, num_frames, generator):
        w = int(self.parameter(strength))
        index = torch.arange(num_frames).repeat(videos.shape[0], 1)  # [B, T]
        for start in range(0, num_frames, w):
            n = min(w, num_frames - start)
            keys = torch.rand(videos.shape[0], n, generator=generator)
            index[:, start : start + n] = start + keys.argsort(dim=1)
        return take_frames(videos, index)


@DISTORTIONS.register("segment_reversal", aliases=["reversal"])
class SegmentReversal(Distortion):
    """The video cut into ``segments`` equal segments; a fraction ``strength`` of them (random, per video) play
    backwards.

    The fraction, not the segment length, is the strength: reversing the whole video keeps every
    frame-pair distance, so only the seams between reversed and forward segments change the motion.
    """

    parameter_name = "fraction_reversed"

    def __init__(self, segments: int = 8):
        self.segments = int(segments)

    def apply(self, videos, strength, num_frames, generator):
        length = max(2, num_frames // self.segments)
        starts = list(range(0, num_frames - length + 1, length))
        count = int(round(strength * len(starts)))
        index = torch.arange(num_frames).repeat(videos.shape[0], 1)  # [B, T]
        for b in range(videos.shape[0]):
            chosen = torch.randperm(len(starts), generator=generator)[:count]
            for j in chosen.tolist():
                s = starts[j]
                index[b, s : s + length] = index[b, s : s + length].flip(0)
        return take_frames(videos, index)


@DISTORTIONS.register("speed_change", aliases=["speed", "fast_forward"])
class SpeedChange(Distortion):
    """Playback sped up by f = max_speed ** strength (frame t shows source frame floor(t f)); reads f T source
    frames."""

    parameter_name = "speed"

    def __init__(self, max_speed: float = 4.0):
        if max_speed < 1:
            raise ValueError(f"speed_change: max_speed must be >= 1, got {max_speed}")
        self.max_speed = float(max_speed)
        self.context = self.max_speed

    def parameter(self, strength):
        return self.max_speed**strength

    def apply(self, videos, strength, num_frames, generator):
        f = self.parameter(strength)
        index = torch.floor(torch.arange(num_frames, dtype=torch.float64) * f + 1e-9).long()
        return take_frames(videos, index)


@DISTORTIONS.register("loop", aliases=["repeat"])
class Loop(Distortion):
    """The first L frames repeated, L = max(1, round(T (1 - strength))): strength 1 is a frozen video."""

    parameter_name = "loop_fraction_of_clip"

    def loop_length(self, strength: float, num_frames: int) -> int:
        return max(1, int(round(num_frames * (1 - strength))))

    def parameter(self, strength):
        return 1 - strength  # L / T

    def apply(self, videos, strength, num_frames, generator):
        return take_frames(videos, torch.arange(num_frames) % self.loop_length(strength, num_frames))


@DISTORTIONS.register("flicker")
class Flicker(Distortion):
    """Per-frame brightness gain 1 + a u_t, u_t ~ U(-1, 1) independent per frame and video,
    a = strength * ``max_amplitude``."""

    parameter_name = "gain_amplitude"

    def __init__(self, max_amplitude: float = 0.5):
        self.max_amplitude = float(max_amplitude)

    def parameter(self, strength):
        return strength * self.max_amplitude

    def apply(self, videos, strength, num_frames, generator):
        b = videos.shape[0]
        gain = 1 + self.parameter(strength) * (2 * torch.rand(b, num_frames, generator=generator) - 1)  # [B, T]
        return to_uint8(videos[:, :num_frames].float() * gain.to(videos.device)[:, :, None, None, None])


@DISTORTIONS.register("frame_drops", aliases=["drops"])
class FrameDrops(Distortion):
    """A fraction p = strength * ``max_fraction`` of frames dropped at random and the rest played back to back.

    T frames are kept out of the first round(T / (1 - p)) source frames (frame 0 always kept), so
    content jumps forward at every drop; reads T / (1 - max_fraction) source frames.
    """

    parameter_name = "drop_fraction"

    def __init__(self, max_fraction: float = 0.75):
        if not 0 <= max_fraction < 1:
            raise ValueError(f"frame_drops: max_fraction must be in [0, 1), got {max_fraction}")
        self.max_fraction = float(max_fraction)
        self.context = 1 / (1 - self.max_fraction)

    def parameter(self, strength):
        return strength * self.max_fraction

    def apply(self, videos, strength, num_frames, generator):
        span = min(videos.shape[1], int(round(num_frames / (1 - self.parameter(strength)))))
        rows = []
        for _ in range(videos.shape[0]):
            kept = 1 + torch.randperm(span - 1, generator=generator)[: num_frames - 1].sort().values
            rows.append(torch.cat([torch.zeros(1, dtype=torch.long), kept]))
        return take_frames(videos, torch.stack(rows))


@DISTORTIONS.register("slow_drift", aliases=["fade", "drift"])
class SlowDrift(Distortion):
    """Content fades progressively to mid grey: frame t = (1 - a_t) x_t + a_t 128,
    a_t = strength * ``max_fade`` * t / (T - 1)."""

    parameter_name = "final_fade"

    def __init__(self, max_fade: float = 1.0):
        self.max_fade = float(max_fade)

    def parameter(self, strength):
        return strength * self.max_fade

    def apply(self, videos, strength, num_frames, generator):
        a = self.parameter(strength) * torch.arange(num_frames, dtype=torch.float32) / max(1, num_frames - 1)  # [T]
        a = a.to(videos.device)[None, :, None, None, None]
        return to_uint8((1 - a) * videos[:, :num_frames].float() + a * 128.0)


@DISTORTIONS.register("content_switch", aliases=["switch", "scene_cut"])
class ContentSwitch(Distortion):
    """k = round(strength * ``max_switches``) cuts evenly spaced; after the j-th cut, video b shows video
    (b + j) mod B of the batch.

    At strength 0.25 (default max 4) that is one cut mid-video. Needs a batch of >= 2 videos (other
    content comes from the batch); cuts keep the time index, so each piece moves as its source does.
    """

    parameter_name = "cuts"

    def __init__(self, max_switches: int = 4):
        self.max_switches = int(max_switches)

    def parameter(self, strength):
        return float(round(strength * self.max_switches))

    def apply(self, videos, strength, num_frames, generator):
        b = videos.shape[0]
        if b < 2:
            raise ValueError(
                "content_switch: needs a batch of at least 2 videos (the other content comes from the batch)"
            )
        cuts = int(self.parameter(strength))
        out = videos[:, :num_frames].clone()
        bounds = [round(j * num_frames / (cuts + 1)) for j in range(cuts + 2)]
        for j in range(1, cuts + 1):
            lo, hi = bounds[j], bounds[j + 1]
            out[:, lo:hi] = videos.roll(-j, dims=0)[:, lo:hi]  # video b takes video (b + j) mod B
        return out
