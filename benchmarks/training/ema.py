"""Generator exponential moving average (G_ema), the network every evaluation and sample uses."""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(batch_videos: int, ema_kimg: float) -> float:
    """Per-step decay with a half-life of ``ema_kimg`` thousand *videos* (the official code counts
    the EMA in videos, not frames, and — as StyleGAN-V effectively runs — without a ramp-up)."""
    if ema_kimg <= 0:
        return 0.0
    return 0.5 ** (batch_videos / (ema_kimg * 1000.0))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``ema <- beta * ema + (1 - beta) * model`` for parameters; buffers (e.g. w_avg) are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)
