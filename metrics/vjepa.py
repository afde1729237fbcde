"""V-JEPA ViT-H/16 (tubelet 2) with its SSv2 attentive probe: the video feature network of JEDi (Luo et al., 2025).

Features are the probe's pooled token ``[B, 1280]`` (one learned query cross-attending over all encoder tokens),
not its 174 SSv2 logits: JEDi's ``VJEPA.get_feats`` returns ``classifier.pooler(encoder(x))``.

Encoder: timm's ViT ``Block`` stack (LayerNorm eps 1e-6, GELU MLP x4, qkv bias) on a ``Conv3d`` tubelet embedding
(2 frames x 16 x 16 pixels per token), a **learned-size, stored** position table ``pos_embed`` ``[1, N, d]`` (3-D
sin-cos with V-JEPA's ``uniform_power``, saved in the checkpoint and loaded from it), final ``norm``. Inputs of
another size than the table's (224 x 224, 16 frames) get the table resampled trilinearly with the reference's
scale factors, so any H, W >= 16 and T >= 2 run as JEDi runs them (no resize, no crop).

Probe (``AttentivePooler`` depth 1): ``q = query + xattn(q, norm1(x)); q = q + mlp(norm2(q))`` where only the
encoder tokens are normalised (eps 1e-5, PyTorch's default), ``xattn`` has separate ``q`` and fused ``kv``
projections. The SSv2 ``linear`` head is loaded (strictly) but unused.

Published files (``dl.fbaipublicfiles.com/jepa/vith16/``): ``vith16.pth.tar`` (``target_encoder`` with keys
``module.backbone.*``) and ``ssv2-probe.pth.tar`` (``classifier`` with keys ``module.pooler.*``,
``module.linear.*``). ``load_published`` strips the wrappers and loads every key strictly.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from registry.interfaces import Detector

from .videomae import TubeletEmbed

HUGE = dict(embed_dim=1280, depth=32, num_heads=16, mlp_ratio=4.0, patch_size=16, tubelet_size=2, img_size=224)
HUGE_FRAMES = 16
SSV2_CLASSES = 174
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """``[M, dim]``: sin of position x 10000^(-2i/dim) in the first half, cos in the second (MAE's layout)."""
    rates = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angles = positions.reshape(-1)[:, None] * rates[None, :]  # [M, dim/2]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_3d(dim: int, grid_size: int, grid_depth: int, *, uniform_power: bool = True) -> np.ndarray:
    """V-JEPA's initial table ``[depth * size * size, dim]``, tokens in (t, h, w) order, channels [t | h | w]."""
    t, h, w = np.meshgrid(np.arange(grid_depth), np.arange(grid_size), np.arange(grid_size), indexing="ij")
    if uniform_power:
        dt = dh = dw = int(np.ceil(dim / 6) * 2)
    else:
        dt, dh, dw = dim // 2, dim // 4, dim // 4
    table = np.concatenate(
        [sincos_1d(dt, t.astype(np.float64)), sincos_1d(dh, h.astype(np.float64)), sincos_1d(dw, w.astype(np.float64))],
        axis=1,
    )
    return table[:, :dim]


class VJEPAEncoder(nn.Module):
    """V-JEPA's video ViT: ``[B, 3, T, H, W]`` (normalised) -> tokens ``[B, (T/2)(H/p)(W/p), d]`` after ``norm``."""

    def __init__(
        self,
        *,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        patch_size: int = 16,
        tubelet_size: int = 2,
        img_size: int = 224,
        num_frames: int = HUGE_FRAMES,
    ):
        super().__init__()
        from timm.models.vision_transformer import Block

        norm = partial(nn.LayerNorm, eps=1e-6)
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.patch_size, self.tubelet_size, self.img_size, self.num_frames = (
            patch_size,
            tubelet_size,
            img_size,
            num_frames,
        )
        self.patch_embed = TubeletEmbed(embed_dim, patch_size, tubelet_size)
        grid, depth_t = img_size // patch_size, num_frames // tubelet_size
        table = torch.from_numpy(sincos_3d(embed_dim, grid, depth_t)).float().unsqueeze(0)
        self.pos_embed = nn.Parameter(table, requires_grad=False)  # stored in the checkpoint, loaded from it
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=norm) for _ in range(depth)
        )
        self.norm = norm(embed_dim)

    def position_table(self, t: int, h: int, w: int) -> torch.Tensor:
        """The table for an input of t frames and h x w pixels, resampled as V-JEPA's ``interpolate_pos_encoding``."""
        if (t, h, w) == (self.num_frames, self.img_size, self.img_size):
            return self.pos_embed
        nt, ng = self.num_frames // self.tubelet_size, self.img_size // self.patch_size
        gt, gh, gw = t // self.tubelet_size, h // self.patch_size, w // self.patch_size
        grid = self.pos_embed.reshape(1, nt, ng, ng, self.embed_dim).permute(0, 4, 1, 2, 3)  # [1, d, nt, ng, ng]
        grid = F.interpolate(grid, scale_factor=(gt / nt, gh / ng, gw / ng), mode="trilinear")
        return grid.permute(0, 2, 3, 4, 1).reshape(1, -1, self.embed_dim)  # [1, gt*gh*gw, d]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[2] < self.tubelet_size or min(x.shape[-2:]) < self.patch_size:
            raise ValueError(
                f"V-JEPA expects [B, 3, T >= {self.tubelet_size}, H >= {self.patch_size}, W >= {self.patch_size}], "
                f"got {tuple(x.shape)}"
            )
        tokens = self.patch_embed(x) + self.position_table(*x.shape[2:])  # [B, N, d]
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)


class CrossAttention(nn.Module):
    """Queries ``[B, n, d]`` attend over tokens ``[B, N, d]``: separate ``q``, fused ``kv`` projections, ``proj``."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        from einops import rearrange

        q = rearrange(self.q(queries), "b n (h e) -> b h n e", h=self.num_heads)
        k, v = rearrange(self.kv(tokens), "b n (two h e) -> two b h n e", two=2, h=self.num_heads)
        out = F.scaled_dot_product_attention(q, k, v)  # [B, heads, n, e]
        return self.proj(rearrange(out, "b h n e -> b n (h e)"))


class CrossAttentionBlock(nn.Module):
    """The probe's one block: the encoder tokens are normalised, the query is not (as V-JEPA's)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        from timm.layers import Mlp

        self.norm1 = nn.LayerNorm(dim)
        self.xattn = CrossAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        queries = queries + self.xattn(queries, self.norm1(tokens))
        return queries + self.mlp(self.norm2(queries))


class AttentivePooler(nn.Module):
    """One learned query over all tokens: ``[B, N, d]`` -> ``[B, 1, d]``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.query_tokens = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1, dim), std=0.02))  # V-JEPA's init
        self.cross_attention_block = CrossAttentionBlock(dim, num_heads, mlp_ratio)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.cross_attention_block(self.query_tokens.expand(len(tokens), -1, -1), tokens)


class AttentiveProbe(nn.Module):
    """The SSv2 probe: ``pooler`` (features) and ``linear`` (174 classes; kept so the checkpoint loads strictly)."""

    def __init__(self, dim: int, num_heads: int, num_classes: int = SSV2_CLASSES, mlp_ratio: float = 4.0):
        super().__init__()
        self.pooler = AttentivePooler(dim, num_heads, mlp_ratio)
        self.linear = nn.Linear(dim, num_classes)


class VJEPAFeatures(nn.Module):
    """Encoder + probe pooler: normalised ``[B, 3, T, H, W]`` -> ``[B, embed_dim]``."""

    def __init__(self, encoder: VJEPAEncoder, probe: AttentiveProbe):
        super().__init__()
        self.encoder, self.probe = encoder, probe
        self.embed_dim = encoder.embed_dim

    @classmethod
    def build(cls, *, num_classes: int = SSV2_CLASSES, **encoder_kwargs) -> "VJEPAFeatures":
        encoder = VJEPAEncoder(**encoder_kwargs)
        return cls(encoder, AttentiveProbe(encoder.embed_dim, encoder.num_heads, num_classes))

    @classmethod
    def huge(cls, **overrides) -> "VJEPAFeatures":
        return cls.build(**{**HUGE, **overrides})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe.pooler(self.encoder(x)).squeeze(1)

    # ------------------------------------------------------------------ published checkpoints
    def load_published(
        self, encoder_ckpt: dict, probe_ckpt: dict, *, assign: bool = False, key: str = "target_encoder"
    ) -> "VJEPAFeatures":
        """Load ``vith16.pth.tar`` (its ``key`` entry, ``module.``/``backbone.`` prefixes) and ``ssv2-probe.pth.tar``
        (``classifier``, ``module.`` prefix); every key of both must be used, with its shape (strict)."""
        if key not in encoder_ckpt:
            raise KeyError(f"encoder checkpoint has no '{key}' entry (keys: {sorted(encoder_ckpt)[:8]})")
        if "classifier" not in probe_ckpt:
            raise KeyError(f"probe checkpoint has no 'classifier' entry (keys: {sorted(probe_ckpt)[:8]})")
        encoder_state = {_strip(k, "module.", "backbone."): v for k, v in encoder_ckpt[key].items()}
        probe_state = {_strip(k, "module."): v for k, v in probe_ckpt["classifier"].items()}
        for module, state, what in ((self.encoder, encoder_state, key), (self.probe, probe_state, "classifier")):
            check_layout(module, state, what)
            module.load_state_dict(state, strict=True, assign=assign)
        return self


def check_layout(module: nn.Module, state: dict, what: str) -> None:
    """One line naming the first missing, unexpected and wrongly shaped keys (PyTorch lists all, over many lines)."""
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {want[k]}" for k in want if k in state and tuple(state[k].shape) != want[k]
    ]
    problems = [
        f"{len(found)} {label} (first: {found[0]})"
        for found, label in ((missing, "missing keys"), (unexpected, "unexpected keys"), (shapes, "shape mismatches"))
        if found
    ]
    if problems:
        raise ValueError(f"'{what}' does not have this network's layout: " + "; ".join(problems))


def _strip(key: str, *prefixes: str) -> str:
    for prefix in prefixes:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def normalise(x: torch.Tensor) -> torch.Tensor:
    """JEDi's input: uint8 ``[B, 3, T, H, W]`` -> /255 -> ImageNet mean/std per channel (float32, no resize)."""
    v = x.float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1, 1)
    return (v - mean) / std


def clips_per_chunk(model: VJEPAFeatures, device: torch.device, tokens: int, *, fraction: float = 0.5) -> int:
    """Clips of ``tokens`` tokens that fit in ``fraction`` of free GPU memory (fp32 widest layer, x4 headroom)."""
    if device.type != "cuda":
        return 4
    free, _ = torch.cuda.mem_get_info(device)
    per_clip = tokens * 8 * model.embed_dim * 4 * 4  # bytes: MLP hidden (4d) + qkv/residual (4d), fp32, x4
    return max(1, int(free * fraction // per_clip))


class VJEPADetector(Detector):
    """JEDi's features of uint8 clips ``[B, 3, T, H, W]``: ``normalise``, then encoder + probe pooler in float32 (as
    the reference runs it), in chunks. ``input_resolution`` None: frames go in at their own size (the published
    detector, as JEDi); an int (stand-ins): frames are first resized to it (bilinear) to keep CPU runs cheap."""

    def __init__(
        self,
        model: VJEPAFeatures,
        *,
        name: str,
        sha256: str | None,
        resolution: int | None = None,
        stand_in: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name, self.sha256, self.stand_in, self.seed = name, sha256, stand_in, seed
        self.video, self.feature_dim, self.input_resolution = True, model.embed_dim, resolution

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.contiguous()
        if self.input_resolution is not None and x.shape[-2:] != (self.input_resolution,) * 2:
            b, t = x.shape[0], x.shape[2]
            frames = x.transpose(1, 2).reshape(b * t, 3, *x.shape[-2:]).float()  # [B*T, 3, H, W]
            frames = F.interpolate(frames, size=(self.input_resolution,) * 2, mode="bilinear", align_corners=False)
            x = frames.round().clamp(0, 255).to(torch.uint8).reshape(b, t, 3, *frames.shape[-2:]).transpose(1, 2)
        enc = self.model.encoder
        tokens = (x.shape[2] // enc.tubelet_size) * (x.shape[3] // enc.patch_size) * (x.shape[4] // enc.patch_size)
        chunk = clips_per_chunk(self.model, x.device, tokens)
        return torch.cat([self.model(normalise(part)).float() for part in x.split(chunk)])
