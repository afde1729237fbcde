"""Small, real implementations of the metric inputs, for tests and smoke runs (no files, no downloads).

* ``ArrayVideoDataset``: in-memory uint8 videos with the ``VideoDataset`` methods metrics use.
* ``TinyVideoGenerator``: a deterministic, continuous-time ``VideoGenerator`` (moving colour blobs).
* ``save_tiny_torchscript_detector``: a random TorchScript network with the official detector call
  interface (video: ``x, rescale, resize, return_features``; image: ``x, return_features``), so the real
  TorchScript loading path is exercised.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from registry.interfaces import VideoGenerator


class ArrayVideoDataset:
    """Videos held as uint8 ``[T, H, W, C]`` tensors; names ``video_000000``... in order."""

    def __init__(self, videos: Sequence[torch.Tensor]):
        self.videos = [torch.as_tensor(v) for v in videos]
        if not self.videos:
            raise ValueError("ArrayVideoDataset needs at least one video")
        for v in self.videos:
            if v.dtype != torch.uint8 or v.ndim != 4 or v.shape[-1] != 3 or v.shape[1] != v.shape[2]:
                raise ValueError(f"videos must be uint8 [T, H, H, 3], got {v.dtype} {tuple(v.shape)}")
        self.resolution = int(self.videos[0].shape[1])
        self.path = "<memory>"

    def __len__(self) -> int:
        return len(self.videos)

    def video_name(self, i: int) -> str:
        return f"video_{i:06d}"

    def video_length(self, i: int) -> int:
        return int(self.videos[i].shape[0])

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        return self.videos[i][list(frame_indices)]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for v in self.videos:
            h.update(str(tuple(v.shape)).encode())
            h.update(v.contiguous().numpy().tobytes())
        return h.hexdigest()


def moving_blobs(
    num_videos: int, num_frames: int, resolution: int = 32, *, seed: int = 0, speed: float = 1.0, start: int = 0
) -> list[torch.Tensor]:
    """Real-like videos: a few coloured Gaussian blobs drifting smoothly over a coloured background."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, resolution), torch.linspace(0, 1, resolution), indexing="ij")
    out = []
    for _ in range(num_videos):
        k = 3
        pos = torch.rand(k, 2, generator=gen)
        vel = (torch.rand(k, 2, generator=gen) - 0.5) * 0.04 * speed
        color = torch.rand(k, 3, generator=gen)
        bg = torch.rand(3, generator=gen) * 0.5
        frames = []
        for t in range(start, start + num_frames):
            p = pos + vel * t
            p = 1 - (p % 2 - 1).abs()  # bounce inside [0, 1]
            img = bg.view(3, 1, 1).expand(3, resolution, resolution).clone()
            for j in range(k):
                w = torch.exp(-((ys - p[j, 0]) ** 2 + (xs - p[j, 1]) ** 2) / 0.02)
                img = img * (1 - w) + color[j].view(3, 1, 1) * w
            frames.append((img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0))
        out.append(torch.stack(frames))
    return out


class TinyVideoGenerator(VideoGenerator):
    """z -> blob colours/positions/velocities; frame at real time t rendered analytically; ``motion_noise``
    is unused."""

    continuous_time = True

    def __init__(self, resolution: int = 32, z_dim: int = 16, num_blobs: int = 3, speed: float = 1.0):
        super().__init__()
        self.resolution, self.z_dim, self.num_blobs, self.speed = resolution, z_dim, num_blobs, speed
        self.to_params = nn.Linear(z_dim, num_blobs * 7 + 3)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            nn.init.normal_(self.to_params.weight, std=1.0 / math.sqrt(z_dim))

    def forward(self, z: torch.Tensor, t: torch.Tensor, motion_noise=None, truncation_psi: float = 1.0) -> torch.Tensor:
        b, k, r = z.shape[0], self.num_blobs, self.resolution
        params = torch.sigmoid(self.to_params(z * truncation_psi))  # [B, 7k + 3]
        pos, vel, color, bg = params[:, : 2 * k], params[:, 2 * k : 4 * k], params[:, 4 * k : 7 * k], params[:, 7 * k :]
        pos, vel, color = pos.view(b, 1, k, 2), (vel.view(b, 1, k, 2) - 0.5) * 0.04 * self.speed, color.view(b, 1, k, 3)
        p = pos + vel * t.view(b, -1, 1, 1)  # [B, T, k, 2]
        p = 1 - (p % 2 - 1).abs()
        grid = torch.linspace(0, 1, r, device=z.device)
        dy = (grid.view(1, 1, 1, r, 1) - p[..., 0, None, None]) ** 2  # [B, T, k, r, 1]
        dx = (grid.view(1, 1, 1, 1, r) - p[..., 1, None, None]) ** 2  # [B, T, k, 1, r]
        w = torch.exp(-(dy + dx) / 0.02)  # [B, T, k, r, r]
        img = bg.view(b, 1, 3, 1, 1) * 0.5 * torch.ones(1, t.shape[1], 3, r, r, device=z.device)
        for j in range(k):
            wj = w[:, :, j, None]
            img = img * (1 - wj) + color[:, :, j, :, None, None] * wj
        return img * 2 - 1  # [B, T, 3, H, W]


class _TinyVideoDetector(nn.Module):
    def __init__(self, dim: int = 32):
        super().__init__()
        self.conv = nn.Conv3d(3, dim, kernel_size=(3, 4, 4), stride=(1, 4, 4))
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False
    ) -> torch.Tensor:
        x = x.float()
        if rescale:
            x = x / 127.5 - 1.0
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 32, 32), mode="trilinear", align_corners=False)
        h = torch.relu(self.conv(x)).mean(dim=(2, 3, 4))
        out = self.proj(h)
        if return_features:
            return out
        return torch.softmax(out, dim=1)


class _TinyImageDetector(nn.Module):
    def __init__(self, dim: int = 24):
        super().__init__()
        self.conv = nn.Conv2d(3, dim, kernel_size=4, stride=4)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = F.interpolate(x.float() / 127.5 - 1.0, size=(32, 32), mode="bilinear", align_corners=False)
        h = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return h if return_features else torch.softmax(h, dim=1)


def save_tiny_torchscript_detector(path, *, video: bool = True, seed: int = 0) -> str:
    """Script a tiny random detector with the official call interface and save it at ``path``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = _TinyVideoDetector() if video else _TinyImageDetector()
    scripted = torch.jit.script(module.eval())
    scripted.save(str(path))
    return str(path)
