"""Small, real implementations of the metric inputs, for tests and smoke runs (no files, no downloads).

* ``ArrayVideoDataset``: in-memory uint8 videos with the ``VideoDataset`` methods metrics use.
* ``TinyVideoGenerator``: a deterministic, continuous-time ``VideoGenerator`` (moving colour blobs).
* ``save_tiny_torchscript_detector``: a random TorchScript network with the official detector call
  interface (video: ``x, rescale, resize, return_features``; image: ``x, return_features``), so the real
  TorchScript loading path is exercised.
* ``random_i3d_state_dict`` / ``i3d_parity_with_cdfvd``: random weights in the ``i3d_pretrained_400.pt`` layout,
  and the measurement of ``i3d_pytorch`` against cd-fvd's own I3D code on them; ``videomae_parity_with_cdfvd``: the
  same for ``videomae_v2`` at reduced depth (tests and docs/metrics.md use them; cd-fvd is in the dev extra).
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


def random_i3d_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the ``i3d_pretrained_400.pt`` layout (the keys and shapes TATS's converter writes: no
    ``num_batches_tracked``; BatchNorm scale 1 as converted from TF), BatchNorm statistics away from (0, 1) so the
    BatchNorm epsilon shows."""
    from .i3d import InceptionI3d

    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in InceptionI3d(400).state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        if key.endswith("running_var"):
            value = torch.rand(value.shape, generator=g) + 0.5
        elif key.endswith(("running_mean", "bn.bias")):
            value = torch.randn(value.shape, generator=g) * 0.1
        elif key.endswith("bn.weight"):
            value = torch.ones(value.shape)
        elif key.endswith("conv3d.weight"):
            value = torch.randn(value.shape, generator=g) * math.sqrt(2.0 / value[0].numel())
        else:
            value = torch.randn(value.shape, generator=g) * 0.1
        state[key] = value
    return state


def i3d_parity_with_cdfvd(workdir, *, bn_eps: float | None = None, frames: int = 10, seed: int = 0) -> dict:
    """cd-fvd's own ``model='i3d'`` path (``load_i3d_model`` + ``preprocess_i3d`` + its ``compute_fvd``; ``pip install
    cd-fvd``, in the dev extra) against ``i3d_pytorch`` (our ``InceptionI3d``, our official-mode Fréchet distance) on
    the same random ``i3d_pretrained_400.pt``-layout file and the same uint8 videos: 2 real 64x64 and 2 fake 48x80
    clips of ``frames`` frames (both stretch them to 224). ``bn_eps`` overrides our BatchNorm epsilon (1e-3: the code
    before issue 24). Returns the logits' max |difference| relative to their max |value| and both FVDs."""
    from pathlib import Path

    import numpy as np
    from cdfvd import fvd as cdfvd_fvd

    from .detectors import load_detector
    from .stats import FeatureStats, frechet_distance_from_stats

    path = Path(workdir) / "i3d_random_400.pt"
    torch.save(random_i3d_state_dict(seed), path)
    rng = np.random.default_rng(seed)
    real = rng.integers(0, 256, (2, frames, 64, 64, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (2, frames, 48, 80, 3), dtype=np.uint8)

    official = cdfvd_fvd.cdfvd(
        model="i3d", ckpt_path=str(path), device="cpu", n_real="full", n_fake="full", compute_feats=True
    )
    official_fvd = float(official.compute_fvd(real, fake))
    theirs = torch.from_numpy(np.concatenate([official.real_stats.get_all(), official.fake_stats.get_all()])).double()

    det = load_detector("i3d_pytorch", path=path)
    if bn_eps is not None:
        det = load_detector("i3d_pytorch", path=path, seed=1)  # a second instance: the shared one stays untouched
        det.model.bn_eps = bn_eps
        for module in det.model.modules():
            if isinstance(module, nn.BatchNorm3d):
                module.eps = bn_eps

    def logits(videos) -> torch.Tensor:
        return det(torch.from_numpy(videos).permute(0, 4, 1, 2, 3).contiguous()).double()

    ours_real, ours_fake = logits(real), logits(fake)
    ours = torch.cat([ours_real, ours_fake])
    real_stats, fake_stats = FeatureStats(400), FeatureStats(400)
    real_stats.update(ours_real)
    fake_stats.update(ours_fake)
    ours_fvd = frechet_distance_from_stats(fake_stats, real_stats, unbiased=False, official=True)
    return {
        "bn_eps": det.model.Conv3d_1a_7x7.bn.eps,
        "identity": det.identity,
        "logits_rel": float((ours - theirs).abs().max() / theirs.abs().max()),
        "fvd_ours": float(ours_fvd),
        "fvd_cdfvd": official_fvd,
        "fvd_rel": abs(float(ours_fvd) - official_fvd) / abs(official_fvd),
    }


def videomae_parity_with_cdfvd(
    *, depth: int = 1, clips: int = 2, bf16: bool = False, seed: int = 0, distance: bool = True
) -> dict:
    """cd-fvd's own ``model='videomae'`` code (its ``VisionTransformer`` with ViT-g's widths, as its
    ``load_videomae_model`` builds it, but ``depth`` blocks; ``preprocess_videomae``; ``forward_features``; its
    ``FeatureStats`` and ``compute_fvd_from_stats``) against ``videomae_v2`` (our ``VideoMAEv2.giant(depth=...)``
    loaded with ``from_published`` from cd-fvd's state dict, our preprocessing, our official-mode Fréchet distance) on
    random weights and ``clips`` real and ``clips`` fake uint8 clips of 16x64². ``bf16``: ours under bfloat16 autocast
    (what the detector does on CUDA; here on the CPU). Returns the features' max |difference| relative to their max
    |value| and, with ``distance`` (two 1408² scipy ``sqrtm``: about a minute on a small CPU), both Fréchet
    distances."""
    from functools import partial

    import numpy as np
    from cdfvd import fvd as cdfvd_fvd
    from cdfvd.third_party.VideoMAEv2 import utils, videomaev2_finetune
    from cdfvd.utils.metric_utils import FeatureStats as TheirStats

    from .detectors import VideoMAEDetector
    from .stats import FeatureStats, frechet_distance_from_stats
    from .videomae import GIANT, VideoMAEv2, preprocess

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        theirs = videomaev2_finetune.VisionTransformer(
            img_size=224,
            patch_size=GIANT["patch_size"],
            embed_dim=GIANT["embed_dim"],
            depth=depth,
            num_heads=GIANT["num_heads"],
            mlp_ratio=GIANT["mlp_ratio"],
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_classes=GIANT["num_classes"],
            all_frames=16,
            tubelet_size=2,
            drop_path_rate=0.3,
            use_mean_pooling=True,
        ).eval()
        with torch.no_grad():  # nothing left at its initial value (q/v biases and LayerNorms are 0/1 there)
            for p in theirs.parameters():
                p.add_(torch.randn_like(p) * 0.02)
    ours_model = VideoMAEv2.giant(depth=depth).from_published(theirs.state_dict()).eval()
    det = VideoMAEDetector(ours_model, name="videomae_v2", sha256=None)

    rng = np.random.default_rng(seed)
    real = rng.integers(0, 256, (clips, 16, 64, 64, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (clips, 16, 64, 64, 3), dtype=np.uint8)

    def official(videos):
        stats = TheirStats(capture_mean_cov=True, capture_all=True)
        return cdfvd_fvd.get_videomae_features(stats, theirs, videos, device="cpu")

    real_stats, fake_stats = official(real), official(fake)
    official_features = torch.from_numpy(np.concatenate([real_stats.get_all(), fake_stats.get_all()])).double()
    assert utils.preprocess_videomae is cdfvd_fvd.preprocess_videomae  # the preprocessing get_videomae_features ran

    def ours(videos) -> torch.Tensor:
        x = torch.from_numpy(videos).permute(0, 4, 1, 2, 3).contiguous()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return det.model(preprocess(x, 224)).double()

    ours_real, ours_fake = ours(real), ours(fake)
    features = torch.cat([ours_real, ours_fake])
    out = {
        "depth": depth,
        "bf16": bf16,
        "features_rel": float((features - official_features).abs().max() / official_features.abs().max()),
    }
    if distance:
        official_fd = float(cdfvd_fvd.cdfvd.compute_fvd_from_stats(None, fake_stats, real_stats))
        a, b = FeatureStats(features.shape[1]), FeatureStats(features.shape[1])
        a.update(ours_real)
        b.update(ours_fake)
        ours_fd = float(frechet_distance_from_stats(b, a, unbiased=False, official=True))
        out.update(fd_ours=ours_fd, fd_cdfvd=official_fd, fd_rel=abs(ours_fd - official_fd) / abs(official_fd))
    return out
