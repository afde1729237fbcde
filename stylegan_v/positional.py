"""Time embeddings v(t) for the StyleGAN-V generator, swappable by registry name.

The contract is ``registry.interfaces.PositionalEncoding``: ``forward(t [N], codes [N, 2, D], code_times [N, 2])
-> [N, out_dim]`` with N = B*T frames, the two motion codes around each frame and their times.
Embeddings are computed in float64 (motion codes, frequency and phase layers, phases) and returned
as float32, even under autocast: sin/cos of phases ~1e4 lose all precision in bf16, and in float32
one ulp of a frequency scale is already 1e-3 rad of phase at t = 1e5.
"""

from __future__ import annotations

import math

import torch

from registry import POSITIONAL_ENCODINGS
from registry.interfaces import PositionalEncoding

from .layers import FullyConnectedLayer

__all__ = [
    "AcyclicPositionalEncoding",
    "LerpPositionalEncoding",
    "NoPositionalEncoding",
    "SinusoidalPositionalEncoding",
    "geometric_frequencies",
]


def geometric_frequencies(num_frequencies: int, min_period: float, max_period: float) -> torch.Tensor:
    """Angular frequencies 2π/P with periods P geometric from ``max_period`` down to ``min_period`` (ascending ω)."""
    if num_frequencies < 1:
        raise ValueError(f"num_frequencies must be >= 1, got {num_frequencies}")
    if not 0 < min_period <= max_period:
        raise ValueError(f"need 0 < min_period <= max_period, got {min_period}, {max_period}")
    periods = torch.logspace(
        math.log2(max_period), math.log2(min_period), num_frequencies, base=2.0, dtype=torch.float64
    )
    return 2 * math.pi / periods


def _sincos(theta: torch.Tensor) -> torch.Tensor:
    return torch.cat([theta.sin(), theta.cos()], dim=-1)


def _two_codes(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """u_l, u_r as contiguous float64 ``[N, D]``: strided rows of ``codes [N, 2, D]`` could make BLAS pick
    another kernel (another rounding) than the separate tensors the generator used to pass."""
    return codes[:, 0].contiguous().double(), codes[:, 1].contiguous().double()


def _linear64(layer: FullyConnectedLayer, x: torch.Tensor) -> torch.Tensor:
    """A bias-free equalized linear layer evaluated in float64 (its weights stay float32 parameters)."""
    return torch.nn.functional.linear(x.double(), layer.weight.double() * layer.weight_gain)


@POSITIONAL_ENCODINGS.register("acyclic", aliases=["stylegan_v_fourier", "aligned"])
class AcyclicPositionalEncoding(PositionalEncoding):
    """StyleGAN-V's acyclic embedding (official ``AlignedTimeEncoder``).

    From the left code u_l (``codes[:, 0]``, made at t_l; u_r = ``codes[:, 1]`` at t_r): frequency scales
    s = tanh(W_s u_l) + 1 and phases φ = (W_φ u_l) * max_period / P. With θ(τ) = ω s τ + φ and
    e(τ) = [sin θ ‖ cos θ]: ``v(t) = e(t) - lerp(e(t_l), e(t_r), α) + lerp(W_a u_l, W_a u_r, α)``,
    a sinusoid minus its chord (zero at both knots) plus the interpolated knot values, so v(t_l) = W_a u_l,
    v is continuous at the knots and is not periodic. No biases (the official code drops them against
    mode collapse).
    """

    needs_motion = True

    def __init__(
        self, *, motion_dim: int = 512, num_frequencies: int = 256, min_period: float = 16, max_period: float = 1024
    ):
        super().__init__()
        omega = geometric_frequencies(num_frequencies, min_period, max_period)
        self.register_buffer("omega", omega.float())
        self.register_buffer("phase_scales", (max_period * omega / (2 * math.pi)).float())
        self.frequency_predictor = FullyConnectedLayer(motion_dim, num_frequencies, bias=False)
        self.phase_predictor = FullyConnectedLayer(motion_dim, num_frequencies, bias=False)
        self.aligner = FullyConnectedLayer(motion_dim, 2 * num_frequencies, bias=False)
        self.out_dim = 2 * num_frequencies

    def forward(
        self, t: torch.Tensor, codes: torch.Tensor | None = None, code_times: torch.Tensor | None = None
    ) -> torch.Tensor:
        if codes is None or code_times is None:
            raise ValueError("the 'acyclic' positional encoding needs motion codes and their times")
        with torch.autocast(device_type=t.device.type, enabled=False):
            u_l, u_r = _two_codes(codes)
            scale = torch.tanh(_linear64(self.frequency_predictor, u_l)) + 1  # [N, F]
            phase = _linear64(self.phase_predictor, u_l) * self.phase_scales.double()  # [N, F]
            rate = self.omega.double() * scale  # [N, F]

            def wave(tau):
                return _sincos(rate * tau.double()[:, None] + phase)  # [N, 2F]

            alpha = self.interpolation_weight(t, code_times)[:, None]  # [N, 1] float64
            chord = torch.lerp(wave(code_times[:, 0]), wave(code_times[:, 1]), alpha)
            anchors = torch.lerp(_linear64(self.aligner, u_l), _linear64(self.aligner, u_r), alpha)
            return (wave(t) - chord + anchors).float()


@POSITIONAL_ENCODINGS.register("sinusoidal", aliases=["cyclic"])
class SinusoidalPositionalEncoding(PositionalEncoding):
    """Fixed cyclic ``[sin ωt ‖ cos ωt]`` with geometric periods, no motion: every video moves alike."""

    needs_motion = False

    def __init__(self, *, num_frequencies: int = 256, min_period: float = 16, max_period: float = 1024):
        super().__init__()
        self.register_buffer("omega", geometric_frequencies(num_frequencies, min_period, max_period))  # float64
        self.out_dim = 2 * num_frequencies

    def forward(
        self, t: torch.Tensor, codes: torch.Tensor | None = None, code_times: torch.Tensor | None = None
    ) -> torch.Tensor:
        return _sincos(t.double()[:, None] * self.omega).float()


@POSITIONAL_ENCODINGS.register("lerp", aliases=["linear"])
class LerpPositionalEncoding(PositionalEncoding):
    """Linear interpolation of projected motion codes, ``lerp(W u_l, W u_r, α)``: motion with no waves."""

    needs_motion = True

    def __init__(self, *, motion_dim: int = 512, out_dim: int = 512):
        super().__init__()
        self.projection = FullyConnectedLayer(motion_dim, out_dim, bias=False)
        self.out_dim = out_dim

    def forward(
        self, t: torch.Tensor, codes: torch.Tensor | None = None, code_times: torch.Tensor | None = None
    ) -> torch.Tensor:
        if codes is None or code_times is None:
            raise ValueError("the 'lerp' positional encoding needs motion codes and their times")
        with torch.autocast(device_type=t.device.type, enabled=False):
            alpha = self.interpolation_weight(t, code_times)[:, None]  # [N, 1] float64
            u_l, u_r = _two_codes(codes)
            return torch.lerp(_linear64(self.projection, u_l), _linear64(self.projection, u_r), alpha).float()


@POSITIONAL_ENCODINGS.register("none", aliases=["static"])
class NoPositionalEncoding(PositionalEncoding):
    """No time input at all: every frame of a video is the same image (lower bound; StyleGAN2 per video)."""

    needs_motion = False
    out_dim = 0

    def forward(
        self, t: torch.Tensor, codes: torch.Tensor | None = None, code_times: torch.Tensor | None = None
    ) -> torch.Tensor:
        return t.new_zeros(t.shape[0], 0, dtype=torch.float32)
