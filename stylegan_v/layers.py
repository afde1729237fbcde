"""StyleGAN2 building blocks (names as in StyleGAN2-ADA), shared by StyleGAN-V and the baselines.

All layers use the equalized learning rate: parameters are stored as ``N(0, 1) / lr_mult`` and
scaled at run time by ``lr_mult / sqrt(fan_in)``, so Adam sees every layer at the same scale and
``lr_mult`` slows a layer down (0.01 for mapping networks).

Generator side: ``MappingNetwork`` (z -> w, tracks ``w_avg`` for truncation), ``SynthesisLayer``
(modulated 3x3 conv with demodulation, optional noise input), ``ToRGBLayer``, ``SynthesisBlock`` and
``SynthesisNetwork`` ('skip' architecture: the RGB outputs of every resolution are upsampled and summed).
Discriminator side: ``Conv2dLayer``, ``DiscriminatorBlock`` ('resnet'), ``MinibatchStdLayer``,
``DiscriminatorEpilogue``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .ops import bias_act, filter2d, make_filter, normalize_2nd_moment, upsample2d

__all__ = [
    "Conv2dLayer",
    "DiscriminatorBlock",
    "DiscriminatorEpilogue",
    "EqualizedConv1d",
    "FullyConnectedLayer",
    "MappingNetwork",
    "MinibatchStdLayer",
    "NOISE_MODES",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGBLayer",
    "channels_for",
    "check_shape",
    "log2_resolution",
    "modulated_conv2d",
]


def check_shape(x: torch.Tensor, shape: list[int | None], what: str) -> None:
    """Refuse ``x`` unless its shape matches ``shape`` (None: any size), naming ``what`` and both shapes."""
    if x.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{what}: expected a tensor of shape {want}, got {list(x.shape)}")


def channels_for(resolution: int, *, channel_base: int, channel_max: int) -> int:
    """StyleGAN2's width rule: ``min(channel_base // resolution, channel_max)`` channels at a resolution."""
    return max(1, min(channel_base // resolution, channel_max))


def log2_resolution(resolution: int, minimum: int = 4) -> int:
    """log2 of a power-of-two ``resolution`` >= ``minimum``; anything else is refused."""
    log2 = int(round(math.log2(resolution))) if resolution > 0 else -1
    if resolution < minimum or 2**log2 != resolution:
        raise ValueError(f"resolution must be a power of two >= {minimum}, got {resolution}")
    return log2


# ------------------------------------------------------------------------------------------ basic layers


class FullyConnectedLayer(nn.Module):
    """Equalized-LR linear layer followed by ``bias_act``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        activation: str = "linear",
        lr_mult: float = 1.0,
        bias_init: float = 0.0,
    ):
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mult)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init) / lr_mult)) if bias else None
        self.weight_gain = lr_mult / math.sqrt(in_features)
        self.bias_gain = lr_mult

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        if self.activation == "linear":
            return F.linear(x, w.to(x.dtype), b.to(x.dtype) if b is not None else None)
        return bias_act(F.linear(x, w.to(x.dtype)), b, activation=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class EqualizedConv1d(nn.Module):
    """Equalized-LR 1-D convolution without padding, then leaky ReLU (0.2) *without* the √2 gain.

    StyleGAN-V's motion network uses this form (its own ``EqLRConv1d``); no padding keeps every
    motion code a function of a fixed window of noise, so the motion process is stationary.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, lr_mult: float = 1.0, activation: str = "lrelu"
    ):
        super().__init__()
        if activation not in ("lrelu", "linear"):
            raise ValueError(f"EqualizedConv1d activation must be 'lrelu' or 'linear', got '{activation}'")
        self.kernel_size, self.activation = kernel_size, activation
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size) / lr_mult)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = lr_mult / math.sqrt(in_channels * kernel_size)
        self.bias_gain = lr_mult

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C_in, L] -> [N, C_out, L - k + 1]
        x = F.conv1d(x, (self.weight * self.weight_gain).to(x.dtype), (self.bias * self.bias_gain).to(x.dtype))
        return F.leaky_relu(x, 0.2) if self.activation == "lrelu" else x


class Conv2dLayer(nn.Module):
    """Equalized-LR 2-D convolution with optional FIR ×2 up/down-sampling, bias, activation and clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: str = "linear",
        up: bool = False,
        down: bool = False,
        resample_filter=(1, 3, 3, 1),
        conv_clamp: float | None = None,
        lr_mult: float = 1.0,
    ):
        super().__init__()
        if up and down:
            raise ValueError("Conv2dLayer: up and down cannot both be set")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", make_filter(resample_filter), persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mult)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_mult / math.sqrt(in_channels * kernel_size**2)
        self.bias_gain = lr_mult

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        check_shape(x, [None, self.in_channels, None, None], f"{type(self).__name__} input")
        w = self.weight * self.weight_gain
        x = _conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down)
        b = self.bias * self.bias_gain if self.bias is not None else None
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, activation=self.activation, gain=gain, clamp=clamp)


def _conv2d_resample(
    x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, *, up: bool = False, down: bool = False, groups: int = 1
) -> torch.Tensor:
    """Same-size conv, or conv with ×2 FIR up/downsampling, keeping the output exactly 2H or H/2.

    Up: stride-2 transposed conv, then the FIR filter (gain 4) — 4× cheaper than upsample-then-conv.
    Down: FIR filter, then stride-2 conv.
    """
    kw = w.shape[-1]
    if not (up or down):
        return F.conv2d(x, w, padding=kw // 2, groups=groups)
    kf = f.shape[-1]
    if up:
        # conv_transpose2d wants [C_in, C_out/groups, k, k].
        wt = rearrange(w, "(g o) i kh kw -> (g i) o kh kw", g=groups)
        x = F.conv_transpose2d(x, wt, stride=2, groups=groups)  # [N, C, 2H + kw - 2, ...]
        p = kf - kw + 1
        return filter2d(x, f * 4, (p // 2, p - p // 2, p // 2, p - p // 2))
    p = kf + kw - 3
    x = filter2d(x, f, (p // 2, p - p // 2, p // 2, p - p // 2))
    return F.conv2d(x, w, stride=2, groups=groups)


# ------------------------------------------------------------------------------------------ mapping


class MappingNetwork(nn.Module):
    """z (and/or an embedded condition c) -> w through ``num_layers`` lrelu FC layers with lr_mult 0.01.

    Inputs are normalised to unit second moment. While training, the running mean ``w_avg``
    (``w_avg_beta``) is tracked; ``truncation_psi < 1`` pulls w towards it.
    With ``z_dim=0`` and ``c_dim>0`` this is the condition mapping of a projection discriminator.
    """

    def __init__(
        self,
        *,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        num_layers: int = 2,
        hidden_dim: int | None = None,
        lr_mult: float = 0.01,
        w_avg_beta: float | None = 0.998,
    ):
        super().__init__()
        if z_dim <= 0 and c_dim <= 0:
            raise ValueError("MappingNetwork needs z_dim > 0 or c_dim > 0")
        if num_layers < 1:
            raise ValueError(f"MappingNetwork num_layers must be >= 1, got {num_layers}")
        self.z_dim, self.c_dim, self.w_dim, self.num_layers, self.w_avg_beta = (
            z_dim,
            c_dim,
            w_dim,
            num_layers,
            w_avg_beta,
        )
        embed_dim = w_dim if c_dim > 0 else 0
        self.embed = FullyConnectedLayer(c_dim, embed_dim) if c_dim > 0 else None
        hidden_dim = hidden_dim or w_dim
        dims = [z_dim + embed_dim] + [hidden_dim] * (num_layers - 1) + [w_dim]
        self.layers = nn.ModuleList(
            FullyConnectedLayer(i, o, activation="lrelu", lr_mult=lr_mult) for i, o in zip(dims[:-1], dims[1:])
        )
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor | None = None,
        c: torch.Tensor | None = None,
        *,
        truncation_psi: float = 1.0,
        update_w_avg: bool | None = None,
    ) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            if z is None:
                raise ValueError("MappingNetwork: z is required (z_dim > 0)")
            check_shape(z, [None, self.z_dim], "MappingNetwork z")
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            if c is None:
                raise ValueError("MappingNetwork: c is required (c_dim > 0)")
            check_shape(c, [None, self.c_dim], "MappingNetwork c")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)
        if self.w_avg_beta is not None:
            if update_w_avg if update_w_avg is not None else self.training:
                with torch.no_grad():
                    self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
            if truncation_psi != 1:
                x = self.w_avg.to(x.dtype).lerp(x, truncation_psi)
        elif truncation_psi != 1:
            raise ValueError("truncation needs w_avg tracking (w_avg_beta is None)")
        return x


# ------------------------------------------------------------------------------------------ synthesis


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    up: bool = False,
    resample_filter: torch.Tensor | None = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution, batched formulation (no per-sample weights).

    Scaling the input channels by ``styles`` and the output channels by the demodulation
    coefficients is the same as convolving with ``weight * styles`` demodulated per sample, but uses
    one shared-weight convolution. ``x [N, I, H, W]``, ``weight [O, I, k, k]``, ``styles [N, I]``.
    """
    check_shape(styles, [x.shape[0], weight.shape[1]], "modulated_conv2d styles")
    x = x * styles.to(x.dtype)[:, :, None, None]
    if up and resample_filter is None:
        raise ValueError("modulated_conv2d with up=True needs resample_filter")
    x = _conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up)
    if demodulate:
        # d[n, o] = 1 / sqrt(sum_{i,k} (w[o,i,k] * s[n,i])^2), computed in float32.
        w2 = weight.float().square().sum(dim=[2, 3])  # [O, I]
        d = (styles.float().square() @ w2.t() + eps).rsqrt()  # [N, O]
        x = x * d.to(x.dtype)[:, :, None, None]
    return x


NOISE_MODES = ("random", "const", "none")


def _check_noise_mode(noise_mode: str) -> str:
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
    return noise_mode


class SynthesisLayer(nn.Module):
    """Modulated conv (style = affine(w), bias init 1) + optional noise + bias + lrelu (√2) + clamp.

    ``use_noise`` adds StyleGAN2's per-pixel noise input: ``noise_strength`` (a learned scalar, init
    0) times a one-channel noise image of the layer's resolution, added after the (de)modulated
    conv. The noise image is drawn fresh per call (``noise_mode='random'``, training), taken from the
    fixed ``noise_const`` buffer (``'const'``: the same image for every sample and call) or left
    out (``'none'``). Off by default (StyleGAN-V has no noise): then there is no extra parameter or buffer.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: bool = False,
        use_noise: bool = False,
        activation: str = "lrelu",
        resample_filter=(1, 3, 3, 1),
        conv_clamp: float | None = None,
        demodulate: bool = True,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim, self.resolution = in_channels, out_channels, w_dim, resolution
        self.up, self.use_noise, self.activation, self.conv_clamp, self.demodulate = (
            up,
            use_noise,
            activation,
            conv_clamp,
            demodulate,
        )
        self.register_buffer("resample_filter", make_filter(resample_filter), persistent=False)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, gain: float = 1.0, noise_mode: str = "random") -> torch.Tensor:
        in_res = self.resolution // 2 if self.up else self.resolution
        check_shape(x, [None, self.in_channels, in_res, in_res], f"SynthesisLayer({self.resolution}) input")
        styles = self.affine(w)
        if not self.demodulate:  # without demodulation the equalized-LR gain must be applied explicitly
            styles = styles * (1 / math.sqrt(self.weight[0].numel()))
        x = modulated_conv2d(
            x, self.weight, styles, demodulate=self.demodulate, up=self.up, resample_filter=self.resample_filter
        )
        if self.use_noise and _check_noise_mode(noise_mode) != "none":
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
            else:
                noise = self.noise_const.to(x.dtype)  # [R, R], broadcast over [N, C, R, R]
            x = x + noise * self.noise_strength.to(x.dtype)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, activation=self.activation, gain=gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation to image channels, linear, clamped."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp = in_channels, out_channels, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the 'skip' generator: [const input] -> (up) conv0 -> conv1 -> toRGB, img += up(img).

    The first block (``in_channels == 0``) starts from a learned ``[C, 4, 4]`` constant; when
    ``input_extra_channels > 0`` per-sample features (StyleGAN-V's time embedding) are broadcast over
    4x4 and concatenated to it, so its conv takes ``C + extra`` channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,
        img_channels: int = 3,
        use_noise: bool = False,
        resample_filter=(1, 3, 3, 1),
        conv_clamp: float | None = None,
        input_extra_channels: int = 0,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.input_extra_channels = input_extra_channels
        self.register_buffer("resample_filter", make_filter(resample_filter), persistent=False)
        layer_kwargs = dict(
            w_dim=w_dim,
            resolution=resolution,
            use_noise=use_noise,
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
        )
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
            self.conv0 = None
            self.conv1 = SynthesisLayer(out_channels + input_extra_channels, out_channels, **layer_kwargs)
        else:
            if input_extra_channels:
                raise ValueError("input_extra_channels only applies to the first (constant-input) block")
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=True, **layer_kwargs)
            self.conv1 = SynthesisLayer(out_channels, out_channels, **layer_kwargs)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        self.num_ws = (1 if in_channels == 0 else 2) + 1

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        input_features: torch.Tensor | None = None,
        noise_mode: str = "random",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``ws [N, num_ws, w_dim]``; returns (features, image) at this block's resolution."""
        w_iter = iter(ws.unbind(dim=1))
        if self.conv0 is None:
            n = ws.shape[0]
            x = self.const.unsqueeze(0).expand(n, -1, -1, -1)
            if self.input_extra_channels:
                if input_features is None:
                    raise ValueError(f"the first SynthesisBlock needs input_features [N, {self.input_extra_channels}]")
                check_shape(input_features, [n, self.input_extra_channels], "SynthesisBlock input_features")
                feats = input_features[:, :, None, None].expand(-1, -1, self.resolution, self.resolution)
                x = torch.cat([x, feats.to(x.dtype)], dim=1)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode)
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode)
        y = self.torgb(x, next(w_iter)).float()
        if img is not None:  # the RGB sum stays float32 under autocast (3 channels: cheap)
            with torch.autocast(device_type=y.device.type, enabled=False):
                y = upsample2d(img, self.resample_filter) + y
        return x, y


class SynthesisNetwork(nn.Module):
    """Blocks 4x4 .. resolution, 'skip' architecture; returns images ``[N, img_channels, R, R]``.

    ``ws`` is ``[N, w_dim]`` (one w for every layer, as StyleGAN-V does) or ``[N, num_ws, w_dim]``.
    ``use_noise`` gives every conv layer StyleGAN2's noise input; ``noise_mode`` (see ``SynthesisLayer``)
    picks its source per call.
    """

    def __init__(
        self,
        *,
        w_dim: int = 512,
        resolution: int = 256,
        img_channels: int = 3,
        channel_base: int = 16384,
        channel_max: int = 512,
        use_noise: bool = False,
        conv_clamp: float | None = 256,
        input_extra_channels: int = 0,
        resample_filter=(1, 3, 3, 1),
    ):
        super().__init__()
        log2 = log2_resolution(resolution)
        self.w_dim, self.resolution, self.img_channels = w_dim, resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        self.blocks = nn.ModuleList()
        for res in self.block_resolutions:
            in_ch = channels_for(res // 2, channel_base=channel_base, channel_max=channel_max) if res > 4 else 0
            out_ch = channels_for(res, channel_base=channel_base, channel_max=channel_max)
            self.blocks.append(
                SynthesisBlock(
                    in_ch,
                    out_ch,
                    w_dim=w_dim,
                    resolution=res,
                    img_channels=img_channels,
                    use_noise=use_noise,
                    conv_clamp=conv_clamp,
                    resample_filter=resample_filter,
                    input_extra_channels=input_extra_channels if res == 4 else 0,
                )
            )
        self.num_ws = sum(b.num_ws for b in self.blocks) - (len(self.blocks) - 1)  # toRGB shares w with the next conv

    def forward(
        self, ws: torch.Tensor, input_features: torch.Tensor | None = None, noise_mode: str = "random"
    ) -> torch.Tensor:
        _check_noise_mode(noise_mode)
        if ws.ndim == 2:
            check_shape(ws, [None, self.w_dim], "SynthesisNetwork ws")
            ws = ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        check_shape(ws, [None, self.num_ws, self.w_dim], "SynthesisNetwork ws")
        x = img = None
        w_idx = 0
        for block in self.blocks:
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_ws), input_features, noise_mode)
            w_idx += block.num_ws - 1
        return img


# ------------------------------------------------------------------------------------------ discriminator


class MinibatchStdLayer(nn.Module):
    """Append the std of features over groups of samples (StyleGAN2: group 4, 1 channel).

    The group size is the largest divisor of the batch not above ``group_size``, so any batch works.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, n) + 1) if n % d == 0)
        f = self.num_channels
        if c % f:
            raise ValueError(f"MinibatchStdLayer: {c} channels are not divisible into {f} groups")
        y = rearrange(x.float(), "(g m) (f cf) h w -> g m f cf h w", g=g, f=f)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # [M, F, cf, H, W]
        y = y.mean(dim=[2, 3, 4])  # [M, F]
        y = y.repeat(g, 1)[:, :, None, None].expand(-1, -1, h, w)  # sample n -> group member n % M
        return torch.cat([x, y.to(x.dtype)], dim=1)


class DiscriminatorBlock(nn.Module):
    """'resnet' block: [fromRGB] -> conv0 3x3 -> conv1 3x3 ↓2, plus a 1x1 ↓2 skip, each scaled by √0.5.

    ``conv0`` maps ``in_channels -> tmp_channels`` (StyleGAN-V's fused block takes more channels in
    than it keeps). ``style_dim > 0`` turns ``conv0`` into a modulated conv whose style is an affine
    map of a per-sample vector (the hypernetwork discriminator ablation).
    """

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        *,
        resolution: int,
        img_channels: int = 3,
        conv_clamp: float | None = None,
        resample_filter=(1, 3, 3, 1),
        style_dim: int = 0,
    ):
        super().__init__()
        self.in_channels, self.tmp_channels, self.out_channels, self.resolution = (
            in_channels,
            tmp_channels,
            out_channels,
            resolution,
        )
        self.img_channels = img_channels
        first_in = tmp_channels
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        else:
            self.fromrgb = None
            first_in = in_channels
        if style_dim > 0:
            self.conv0 = SynthesisLayer(
                first_in,
                tmp_channels,
                w_dim=style_dim,
                resolution=resolution,
                conv_clamp=conv_clamp,
                resample_filter=resample_filter,
            )
        else:
            self.conv0 = Conv2dLayer(first_in, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels,
            out_channels,
            3,
            activation="lrelu",
            down=True,
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
        )
        self.skip = Conv2dLayer(first_in, out_channels, 1, bias=False, down=True, resample_filter=resample_filter)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        r = self.resolution
        if self.fromrgb is not None:
            check_shape(x, [None, self.img_channels, r, r], f"DiscriminatorBlock({r}) image")
            x = self.fromrgb(x)
        else:
            check_shape(x, [None, self.in_channels, r, r], f"DiscriminatorBlock({r}) input")
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv0(x, style) if isinstance(self.conv0, SynthesisLayer) else self.conv0(x)
        x = self.conv1(x, gain=math.sqrt(0.5))
        return y + x


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch-std -> conv 3x3 -> FC -> output FC (1 logit, or a ``cmap_dim`` vector for projection)."""

    def __init__(
        self,
        in_channels: int,
        *,
        cmap_dim: int = 0,
        resolution: int = 4,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, cmap_dim if cmap_dim > 0 else 1)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[N]``; with ``cmap_dim > 0``, projection ``<h, cmap> / sqrt(cmap_dim)``."""
        check_shape(x, [None, self.in_channels, self.resolution, self.resolution], "DiscriminatorEpilogue input")
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(rearrange(x, "n c h w -> n (c h w)"))
        x = self.out(x)
        if self.cmap_dim > 0:
            if cmap is None:
                raise ValueError("DiscriminatorEpilogue with cmap_dim > 0 needs cmap")
            check_shape(cmap, [x.shape[0], self.cmap_dim], "DiscriminatorEpilogue cmap")
            return (x.float() * cmap.float()).sum(dim=1) / np.sqrt(self.cmap_dim)
        return x.float().squeeze(1)
