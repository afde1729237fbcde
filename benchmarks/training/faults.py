"""Stop a run cleanly when training diverges: a NaN/Inf loss or parameter ends the run within one
tick, naming what went bad and where (kimg), so the last good checkpoint is never overwritten by a
broken state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN/Inf."""


@torch.no_grad()
def check_parameters(modules: Mapping[str, nn.Module], *, kimg: float) -> None:
    """One fused finiteness test per module; only on failure do we look for the parameter's name."""
    for module_name, module in modules.items():
        params = [p for p in module.parameters()]
        if not params:
            continue
        flags = torch.stack([torch.isfinite(p).all() for p in params])
        if bool(flags.all()):
            continue
        bad = _first_bad(module.named_parameters())
        raise TrainingDiverged(
            f"parameter '{module_name}.{bad}' holds NaN/Inf at kimg {kimg:.3f}; "
            "training stopped (the last good checkpoint is kept)"
        )


def _first_bad(named: Iterable[tuple[str, torch.Tensor]]) -> str:
    for name, p in named:
        if not torch.isfinite(p).all():
            return name
    return "?"
