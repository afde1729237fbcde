"""Differentiable ADA-style augmentation of video clips, with the adaptive strength ``p`` of StyleGAN2-ADA.

Both real and generated clips pass through the same random transforms before the discriminator, so D never
sees un-augmented data and G learns the clean distribution as long as the augmentations do not "leak"
(Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"). As in the official
StyleGAN-V (``video_consistent_aug``), each clip draws ONE set of parameters that is applied to all of its
frames, so augmentation never looks like motion.

The pipeline is ADA's ``bgc`` (``pipe`` letters pick the groups):
  * ``b`` blit:   x-flip, rotation by a multiple of 90 degrees, integer translation (uniform, up to 1/8 of the size);
  * ``g`` geom:   isotropic scaling (lognormal, std 0.2 in log2), arbitrary rotation (uniform), anisotropic
                  scaling (std 0.2 in log2), fractional translation (normal, std 1/8 of the size);
  * ``c`` colour: brightness (normal, std 0.2), contrast (lognormal, std 0.5 in log2), luma flip, hue rotation
                  about the grey axis (uniform), saturation (lognormal, std 1 in log2).
Each transform is switched on per clip with probability ``p`` (the two arbitrary rotations with
``1 - sqrt(1 - p)`` each, so that some rotation happens with probability ``p``); a switched-off transform is the
identity. The geometric transforms are composed into one 3x3 matrix per clip, the colour ones into one 4x4
matrix per clip acting on homogeneous RGB in [-1, 1] (0 = mid grey, so contrast and saturation pivot there).

Simplification w.r.t. ADA: ADA resamples geometry with a 2x wavelet-filtered upsample, bilinear warp and filtered
downsample (``upfirdn2d``, a custom CUDA op) to limit aliasing. Here one ``F.grid_sample`` (bilinear, reflection
padding) warps the clip at its own resolution: no custom ops, exact for the blit transforms (their sampling points
land on pixel centres), slightly aliased for strong zoom-out. Reflection padding mirrors about the border
(the edge pixel is repeated), ADA's ``F.pad(mode="reflect")`` mirrors about the edge pixel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange

from registry import AUGMENTATIONS
from registry.interfaces import VideoAugmentation

# StyleGAN2-ADA strengths (multipliers of the standard deviation / range; not options: they define "bgc").
XINT_MAX = 0.125  # integer translation, uniform in [-max, max] of the image size
SCALE_STD = 0.2  # log2 of the isotropic scale
ROTATE_MAX = 1.0  # rotation, uniform in [-max, max] * pi
ANISO_STD = 0.2  # log2 of the anisotropic scale
XFRAC_STD = 0.125  # fractional translation, normal, in units of the image size
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2
HUE_MAX = 1.0  # hue rotation, uniform in [-max, max] * pi
SATURATION_STD = 1.0  # log2

PIPE_GROUPS = {"b": "blit", "g": "geom", "c": "colour"}


# ----------------------------------------------------------------------------- random draws


class _Draws:
    """Per-clip random numbers on one device, and the ADA gate "keep the value with probability p, else identity"."""

    def __init__(self, batch_size: int, device: torch.device | str | None, generator: torch.Generator | None):
        self.batch_size = batch_size
        self.device = device
        self.generator = generator

    def uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(self.batch_size, *shape, device=self.device, generator=self.generator)

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn(self.batch_size, *shape, device=self.device, generator=self.generator)

    def gate(self, values: torch.Tensor, identity: float, p: float) -> torch.Tensor:
        """``values`` [B, ...] where a per-clip coin with probability ``p`` says so, ``identity`` elsewhere."""
        keep = self.uniform() < p  # [B]
        keep = keep.view(-1, *([1] * (values.ndim - 1)))
        return torch.where(keep, values, torch.full_like(values, identity))


# ----------------------------------------------------------------------------- geometry


def _eye(batch_size: int, n: int, device) -> torch.Tensor:
    return torch.eye(n, device=device).expand(batch_size, n, n).clone()


def _matrix2d(rows: list[list[torch.Tensor | float]], like: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] from a 3x3 nested list of per-clip tensors [B] or constants."""
    entries = [[torch.as_tensor(v, dtype=like.dtype, device=like.device).expand_as(like) for v in row] for row in rows]
    return torch.stack([torch.stack(row, dim=-1) for row in entries], dim=-2)


def translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _matrix2d([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _matrix2d([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def rotate2d(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    return _matrix2d([[c, -s, 0], [s, c, 0], [0, 0, 1]], angle)


def quarter_turns2d(k: torch.Tensor) -> torch.Tensor:
    """Rotation by ``k`` x 90 degrees with exact 0/1 entries, so pixel centres map onto pixel centres."""
    c, s = torch.cos(k * (math.pi / 2)).round(), torch.sin(k * (math.pi / 2)).round()
    return _matrix2d([[c, -s, 0], [s, c, 0], [0, 0, 1]], k)


def sample_geometry(
    batch_size: int,
    p: float,
    *,
    size: tuple[int, int],
    blit: bool = True,
    geom: bool = True,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-clip geometric transforms ``[B, 3, 3]`` mapping OUTPUT pixel positions to INPUT positions.

    Coordinates are in pixels, centred on the image centre (so flips, rotations and scalings pivot there).
    Every parameter distribution is symmetric, so drawing the output-to-input map directly gives the same
    distribution as drawing the forward transform and inverting it.
    """
    height, width = size
    draw = _Draws(batch_size, device, generator)
    m = _eye(batch_size, 3, device)
    if blit:
        flip = draw.gate(torch.floor(draw.uniform() * 2), 0, p)  # 1 = mirror x (half of the switched-on clips)
        m = m @ scale2d(1 - 2 * flip, torch.ones_like(flip))
        m = m @ quarter_turns2d(draw.gate(torch.floor(draw.uniform() * 4), 0, p))
        shift = draw.gate((draw.uniform(2) * 2 - 1) * XINT_MAX, 0, p)  # [B, 2] in image sizes
        m = m @ translate2d(torch.round(shift[:, 0] * width), torch.round(shift[:, 1] * height))
    if geom:
        p_rot = 1 - math.sqrt(max(0.0, 1 - min(p, 1.0)))  # two rotations: any rotation with probability p
        scale = draw.gate(torch.exp2(draw.normal() * SCALE_STD), 1, p)
        m = m @ scale2d(scale, scale)
        m = m @ rotate2d(draw.gate((draw.uniform() * 2 - 1) * math.pi * ROTATE_MAX, 0, p_rot))
        aniso = draw.gate(torch.exp2(draw.normal() * ANISO_STD), 1, p)
        m = m @ scale2d(aniso, 1 / aniso)
        m = m @ rotate2d(draw.gate((draw.uniform() * 2 - 1) * math.pi * ROTATE_MAX, 0, p_rot))
        shift = draw.gate(draw.normal(2) * XFRAC_STD, 0, p)
        m = m @ translate2d(shift[:, 0] * width, shift[:, 1] * height)
    return m


_GRID = dict(interpolation_mode=0, padding_mode=2, align_corners=False)  # bilinear, reflection (aten's enums)


class _WarpFrames(torch.autograd.Function):
    """``F.grid_sample`` (bilinear, reflection) whose input gradient is itself differentiable.

    R1 differentiates D(augment(real)) w.r.t. ``real`` with ``create_graph=True`` and then backpropagates
    through that gradient, which needs the derivative of ``grid_sampler_2d_backward``; CUDA builds of
    PyTorch do not implement it. For a fixed grid the warp is linear, y = W x, so dL/dx = Wᵀ g and the
    derivative of that with respect to g is W again: the two functions below are each other's backward.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, grid)
        return torch.ops.aten.grid_sampler_2d(x, grid, *_GRID.values())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, grid = ctx.saved_tensors
        return _WarpFramesTransposed.apply(grad, x, grid), None


class _WarpFramesTransposed(torch.autograd.Function):
    """g -> Wᵀ g (the input gradient of ``_WarpFrames``); its own backward is W."""

    @staticmethod
    def forward(ctx, grad: torch.Tensor, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(grid)
        grad_x, _ = torch.ops.aten.grid_sampler_2d_backward(grad, x, grid, *_GRID.values(), [True, False])
        return grad_x

    @staticmethod
    def backward(ctx, grad2: torch.Tensor):
        (grid,) = ctx.saved_tensors
        return _WarpFrames.apply(grad2, grid), None, None


def apply_geometry(videos: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Warp every frame of clip b by ``matrix[b]`` (output -> input, centred pixels), reflection padding."""
    b, t, c, h, w = videos.shape
    # centred pixels -> grid_sample's normalised coordinates (align_corners=False: [-1, 1] spans the pixel edges)
    to_pixels = torch.diag(torch.tensor([w / 2, h / 2, 1.0], device=matrix.device))
    to_normalised = torch.diag(torch.tensor([2 / w, 2 / h, 1.0], device=matrix.device))
    theta = (to_normalised @ matrix.float() @ to_pixels)[:, :2, :]  # [B, 2, 3]
    # all frames of a clip as channels of one image: one grid per clip, the same warp for every frame
    x = rearrange(videos, "b t c h w -> b (t c) h w")
    grid = F.affine_grid(theta, [b, t * c, h, w], align_corners=False)  # [B, H, W, 2]
    x = _WarpFrames.apply(x, grid.to(x.dtype).detach())  # = F.grid_sample(bilinear, reflection), R1-safe on CUDA
    return rearrange(x, "b (t c) h w -> b t c h w", t=t)


# ----------------------------------------------------------------------------- colour


def _embed3(m: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] linear colour map -> [B, 4, 4] homogeneous."""
    out = _eye(m.shape[0], 4, m.device)
    out[:, :3, :3] = m
    return out


def sample_colour(
    batch_size: int,
    p: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-clip colour transforms ``[B, 4, 4]`` on homogeneous RGB in [-1, 1]: brightness, contrast, luma flip,
    hue rotation and saturation, each switched on with probability ``p``, composed in that order."""
    draw = _Draws(batch_size, device, generator)
    eye3 = torch.eye(3, device=device)
    luma = torch.full((3,), 1 / math.sqrt(3), device=device)  # the grey axis
    luma_outer = torch.outer(luma, luma)  # projection onto grey
    cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], device=device) / math.sqrt(3)  # luma x (.)

    m = _eye(batch_size, 4, device)
    brightness = draw.gate(draw.normal() * BRIGHTNESS_STD, 0, p)
    shift = _eye(batch_size, 4, device)
    shift[:, :3, 3] = brightness[:, None]
    m = shift @ m
    contrast = draw.gate(torch.exp2(draw.normal() * CONTRAST_STD), 1, p)[:, None, None]
    m = _embed3(eye3 * contrast) @ m
    flip = draw.gate(torch.floor(draw.uniform() * 2), 0, p)[:, None, None]  # 1 = mirror luma about grey
    m = _embed3(eye3 - 2 * luma_outer * flip) @ m
    hue = draw.gate((draw.uniform() * 2 - 1) * math.pi * HUE_MAX, 0, p)[:, None, None]
    rotation = torch.cos(hue) * eye3 + torch.sin(hue) * cross + (1 - torch.cos(hue)) * luma_outer  # Rodrigues
    m = _embed3(rotation) @ m
    saturation = draw.gate(torch.exp2(draw.normal() * SATURATION_STD), 1, p)[:, None, None]
    m = _embed3(luma_outer + (eye3 - luma_outer) * saturation) @ m
    return m


def apply_colour(videos: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``rgb' = A rgb + o`` per clip, the same for every frame and pixel."""
    linear = matrix[:, :3, :3].to(videos.dtype)  # [B, 3, 3]
    offset = matrix[:, :3, 3].to(videos.dtype)  # [B, 3]
    return torch.einsum("bij,btjhw->btihw", linear, videos) + offset[:, None, :, None, None]


# ----------------------------------------------------------------------------- the module


@AUGMENTATIONS.register("ada", aliases=["adaptive"])
class VideoAugment(VideoAugmentation):
    """``aug(videos [B, T, C, H, W] in [-1, 1]) -> same shape``: ADA augmentation, one transform per clip.

    Adaptive strength (``adaptive=True``): the harness calls ``accumulate(D(real))`` after each D step and
    ``adjust(num_images)`` every ``interval`` D steps, where ``num_images`` counts the real CLIPS D saw since
    the previous call (the official StyleGAN-V: batch of videos x interval). ``p`` then moves by
    ``sign(r_t - target) * num_images / (ada_kimg * 1000)``, where ``r_t = E[sign(D(real))]`` measures
    how much D overfits. The default ``ada_kimg=100`` is StyleGAN-V's effective value (ADA uses 500).
    With ``adaptive=False`` ``p`` stays at the given value (``accumulate``/``adjust`` still report ``rt``).

    State (``p``, the pending sign statistics, the last ``rt``) is plain floats in ``state_dict()`` so a
    checkpoint loads with ``torch.load(weights_only=True)`` and a resumed run keeps its strength.
    """

    def __init__(
        self,
        *,
        p: float = 0.0,
        adaptive: bool = True,
        target: float = 0.6,
        interval: int = 4,
        ada_kimg: float = 100.0,
        pipe: str = "bgc",
    ):
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"augmentation option 'p' must be in [0, 1], got {p!r}")
        if not 0.0 < float(target) < 1.0:
            raise ValueError(f"augmentation option 'target' (the ADA r_t target) must be in (0, 1), got {target!r}")
        if int(interval) != interval or interval < 1:
            raise ValueError(f"augmentation option 'interval' must be a positive integer (D steps), got {interval!r}")
        if not float(ada_kimg) > 0:
            raise ValueError(
                f"augmentation option 'ada_kimg' must be > 0 (thousands of images for p to move by 1), got {ada_kimg!r}"
            )
        pipe = str(pipe).strip().lower()
        if not pipe or set(pipe) - set(PIPE_GROUPS):
            groups = ", ".join(f"'{k}' = {v}" for k, v in PIPE_GROUPS.items())
            raise ValueError(f"augmentation option 'pipe' must be letters from 'bgc' ({groups}), got {pipe!r}")
        self.p = float(p)
        self.adaptive = bool(adaptive)
        self.target = float(target)
        self.interval = int(interval)
        self.ada_kimg = float(ada_kimg)
        self.pipe = "".join(k for k in PIPE_GROUPS if k in pipe)  # canonical order
        self.rt = float("nan")  # the last measured E[sign(D(real))]
        self._signs: torch.Tensor | None = None  # [2] = (sum of signs, count) since the last adjust
        self._carried = (0.0, 0.0)  # pending statistics restored from a checkpoint

    # --------------------------------------------------------------------- augmentation
    def forward(self, videos: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if videos.ndim != 5 or videos.shape[2] != 3 or not videos.is_floating_point():
            raise ValueError(
                "augmentation expects float videos [B, T, 3, H, W] in [-1, 1], "
                f"got {tuple(videos.shape)} {videos.dtype}"
            )
        if self.p <= 0:
            return videos
        b, _, _, h, w = videos.shape
        dtype = videos.dtype
        with torch.autocast(device_type=videos.device.type, enabled=False):  # warps and colour maps in fp32
            x = videos.float()
            if "b" in self.pipe or "g" in self.pipe:
                matrix = sample_geometry(
                    b,
                    self.p,
                    size=(h, w),
                    blit="b" in self.pipe,
                    geom="g" in self.pipe,
                    device=x.device,
                    generator=generator,
                )
                x = apply_geometry(x, matrix)
            if "c" in self.pipe:
                x = apply_colour(x, sample_colour(b, self.p, device=x.device, generator=generator))
        return x.to(dtype)

    # --------------------------------------------------------------------- adaptive strength
    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add ``sign(D(real))`` of one D step to the statistics (no host sync)."""
        logits = real_logits.detach().float().flatten()
        step = torch.stack([logits.sign().sum(), torch.tensor(float(logits.numel()), device=logits.device)])
        if self._signs is None:
            self._signs = step
        else:
            self._signs = self._signs + step.to(self._signs.device)

    def adjust(self, num_images: int | float) -> float:
        """Measure ``rt`` over the D steps since the last call (all ranks) and, if adaptive, move ``p``.

        Under torch.distributed every rank must call this at the same step (the statistics are all-reduced,
        so all ranks reach the same ``p``). Returns the new ``p``.
        """
        if num_images < 0:
            raise ValueError(f"adjust(num_images): the number of real clips seen must be >= 0, got {num_images!r}")
        total, count = self._pending()
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            signs = torch.tensor([total, count], dtype=torch.float64, device=_collective_device())
            dist.all_reduce(signs)
            total, count = signs.tolist()
        self._signs, self._carried = None, (0.0, 0.0)
        if count <= 0:
            return self.p
        self.rt = total / count
        if self.adaptive:
            direction = (self.rt > self.target) - (self.rt < self.target)
            self.p = min(max(self.p + direction * float(num_images) / (self.ada_kimg * 1000), 0.0), 1.0)
        return self.p

    # --------------------------------------------------------------------- checkpointing
    def _pending(self) -> tuple[float, float]:
        """(sum of signs, count) since the last ``adjust`` on this rank, checkpointed ones included."""
        total, count = self._carried
        if self._signs is not None:
            step_total, step_count = self._signs.tolist()
            total, count = total + step_total, count + step_count
        return total, count

    def get_extra_state(self) -> dict:
        total, count = self._pending()
        return {"p": self.p, "rt": self.rt, "sign_sum": total, "sign_count": count}

    def set_extra_state(self, state: dict) -> None:
        missing = {"p", "rt", "sign_sum", "sign_count"} - set(state)
        if missing:
            raise KeyError(f"augmentation state is missing {sorted(missing)}; got keys {sorted(state)}")
        if self.adaptive:  # a fixed p is the config's choice, an adapted p is training state
            self.p = float(state["p"])
        self.rt = float(state["rt"])
        self._signs, self._carried = None, (float(state["sign_sum"]), float(state["sign_count"]))

    def extra_repr(self) -> str:
        mode = (
            f"adaptive, target={self.target}, interval={self.interval}, ada_kimg={self.ada_kimg}"
            if self.adaptive
            else "fixed"
        )
        return f"pipe={self.pipe!r}, p={self.p:.4f}, {mode}"


@AUGMENTATIONS.register("none", aliases=["identity"])
def no_augmentation() -> VideoAugment:
    """No augmentation: p fixed at 0 (``accumulate``/``adjust`` still measure ``rt`` for the logs)."""
    return VideoAugment(p=0.0, adaptive=False)


def _collective_device() -> torch.device:
    """Where a tensor must live for the current process group's collectives (CUDA for NCCL)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
