"""Pure-PyTorch versions of the StyleGAN2 kernels (``bias_act``, ``upfirdn2d``).

Only standard ops (depthwise ``conv2d``/``conv_transpose2d``, ``leaky_relu``), so they run on any
device, under bf16 autocast and ``torch.compile``, and support double backward (R1 with
``create_graph=True``). No compiled extension: those were the main source of install failures.
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
# StyleGAN2 scales activations so that their second moment stays ~1 at initialisation.
ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2.0)}


_FUSED = {"enabled": True}


def fused_ops_enabled() -> bool:
    return _FUSED["enabled"]


@contextlib.contextmanager
def reference_ops(enabled: bool = True):
    """Within this block every layer uses the plain composition of PyTorch ops (the speed baseline).

    The fused paths compute the same function with fewer passes over memory and fewer saved
    activations; the reference paths exist so that the saving is measurable and testable.
    """
    previous = _FUSED["enabled"]
    _FUSED["enabled"] = not enabled
    try:
        yield
    finally:
        _FUSED["enabled"] = previous


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    dim: int = 1,
    activation: str = "linear",
    gain: float = 1.0,
    clamp: float | None = None,
) -> torch.Tensor:
    """``act(x + bias) * act_gain * gain``, then optionally clamped to ``[-clamp, clamp]``.

    ``act_gain`` is √2 for lrelu (0.2) and 1 for linear, as in StyleGAN2's ``bias_act``.
    """
    if activation not in ACTIVATION_GAINS:
        raise ValueError(f"unknown activation '{activation}'; expected one of {sorted(ACTIVATION_GAINS)}")
    total_gain = ACTIVATION_GAINS[activation] * gain
    if bias is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        bias = bias.to(x.dtype).reshape(shape)
    if _FUSED["enabled"] and (activation != "linear" or clamp is not None):
        slope = LRELU_SLOPE if activation == "lrelu" else 1.0
        if not torch.is_grad_enabled():  # sampling: the same in-place chain, no autograd node
            return _bias_act_inplace(x, bias, slope, float(total_gain), clamp)
        return _FusedBiasAct.apply(x, bias, slope, float(total_gain), clamp)
    if bias is not None:
        x = x + bias
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    if total_gain != 1:
        x = x * total_gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _bias_act_inplace(x, bias, slope: float, gain: float, clamp: float | None) -> torch.Tensor:
    """One new tensor (``x + bias``), then activation, gain and clamp in place on it."""
    y = x + bias if bias is not None else x.clone()
    if slope != 1.0:
        y = F.leaky_relu_(y, slope)
    if gain != 1.0:
        y.mul_(gain)
    if clamp is not None:
        y.clamp_(-clamp, clamp)
    return y


class _FusedBiasAct(torch.autograd.Function):
    """``bias_act`` as one autograd node: in-place forward, and a backward from the saved output alone.

    The derivative of a (leaky) ReLU with gain and clamp is a per-element factor that the output
    determines (``y > 0`` <=> ``x + b > 0``; ``|y| < clamp`` <=> not clamped), so only ``y`` is saved
    (the next conv saves it anyway) instead of three intermediate tensors. The backward is
    ``dy * factor`` with a constant factor, so it is itself differentiable: R1's double backward
    works (the second derivative of a piecewise-linear map is zero almost everywhere).
    """

    @staticmethod
    def forward(ctx, x, bias, slope, gain, clamp):
        y = _bias_act_inplace(x, bias, slope, gain, clamp)
        ctx.save_for_backward(y)
        ctx.slope, ctx.gain, ctx.clamp, ctx.has_bias = slope, gain, clamp, bias is not None
        ctx.bias_shape = bias.shape if bias is not None else None
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        y = y.detach().to(dy.dtype)  # the aten backwards want one dtype (a no-op unless autocast mixed them)
        # aten's own activation backwards, one pass each: dy * (y > 0 ? 1 : slope), then zero where |y| >= clamp.
        # Both are differentiable in dy (their derivative is themselves), which R1's double backward needs.
        dx = torch.ops.aten.leaky_relu_backward(dy, y, ctx.slope, True) if ctx.slope != 1.0 else dy
        if ctx.clamp is not None:
            dx = torch.ops.aten.hardtanh_backward(dx, y, -ctx.clamp, ctx.clamp)
        if ctx.gain != 1.0:
            dx = (
                dx.mul_(ctx.gain) if dx is not dy else dx * ctx.gain
            )  # a fresh tensor from the ops above: scale it in place
        dbias = None
        if ctx.has_bias and ctx.needs_input_grad[1]:
            dims = [i for i, s in enumerate(ctx.bias_shape) if s == 1]
            dbias = dx.sum(dim=dims, keepdim=True)
        return dx, dbias, None, None, None


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def make_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """Separable 2-D FIR filter (outer product of ``taps``) normalised to sum 1, ``[k, k]`` float32."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim != 1 or f.numel() < 1:
        raise ValueError(f"resample filter taps must be a non-empty 1-D sequence, got {taps!r}")
    f = f[:, None] * f[None, :]
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, gain: float, like: torch.Tensor) -> torch.Tensor:
    # [k, k] -> [C, 1, k, k]; the filter is symmetric, so correlation == convolution.
    return (f * gain).to(dtype=like.dtype, device=like.device).expand(channels, 1, *f.shape)


def filter2d(x: torch.Tensor, f: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad (left, right, top, bottom) and filter every channel of ``x [N, C, H, W]`` with ``f``."""
    x = F.pad(x, padding)
    return F.conv2d(x, _depthwise(f, x.shape[1], 1.0, x), groups=x.shape[1])


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """×2 upsampling: zero insertion followed by the FIR filter (gain 4), ``[N,C,H,W] -> [N,C,2H,2W]``.

    A stride-2 depthwise transposed convolution is exactly "insert zeros, pad, filter"; cropping
    (k-2)/2 pixels on each side keeps the output centred and 2H wide.
    """
    k = f.shape[-1]
    y = F.conv_transpose2d(x, _depthwise(f, x.shape[1], 4.0, x), stride=2, groups=x.shape[1])  # [N, C, 2H+k-2, ...]
    crop0, crop1 = (k - 2) // 2, (k - 2) - (k - 2) // 2
    return y[:, :, crop0 : y.shape[2] - crop1, crop0 : y.shape[3] - crop1]


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """×2 downsampling: FIR filter then keep every second pixel, ``[N,C,H,W] -> [N,C,H/2,W/2]``."""
    k = f.shape[-1]
    p0, p1 = (k - 2) // 2, (k - 2) - (k - 2) // 2
    x = F.pad(x, (p0, p1, p0, p1))
    return F.conv2d(x, _depthwise(f, x.shape[1], 1.0, x), stride=2, groups=x.shape[1])


def eager_only(fn):
    """Run ``fn`` outside ``torch.compile`` graphs (a clean graph break) for host-side, data-dependent steps.

    ``torch.compiler.disable`` is applied lazily: decorating with it at import time would import
    torch._dynamo (~1.5 s) for every user of the package, compiled or not.
    """
    disabled = []

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if torch.compiler.is_compiling():
            if not disabled:
                disabled.append(torch.compiler.disable(fn))
            return disabled[0](*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper
