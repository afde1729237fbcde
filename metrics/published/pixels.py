"""The pixels each published implementation feeds its detector: loader round trips, resize, crop, value range.

Two steps per side, both on uint8 clips ``[B, 3, T, H, W]`` as our datasets yield them:

* a **loader** step (``LOADERS``): what the implementation's data loader does before the FVD code sees uint8
  again, at the loader's resolution R (the dataset's). ``pm05_roundtrip`` (TATS, VideoGPT real videos: ``x/255``,
  shorter side to R, centre crop, ``- 0.5``, then ``(v + 0.5) * 255`` truncated to uint8; in float32 this lowers
  the values 1..63 by one), ``digan_resize_crop`` (centre *square* crop first, then bilinear to R on 0..255 floats,
  truncated), ``cdfvd_resize_crop`` (shorter side to R with antialiasing, ``ceil``, centre crop, ``* 255`` then
  ``.byte()``).
* a **detector** step (``DETECTOR_STEPS``): the FVD code's own preprocessing into the network.
  ``official`` hands uint8 to the detector, which resizes and rescales inside (StyleGAN-V's TorchScript call with
  ``rescale=True, resize=True``; cd-fvd's VideoMAE preprocessing); the others return float ``[B, 3, T, S, S]`` for
  the bare network at its input size S (224 for the real weights; the stand-in's size otherwise):
  ``stretch_pm1`` (TATS / cd-fvd ``preprocess_i3d``: bilinear stretch to S x S, no crop, ``2x/255 - 1``),
  ``shorter_crop_pm1`` (DIGAN ``src/scripts/fvd/fvd.py``, VideoGPT after ce18ae8, common_metrics ``videogpt``:
  ``x/255``, shorter side to S (``ceil``), centre crop, ``- 0.5``, ``* 2``), ``shorter_crop_pm05`` (VideoGPT
  before ce18ae8: the same without ``* 2``, so [-0.5, 0.5]), ``cm_styleganv`` (common_metrics ``styleganv``:
  [0, 1] floats, shorter side, centre crop, ``(x - 0.5) * 2``, then the TorchScript I3D with ``rescale=False,
  resize=False``), ``tf1_stretch_pm1`` (the original TF FVD: ``tf.image.resize_bilinear`` with TF1's legacy
  coordinates, ``src = dst * in/out``, no half-pixel centres, then ``2x/255 - 1``).

For square frames already at R every loader step but ``pm05_roundtrip`` is the identity, and ``shorter_crop_*`` and
``stretch_pm1`` resize alike (their float rounding of the range map still differs); for non-square frames they
crop differently, which is why TATS and DIGAN are not one protocol.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange


def _shorter_side_size(h: int, w: int, resolution: int) -> tuple[int, int]:
    """The published ``preprocess``'s target: the shorter side to ``resolution``, the other ``ceil``-scaled."""
    scale = resolution / min(h, w)
    return (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)


def _centre_crop(v: torch.Tensor, resolution: int) -> torch.Tensor:
    h, w = v.shape[-2:]
    top, left = (h - resolution) // 2, (w - resolution) // 2
    return v[..., top : top + resolution, left : left + resolution]


def _shorter_side_crop(frames: torch.Tensor, resolution: int, antialias: bool = False) -> torch.Tensor:
    """float ``[N, C, H, W]`` -> ``[N, C, r, r]``: bilinear (half-pixel) shorter side to r, centre crop."""
    size = _shorter_side_size(*frames.shape[-2:], resolution)
    frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return _centre_crop(frames, resolution)


def _per_video(x: torch.Tensor, fn) -> torch.Tensor:
    """``fn`` on each video's frames ``[T, C, H, W]`` (the published code loops per video) -> ``[B, C, T, h, w]``."""
    return torch.stack([rearrange(fn(rearrange(v, "c t h w -> t c h w")), "t c h w -> c t h w") for v in x])


# ------------------------------------------------------------------------------------------- loader steps
def loader_none(x: torch.Tensor, resolution: int) -> torch.Tensor:
    return x


def pm05_roundtrip(x: torch.Tensor, resolution: int) -> torch.Tensor:
    def one(frames):  # [T, C, H, W] uint8
        v = _shorter_side_crop(frames.float() / 255.0, resolution) - 0.5  # the loader's [-0.5, 0.5] video
        return ((v + 0.5) * 255).to(torch.uint8)  # the FVD script's way back: truncation

    return _per_video(x, one)


def digan_resize_crop(x: torch.Tensor, resolution: int) -> torch.Tensor:
    def one(frames):
        h, w = frames.shape[-2:]
        side = min(h, w)
        top, left = ((h - w) // 2, 0) if h > w else (0, (w - h) // 2)
        square = frames.float()[..., top : top + side, left : left + side]
        return F.interpolate(square, size=resolution, mode="bilinear", align_corners=False).to(torch.uint8)

    return _per_video(x, one)


def cdfvd_resize_crop(x: torch.Tensor, resolution: int) -> torch.Tensor:
    def one(frames):
        v = _shorter_side_crop(frames.float() / 255.0, resolution, antialias=True)
        return (v * 255).to(torch.uint8)  # compute_real_stats: (batch['video'] * 255).byte()

    return _per_video(x, one)


# Loader steps that return square frames already at R unchanged (bilinear at scale 1 samples the pixels themselves;
# uint8 of an exact integer is that integer): on our datasets, which store square frames at their resolution, they
# are skipped and share features with ``none``.
IDENTITY_AT_RESOLUTION = ("digan_resize_crop", "cdfvd_resize_crop")

LOADERS = {
    "none": loader_none,
    "pm05_roundtrip": pm05_roundtrip,
    "digan_resize_crop": digan_resize_crop,
    "cdfvd_resize_crop": cdfvd_resize_crop,
}


# ----------------------------------------------------------------------------------------- detector steps
def official(x: torch.Tensor, size: int) -> torch.Tensor:
    return x


def stretch_pm1(x: torch.Tensor, size: int) -> torch.Tensor:
    b = x.shape[0]
    frames = rearrange(x, "b c t h w -> (b t) c h w").float().contiguous()
    frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
    video = rearrange(frames, "(b t) c h w -> b c t h w", b=b).contiguous()
    return 2.0 * video / 255.0 - 1


def _shorter_crop(x: torch.Tensor, size: int, times_two: bool) -> torch.Tensor:
    def one(frames):
        return _shorter_side_crop(frames.float() / 255.0, size).contiguous() - 0.5

    video = _per_video(x, one)
    return video * 2 if times_two else video


def shorter_crop_pm1(x: torch.Tensor, size: int) -> torch.Tensor:
    return _shorter_crop(x, size, times_two=True)


def shorter_crop_pm05(x: torch.Tensor, size: int) -> torch.Tensor:
    return _shorter_crop(x, size, times_two=False)


def cm_styleganv(x: torch.Tensor, size: int) -> torch.Tensor:
    """Per video ``[C, T, H, W]`` as common_metrics passes it to ``F.interpolate`` (C as the batch, T as the channels:
    the same pixels, and its rounding)."""

    def one(video):
        v = video.float() / 255.0
        return ((_shorter_side_crop(v, size) - 0.5) * 2).contiguous()

    return torch.stack([one(v) for v in x])


def tf1_resize_bilinear(frames: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 ``resize_bilinear(align_corners=False)`` (no half-pixel centres): output pixel o samples input
    ``o * in / out``; float ``[N, C, H, W]`` -> ``[N, C, size, size]``."""

    def axis(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, dtype=torch.float64) * (n_in / size)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (src - lo).float()

    h, w = frames.shape[-2:]
    (y0, y1, fy), (x0, x1, fx) = axis(h), axis(w)
    top = frames[..., y0, :] + (frames[..., y1, :] - frames[..., y0, :]) * fy[:, None]
    return top[..., x0] + (top[..., x1] - top[..., x0]) * fx


def tf1_stretch_pm1(x: torch.Tensor, size: int) -> torch.Tensor:
    b = x.shape[0]
    frames = tf1_resize_bilinear(rearrange(x, "b c t h w -> (b t) c h w").float(), size)
    return 2.0 * rearrange(frames, "(b t) c h w -> b c t h w", b=b).contiguous() / 255.0 - 1


DETECTOR_STEPS = {
    "official": official,
    "stretch_pm1": stretch_pm1,
    "shorter_crop_pm1": shorter_crop_pm1,
    "shorter_crop_pm05": shorter_crop_pm05,
    "cm_styleganv": cm_styleganv,
    "tf1_stretch_pm1": tf1_stretch_pm1,
}

DESCRIPTIONS = {
    "none": "as stored",
    "pm05_roundtrip": "loader [-0.5,0.5] and back, truncated (values 1..63 drop by 1)",
    "digan_resize_crop": "square centre crop, bilinear to R, truncated",
    "cdfvd_resize_crop": "shorter side to R (antialias), centre crop, truncated",
    "official": "detector's own resize and rescale (uint8 in)",
    "stretch_pm1": "stretch to SxS (bilinear), 2x/255-1",
    "shorter_crop_pm1": "shorter side to S, centre crop, (x/255-0.5)*2",
    "shorter_crop_pm05": "shorter side to S, centre crop, x/255-0.5 ([-0.5,0.5])",
    "cm_styleganv": "shorter side to S, centre crop, (x/255-0.5)*2, TorchScript rescale=False resize=False",
    "tf1_stretch_pm1": "stretch to SxS (TF1 legacy bilinear), 2x/255-1",
}

# The value range each detector step hands the network.
RANGES = {
    "official": "[-1,1] inside the TorchScript file (uint8 in)",
    "stretch_pm1": "[-1,1]",
    "shorter_crop_pm1": "[-1,1]",
    "shorter_crop_pm05": "[-0.5,0.5]",
    "cm_styleganv": "[-1,1]",
    "tf1_stretch_pm1": "[-1,1]",
}


def quantize_generated(x: torch.Tensor, rule: str) -> torch.Tensor:
    """How an implementation turns generated [-1, 1] frames into uint8 before its FVD code.

    ``round``: StyleGAN-V ``(x * 127.5 + 128).clamp(0, 255)``; ``truncate``: DIGAN ``((x.clamp(-1, 1) + 1) / 2 * 255)``
    cast; ``half_truncate``: TATS / VideoGPT samples live in [-0.5, 0.5]: ``((x / 2).clamp(-0.5, 0.5) + 0.5) * 255``
    cast; ``float``: common_metrics' ``styleganv`` mode takes [0, 1] floats and never makes uint8: ``(x + 1) / 2``
    is returned as float (its ``videogpt`` mode truncates ``x * 255``: ``truncate``)."""
    if rule == "round":
        return (x * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    if rule == "truncate":
        return ((x.clamp(-1, 1) + 1) / 2 * 255).to(torch.uint8)
    if rule == "half_truncate":
        return (((x / 2).clamp(-0.5, 0.5) + 0.5) * 255).to(torch.uint8)
    if rule == "float":
        return (x.clamp(-1, 1) + 1) / 2
    raise ValueError(f"unknown quantisation {rule!r}; known: round, truncate, half_truncate, float")
