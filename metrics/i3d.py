"""Inception-I3D (Carreira & Zisserman, 2017) in plain PyTorch, with TensorFlow "SAME" padding.

Parameter names follow the common PyTorch port, so the VideoGPT/TATS state dict
``i3d_pretrained_400.pt`` (TF-Hub ``deepmind/i3d-kinetics-400/1`` weights, converted) loads as is.
FVD features are the 400 pre-softmax logits averaged over time.

BatchNorm epsilon: ``bn_eps=1e-5`` (the default) is what every PyTorch I3D that produced published numbers uses
(piergiaj's port as run by TATS, DIGAN, VideoGPT and cd-fvd's ``cdfvd.third_party.i3d``) with
``i3d_pretrained_400.pt``; ``1e-3`` is the TF convention, kept only for the seeded stand-in of the TorchScript ``i3d``
(whose numbers must not move). The difference is 2.5e-3 relative in the logits (docs/metrics.md).

Input of ``forward``: float ``[B, 3, T, H, W]`` already in [-1, 1] at 224x224 for the pretrained
weights; other sizes run too (the final average pool shrinks to fit), which is what the CPU stand-in
uses at low resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding along one axis: (before, after), the extra pixel going after."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    t, h, w = x.shape[-3:]
    pt, ph, pw = (_same_pad(s, k, st) for s, k, st in zip((t, h, w), kernel, stride))
    return F.pad(x, (*pw, *ph, *pt))  # zeros: inputs to the pools are post-ReLU, so zero == -inf for max


class Unit3D(nn.Module):
    """Conv3d (no bias unless ``use_bias``) + BatchNorm (eps ``bn_eps``; the converted TF weights have scale 1)
    + ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        use_batch_norm: bool = True,
        use_bias: bool = False,
        activation: bool = True,
        bn_eps: float = 1e-5,
    ):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, stride=self.stride, padding=0, bias=use_bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=0.01) if use_batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four branches (1x1; 1x1->3x3; 1x1->3x3; maxpool->1x1), concatenated on channels."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int], bn_eps: float = 1e-5):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3b = widths
        self.b0 = Unit3D(in_channels, b0, bn_eps=bn_eps)
        self.b1a = Unit3D(in_channels, b1a, bn_eps=bn_eps)
        self.b1b = Unit3D(b1a, b1b, (3, 3, 3), bn_eps=bn_eps)
        self.b2a = Unit3D(in_channels, b2a, bn_eps=bn_eps)
        self.b2b = Unit3D(b2a, b2b, (3, 3, 3), bn_eps=bn_eps)
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, b3b, bn_eps=bn_eps)
        self.out_channels = b0 + b1b + b2b + b3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


# (name, in_channels, branch widths) of the inception blocks, in order.
_BLOCKS = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class InceptionI3d(nn.Module):
    """I3D up to the Kinetics logits. ``forward`` -> 400 logits averaged over time; ``features`` -> 1024-d pool."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3, bn_eps: float = 1e-5):
        super().__init__()
        self.bn_eps = float(bn_eps)
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2), bn_eps=bn_eps)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, bn_eps=bn_eps)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), bn_eps=bn_eps)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionBlock(*_BLOCKS["Mixed_3b"], bn_eps=bn_eps)
        self.Mixed_3c = InceptionBlock(*_BLOCKS["Mixed_3c"], bn_eps=bn_eps)
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionBlock(*_BLOCKS["Mixed_4b"], bn_eps=bn_eps)
        self.Mixed_4c = InceptionBlock(*_BLOCKS["Mixed_4c"], bn_eps=bn_eps)
        self.Mixed_4d = InceptionBlock(*_BLOCKS["Mixed_4d"], bn_eps=bn_eps)
        self.Mixed_4e = InceptionBlock(*_BLOCKS["Mixed_4e"], bn_eps=bn_eps)
        self.Mixed_4f = InceptionBlock(*_BLOCKS["Mixed_4f"], bn_eps=bn_eps)
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionBlock(*_BLOCKS["Mixed_5b"], bn_eps=bn_eps)
        self.Mixed_5c = InceptionBlock(*_BLOCKS["Mixed_5c"], bn_eps=bn_eps)
        self.logits = Unit3D(1024, num_classes, use_batch_norm=False, use_bias=True, activation=False)
        self.num_classes = num_classes

    _TRUNK = (
        "Conv3d_1a_7x7",
        "MaxPool3d_2a_3x3",
        "Conv3d_2b_1x1",
        "Conv3d_2c_3x3",
        "MaxPool3d_3a_3x3",
        "Mixed_3b",
        "Mixed_3c",
        "MaxPool3d_4a_3x3",
        "Mixed_4b",
        "Mixed_4c",
        "Mixed_4d",
        "Mixed_4e",
        "Mixed_4f",
        "MaxPool3d_5a_2x2",
        "Mixed_5b",
        "Mixed_5c",
    )

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.Conv3d_1a_7x7.conv3d.in_channels:
            raise ValueError(f"InceptionI3d expects [B, 3, T, H, W], got {tuple(x.shape)}")
        for name in self._TRUNK:
            x = getattr(self, name)(x)
        return x  # [B, 1024, T/8, H/32, W/32]

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        # The TF graph: average pool [2, 7, 7], stride 1, VALID (exactly 7x7 at 224 input),
        # shrunk to fit smaller inputs.
        kernel = (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4]))
        return F.avg_pool3d(x, kernel, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]``: per-window logits, averaged over time (and space when input > 224)."""
        logits = self.logits(self._pool(self.trunk(x)))
        return logits.mean(dim=(2, 3, 4))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """1024-d average-pooled features (not what FVD uses; handy for other metrics)."""
        return self._pool(self.trunk(x)).mean(dim=(2, 3, 4))


def init_stand_in_(model: nn.Module, seed: int) -> nn.Module:
    """Deterministic variance-preserving random init (He normal), so a random network's features neither
    vanish nor explode."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv3d, nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                if module.bias is not None:
                    module.bias.zero_()
    return model
