"""VideoMAE-v2 ViT-g (SSv2 fine-tuned) as a video feature detector: content-debiased FVD (Ge et al., CVPR 2024).

The network is timm's ViT ``Block`` stack plus a tubelet patch embedding (``Conv3d``, 2 frames x 14 x 14
pixels per token) and VideoMAE's fixed sinusoidal position table; features are ``fc_norm`` of the mean
over all tokens (1408-d), as cd-fvd's ``forward_features`` with ``use_mean_pooling``. Preprocessing is
cd-fvd's: uint8 -> /255 -> bilinear resize to 224x224, **no mean/std normalisation**; 16 frames.

The published checkpoint ``vit_g_hybrid_pt_1200e_ssv2_ft.pth`` stores VideoMAE's own names: attention
bias as separate ``q_bias`` / ``v_bias`` (no key bias), optional layer scales ``gamma_1`` / ``gamma_2``;
``from_published`` maps them onto timm's ``qkv.bias`` (key part zero) and ``ls1.gamma`` / ``ls2.gamma``.

Memory: ~1.0B parameters, 2048 tokens per clip. On CUDA the weights are kept in bf16 (~2 GB) and the
forward runs under bf16 autocast; clips go through in chunks sized from free GPU memory.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GIANT = dict(
    embed_dim=1408,
    depth=40,
    num_heads=16,
    mlp_ratio=48 / 11,
    patch_size=14,
    tubelet_size=2,
    img_size=224,
    num_frames=16,
    num_classes=174,
)


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed position table ``[1, n, d]``: sin on even, cos on odd channels, wavelengths 10000^(2i/d)."""
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    rates = np.power(10000.0, 2 * (np.arange(dim) // 2) / dim)[None, :]
    table = pos / rates
    table[:, 0::2], table[:, 1::2] = np.sin(table[:, 0::2]), np.cos(table[:, 1::2])
    return torch.from_numpy(table).float().unsqueeze(0)


class TubeletEmbed(nn.Module):
    """``[B, 3, T, H, W]`` -> tokens ``[B, (T/t)(H/p)(W/p), d]``: one token per tubelet of t frames x p x p pixels."""

    def __init__(self, dim: int, patch_size: int, tubelet_size: int, in_channels: int = 3):
        super().__init__()
        self.proj = nn.Conv3d(
            in_channels,
            dim,
            kernel_size=(tubelet_size, patch_size, patch_size),
            stride=(tubelet_size, patch_size, patch_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, d, T', H', W'] -> [B, N, d]


class VideoMAEv2(nn.Module):
    """VideoMAE-v2 fine-tuned ViT; ``forward`` returns the pooled, normalised features ``[B, embed_dim]``."""

    def __init__(
        self,
        *,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        patch_size: int,
        tubelet_size: int,
        img_size: int,
        num_frames: int,
        num_classes: int = 0,
        layer_scale: float | None = None,
    ):
        super().__init__()
        from timm.models.vision_transformer import Block

        norm = partial(nn.LayerNorm, eps=1e-6)
        self.img_size, self.num_frames, self.embed_dim = img_size, num_frames, embed_dim
        self.patch_embed = TubeletEmbed(embed_dim, patch_size, tubelet_size)
        num_tokens = (num_frames // tubelet_size) * (img_size // patch_size) ** 2
        self.register_buffer("pos_embed", sinusoid_table(num_tokens, embed_dim), persistent=False)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=norm, init_values=layer_scale)
            for _ in range(depth)
        )
        self.fc_norm = norm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes else nn.Identity()  # loaded, unused for features

    @classmethod
    def giant(cls, **overrides) -> "VideoMAEv2":
        return cls(**{**GIANT, **overrides})

    @staticmethod
    def giant_position_table() -> torch.Tensor:
        """The (non-persistent) position buffer of ViT-g, for a model built on the meta device."""
        g = GIANT
        return sinusoid_table(
            (g["num_frames"] // g["tubelet_size"]) * (g["img_size"] // g["patch_size"]) ** 2, g["embed_dim"]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.ndim != 5
            or x.shape[1] != 3
            or x.shape[2] != self.num_frames
            or x.shape[-2:] != (self.img_size, self.img_size)
        ):
            raise ValueError(
                f"VideoMAEv2 expects [B, 3, {self.num_frames}, {self.img_size}, {self.img_size}], got {tuple(x.shape)}"
            )
        tokens = self.patch_embed(x) + self.pos_embed.to(x.dtype)  # [B, N, d]
        for block in self.blocks:
            tokens = block(tokens)
        return self.fc_norm(tokens.mean(dim=1))

    # ------------------------------------------------------------------ published checkpoint
    def from_published(self, state: dict[str, torch.Tensor], *, assign: bool = False) -> "VideoMAEv2":
        """Load a VideoMAE-v2 state dict (``model``/``module`` wrapper allowed); every key must be used (strict)."""
        for wrapper in ("model", "module", "state_dict"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
        converted = {}
        for key, value in state.items():
            if key.endswith("attn.q_bias"):
                prefix = key[: -len("q_bias")]
                v_bias = state[prefix + "v_bias"]
                converted[prefix + "qkv.bias"] = torch.cat([value, torch.zeros_like(value), v_bias])
            elif key.endswith("attn.v_bias") or key == "pos_embed":
                continue  # folded into qkv.bias above; the position table is fixed (rebuilt, not loaded)
            elif key.endswith(".gamma_1") or key.endswith(".gamma_2"):
                converted[key[: -len("gamma_1")] + ("ls1.gamma" if key.endswith("1") else "ls2.gamma")] = value
            else:
                converted[key] = value
        self.load_state_dict(converted, strict=True, assign=assign)
        return self


def published_layout(
    *,
    embed_dim: int,
    depth: int,
    num_heads: int,
    mlp_ratio: float,
    patch_size: int,
    tubelet_size: int,
    num_classes: int,
    **_unused,
) -> dict[str, tuple[int, ...]]:
    """Key names and shapes of a VideoMAE-v2 fine-tuned checkpoint with mean pooling (for checks and tests)."""
    hidden = int(embed_dim * mlp_ratio)
    layout = {
        "patch_embed.proj.weight": (embed_dim, 3, tubelet_size, patch_size, patch_size),
        "patch_embed.proj.bias": (embed_dim,),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        layout.update(
            {
                b + "norm1.weight": (embed_dim,),
                b + "norm1.bias": (embed_dim,),
                b + "attn.q_bias": (embed_dim,),
                b + "attn.v_bias": (embed_dim,),
                b + "attn.qkv.weight": (3 * embed_dim, embed_dim),
                b + "attn.proj.weight": (embed_dim, embed_dim),
                b + "attn.proj.bias": (embed_dim,),
                b + "norm2.weight": (embed_dim,),
                b + "norm2.bias": (embed_dim,),
                b + "mlp.fc1.weight": (hidden, embed_dim),
                b + "mlp.fc1.bias": (hidden,),
                b + "mlp.fc2.weight": (embed_dim, hidden),
                b + "mlp.fc2.bias": (embed_dim,),
            }
        )
    layout.update(
        {
            "fc_norm.weight": (embed_dim,),
            "fc_norm.bias": (embed_dim,),
            "head.weight": (num_classes, embed_dim),
            "head.bias": (num_classes,),
        }
    )
    return layout


def clips_per_chunk(model: VideoMAEv2, device: torch.device, *, fraction: float = 0.5) -> int:
    """How many clips fit in ``fraction`` of the free GPU memory (bf16 activations of the widest layer, x4 headroom)."""
    if device.type != "cuda":
        return 8
    free, _ = torch.cuda.mem_get_info(device)
    tokens = model.pos_embed.shape[1]
    hidden = model.blocks[0].mlp.fc1.out_features
    per_clip = tokens * (hidden + 4 * model.embed_dim) * 2 * 4  # bytes
    return max(1, int(free * fraction // per_clip))


def preprocess(x: torch.Tensor, size: int) -> torch.Tensor:
    """cd-fvd: uint8 ``[B, 3, T, H, W]`` -> float in [0, 1], frames bilinearly resized to ``size``
    (no normalisation)."""
    b, c, t, h, w = x.shape
    frames = x.transpose(1, 2).reshape(b * t, c, h, w).float() / 255.0  # [B*T, 3, H, W]
    if (h, w) != (size, size):
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
    return frames.reshape(b, t, c, size, size).transpose(1, 2).contiguous()  # [B, 3, T, size, size]


def num_parameters(layout: dict[str, tuple[int, ...]]) -> int:
    return sum(math.prod(s) for s in layout.values())
