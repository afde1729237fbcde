"""PIPs++ (Zheng et al., ICCV 2023, "PointOdyssey"): the point tracker behind FVMD (metrics/fvmd.py).

The network, top-down:
  * ``BasicEncoder``: a 7x7/2 stem and four stages of two residual blocks (64, 96, 128, 128 channels; strides
    1, 2, 2, 2), every stage resized to 1/8 of the input (bilinear, corners aligned), concatenated, then
    3x3 and 1x1 convolutions -> 128-d feature maps at stride 8. Instance norm without affine parameters
    everywhere (so the published checkpoint holds no norm weights for it).
  * ``DeltaBlock``: a 1-d residual network over time (kernel 3, "same" zero padding, 8 blocks whose width
    doubles every second block from 128 to 1024) that reads, per point and frame, the correlations around the
    current estimate against three templates (frame 0, the point 2 and 4 frames earlier; 4 pyramid levels,
    radius 3) plus a sin/cos embedding of the current flow, and predicts a coordinate update.
  * ``PIPsPlusPlus.track``: ``iters`` refinement steps from a zero-velocity start; frame 0 stays locked; the
    last quarter of the steps are halved (the published ``beautify=True`` that FVMD's code passes).

Keys follow the published ``pips2_weights.pth`` (``model_state_dict``) exactly, so ``load_state_dict`` is
strict: ``fnet.*``, ``delta_block.first_block_conv.conv.*``, ``delta_block.basicblock_list.<i>.conv{1,2}.conv.*``,
``delta_block.dense.*`` and ``norm.*`` (a GroupNorm the checkpoint carries that the forward pass never uses).
Arithmetic follows the published code operation for operation (the same sampling formulas, padding and
order of sums), so trajectories agree to rounding with it (benchmarks/speed/parity_fvmd.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

# The published network. A stand-in uses the same classes with smaller widths (metrics.detectors.pips2).
PUBLISHED = dict(
    stem=64, widths=(64, 96, 128, 128), latent_dim=128, base_filters=128, num_blocks=8, corr_levels=4, corr_radius=3
)
# The offline stand-in: the same classes, narrow (encoder widths / 8, update network 4 -> 8 channels in 4 blocks),
# 3 correlation levels (its 64x64 input gives 8x8 feature maps, too small for a 4th) and radius 1 (3x3 windows):
# CPU-cheap, every step of the definition (400 points, 16 steps, the histograms) kept.
STAND_IN = dict(
    stem=8, widths=(8, 12, 16, 16), latent_dim=16, base_filters=4, num_blocks=4, corr_levels=3, corr_radius=1
)
STRIDE = 8  # feature maps at 1/8 of the input


def instance_norm(x: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel normalisation over the trailing axes (eps 1e-5, no affine parameters)."""
    return F.instance_norm(x, eps=1e-5)


# ----------------------------------------------------------------------------------------- feature encoder
class ResidualBlock2d(nn.Module):
    """conv3x3-IN-ReLU twice, plus the input (through a strided 1x1 conv + IN when the block downsamples)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride)) if stride > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(instance_norm(self.conv1(x)))
        y = F.relu(instance_norm(self.conv2(y)))
        if self.downsample is not None:
            x = instance_norm(self.downsample(x))
        return F.relu(x + y)


class BasicEncoder(nn.Module):
    """``[N, 3, H, W]`` in [-1, 1] -> ``[N, latent_dim, H/8, W/8]``."""

    def __init__(self, stem: int = 64, widths=(64, 96, 128, 128), latent_dim: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3)
        stages, channels = [], stem
        for width, stride in zip(widths, (1, 2, 2, 2)):
            stages.append(nn.Sequential(ResidualBlock2d(channels, width, stride), ResidualBlock2d(width, width)))
            channels = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.conv2 = nn.Conv2d(sum(widths), 2 * latent_dim, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * latent_dim, latent_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2] // STRIDE, x.shape[-1] // STRIDE)
        x = F.relu(instance_norm(self.conv1(x)))
        scales = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            scales.append(x)
        x = torch.cat([F.interpolate(s, size, mode="bilinear", align_corners=True) for s in scales], dim=1)
        return self.conv3(F.relu(instance_norm(self.conv2(x))))


# ----------------------------------------------------------------------------------------- temporal update
class SamePadConv1d(nn.Module):
    """Conv1d (stride 1) with "same" zero padding split as the published code does (left = total // 2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size)
        self.pad = ((kernel_size - 1) // 2, kernel_size - 1 - (kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad))


class ResidualBlock1d(nn.Module):
    """Pre-activation (IN-ReLU-conv) x 2; a wider output gets the input zero-padded on both channel sides."""

    def __init__(self, in_channels: int, out_channels: int, first: bool = False, kernel_size: int = 3):
        super().__init__()
        self.first, self.in_channels, self.out_channels = first, in_channels, out_channels
        self.conv1 = SamePadConv1d(in_channels, out_channels, kernel_size)
        self.conv2 = SamePadConv1d(out_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, S]
        out = x if self.first else F.relu(instance_norm(x))
        out = self.conv2(F.relu(instance_norm(self.conv1(out))))
        extra = self.out_channels - self.in_channels
        if extra:
            x = F.pad(x, (0, 0, extra // 2, extra - extra // 2))
        return out + x


def sincos_flow_embedding(flow: torch.Tensor, dim: int, temperature: int = 10000) -> torch.Tensor:
    """``[B, S, 2]`` flows -> ``[B, S, dim + 2]``: sin/cos of x and of y at dim/4 frequencies, then x, y."""
    b, s, _ = flow.shape
    omega = torch.arange(dim // 4, device=flow.device) / (dim // 4 - 1)
    omega = 1.0 / (temperature**omega)
    x = flow[:, :, 0].flatten()[:, None] * omega[None, :]
    y = flow[:, :, 1].flatten()[:, None] * omega[None, :]
    pe = torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1).reshape(b, s, dim).to(flow.dtype)
    return torch.cat([pe, flow], dim=2)


class DeltaBlock(nn.Module):
    """Correlations ``[B, S, 3 L (2r+1)^2]`` and flows ``[B, S, 2]`` -> coordinate updates ``[B, S, 2]``."""

    def __init__(
        self,
        latent_dim: int = 128,
        base_filters: int = 128,
        num_blocks: int = 8,
        corr_levels: int = 4,
        corr_radius: int = 3,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        in_channels = 3 * corr_levels * (2 * corr_radius + 1) ** 2 + latent_dim + 2
        self.first_block_conv = SamePadConv1d(in_channels, base_filters, 3)
        blocks, width = [], base_filters
        for i in range(num_blocks):  # widths 1x, 1x, 2x, 2x, 4x, 4x, 8x, 8x: doubled at every even block after 0
            out = width * 2 if i > 0 and i % 2 == 0 else width
            blocks.append(ResidualBlock1d(width, out, first=i == 0))
            width = out
        self.basicblock_list = nn.ModuleList(blocks)
        self.dense = nn.Linear(width, 2)

    def forward(self, corrs: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
        x = torch.cat([corrs, sincos_flow_embedding(flows, self.latent_dim)], dim=2)
        x = F.relu(self.first_block_conv(rearrange(x, "b s c -> b c s")))
        for block in self.basicblock_list:
            x = block(x)
        return self.dense(rearrange(F.relu(x), "b c s -> b s c"))


# ----------------------------------------------------------------------------------------- sampling
def sample_features(fmap: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear features ``[B, N, C]`` of ``fmap`` ``[B, C, H, W]`` at pixel coordinates ``xy`` ``[B, N, 2]``.

    As the published ``bilinear_sample2d``: corner indices clamped to the map, weights from the unclamped
    corners (points outside read the border), the four products summed in the same order."""
    _, _, h, w = fmap.shape
    x, y = xy[..., 0].float(), xy[..., 1].float()
    x0, y0 = torch.floor(x), torch.floor(y)
    x1, y1 = x0 + 1, y0 + 1
    flat = rearrange(fmap, "b c h w -> b (h w) c")

    def corner(cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
        index = cy.long().clamp(0, h - 1) * w + cx.long().clamp(0, w - 1)  # [B, N]
        return torch.gather(flat, 1, repeat(index, "b n -> b n c", c=flat.shape[2]))

    w00 = ((x1 - x) * (y1 - y)).unsqueeze(2)
    w01 = ((x - x0) * (y1 - y)).unsqueeze(2)
    w10 = ((x1 - x) * (y - y0)).unsqueeze(2)
    w11 = ((x - x0) * (y - y0)).unsqueeze(2)
    return w00 * corner(x0, y0) + w01 * corner(x1, y0) + w10 * corner(x0, y1) + w11 * corner(x1, y1)


class CorrelationPyramid:
    """Feature maps ``[B, S, C, H, W]`` average-pooled into ``levels``; correlates templates with every level and
    reads a ``(2r+1)^2`` window around each point at each level."""

    def __init__(self, fmaps: torch.Tensor, levels: int, radius: int):
        b, s, c, h, w = fmaps.shape
        self.radius, self.levels = radius, [fmaps]
        for _ in range(levels - 1):
            pooled = F.avg_pool2d(fmaps.reshape(b * s, c, h, w), 2, stride=2)
            h, w = pooled.shape[-2:]
            fmaps = pooled.reshape(b, s, c, h, w)
            self.levels.append(fmaps)

    def correlate(self, templates: torch.Tensor) -> list[torch.Tensor]:
        """Templates ``[B, S, N, C]`` -> per level ``[B, S, N, H_l, W_l]`` dot products / sqrt(C)."""
        b, s, n, c = templates.shape
        scale = torch.sqrt(torch.tensor(c).float())
        return [
            (templates @ f.reshape(b, s, c, -1)).reshape(b, s, n, *f.shape[-2:]) / scale.to(f.device)
            for f in self.levels
        ]

    def windows(self, corrs: list[torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        """Correlations ``[B, S, N, L (2r+1)^2]`` around ``coords`` ``[B, S, N, 2]`` (feature-map pixels)."""
        b, s, n, _ = coords.shape
        r = self.radius
        d = torch.linspace(-r, r, 2 * r + 1)
        # offset (i, j) moves x by d[i] and y by d[j]: the published grid, kept as it was trained
        offsets = torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1).to(coords.device).view(1, 2 * r + 1, -1, 2)
        out = []
        for i, corr in enumerate(corrs):
            h, w = corr.shape[-2:]
            xy = coords.reshape(b * s * n, 1, 1, 2) / 2**i + offsets  # [BSN, 2r+1, 2r+1, 2]
            gx, gy = xy.split([1, 1], dim=-1)
            grid = torch.cat([2 * gx / (w - 1) - 1, 2 * gy / (h - 1) - 1], dim=-1)
            window = F.grid_sample(corr.reshape(b * s * n, 1, h, w), grid, align_corners=True)
            out.append(window.view(b, s, n, -1))
        return torch.cat(out, dim=-1).float()


# ----------------------------------------------------------------------------------------- the tracker
class PIPsPlusPlus(nn.Module):
    """PIPs++ with the published key layout; ``track`` follows points through a clip."""

    def __init__(
        self,
        stem: int = 64,
        widths=(64, 96, 128, 128),
        latent_dim: int = 128,
        base_filters: int = 128,
        num_blocks: int = 8,
        corr_levels: int = 4,
        corr_radius: int = 3,
    ):
        super().__init__()
        self.latent_dim, self.corr_levels, self.corr_radius = latent_dim, corr_levels, corr_radius
        self.fnet = BasicEncoder(stem, tuple(widths), latent_dim)
        self.delta_block = DeltaBlock(latent_dim, base_filters, num_blocks, corr_levels, corr_radius)
        self.norm = nn.GroupNorm(1, latent_dim)  # in the published checkpoint; unused by the forward pass

    @torch.no_grad()
    def track(self, frames: torch.Tensor, xy0: torch.Tensor, iters: int = 16) -> torch.Tensor:
        """``frames`` ``[B, S, 3, H, W]`` float in [0, 255], start points ``xy0`` ``[B, N, 2]`` (pixels, x then y)
        -> trajectories ``[B, S, N, 2]`` in pixels (frame 0 = ``xy0``)."""
        b, s = frames.shape[:2]
        fmaps = self.fnet(rearrange(2 * (frames / 255.0) - 1.0, "b s c h w -> (b s) c h w"))
        fmaps = rearrange(fmaps, "(b s) c h w -> b s c h w", b=b)  # [B, S, C, H/8, W/8]
        pyramid = CorrelationPyramid(fmaps, self.corr_levels, self.corr_radius)

        coords = repeat(xy0, "b n d -> b s n d", s=s) / float(STRIDE)
        start = coords[:, 0].clone()
        template = repeat(sample_features(fmaps[:, 0], coords[:, 0]), "b n c -> b s n c", s=s)
        corr1 = pyramid.correlate(template)  # against frame 0: fixed
        templates2 = templates4 = template
        back2 = (torch.arange(s) - 2).clip(min=0)
        back4 = (torch.arange(s) - 4).clip(min=0)
        for it in range(iters):
            if it >= 1:  # templates from 2 and 4 frames earlier, at the current estimates there
                templates2 = self._templates(fmaps, coords, back2)
                templates4 = self._templates(fmaps, coords, back4)
            corrs = [
                rearrange(pyramid.windows(c, coords), "b s n k -> (b n) s k")
                for c in (corr1, pyramid.correlate(templates2), pyramid.correlate(templates4))
            ]
            flows = rearrange(coords[:, 1:] - coords[:, :-1], "b s n d -> (b n) s d")
            flows = torch.cat([flows, flows[:, -1:]], dim=1)  # [BN, S, 2]: the last flow repeated
            delta = self.delta_block(torch.cat(corrs, dim=2), flows)
            if it > 3 * iters // 4:
                delta = delta * 0.5
            coords = coords + rearrange(delta, "(b n) s d -> b s n d", b=b)
            coords[:, 0] = start
        return coords * STRIDE

    def _templates(self, fmaps: torch.Tensor, coords: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Features ``[B, S, N, C]`` read for each frame t at frame ``frames[t]``, at that frame's estimate."""
        b, s, n, _ = coords.shape
        maps = rearrange(fmaps[:, frames], "b s c h w -> (b s) c h w")
        feats = sample_features(maps, rearrange(coords[:, frames], "b s n d -> (b s) n d"))
        return rearrange(feats, "(b s) n c -> b s n c", b=b)


def grid_points(batch: int, side: int, height: int, width: int, margin: int = 8, device=None) -> torch.Tensor:
    """``side x side`` start points ``[B, side^2, 2]`` (x, y; row-major in y), spread evenly from ``margin`` to
    ``size - margin`` pixels, as FVMD places them."""
    g = torch.linspace(0.0, side - 1, side, device=device)
    gy = repeat(g, "y -> b y x", b=batch, x=side).reshape(batch, -1)
    gx = repeat(g, "x -> b y x", b=batch, y=side).reshape(batch, -1)
    gy = margin + gy / float(side - 1) * (height - 2 * margin)
    gx = margin + gx / float(side - 1) * (width - 2 * margin)
    return torch.stack([gx, gy], dim=-1)


def load_published(model: PIPsPlusPlus, checkpoint: dict) -> PIPsPlusPlus:
    """Load ``pips2_weights.pth`` (``{'model_state_dict': ...}``, or the state dict itself) strictly."""
    state = checkpoint.get("model_state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    model.load_state_dict(state, strict=True)
    return model
