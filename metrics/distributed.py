"""torch.distributed helpers for metrics: every process computes partial float64 sums; one all-reduce combines them."""

from __future__ import annotations

from typing import Any

import torch


def dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) when torch.distributed is not initialised."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def all_reduce_(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum tensors over processes in one call, in float64 (no-op in a single process)."""
    _, world = dist_info()
    if world == 1:
        return tensors
    keys = sorted(tensors)
    flat = torch.cat([tensors[k].reshape(-1).to(torch.float64).cpu() for k in keys])
    if torch.distributed.get_backend() == "nccl":
        flat = flat.cuda()
    torch.distributed.all_reduce(flat)
    flat = flat.cpu()
    out, pos = {}, 0
    for k in keys:
        n = tensors[k].numel()
        out[k] = flat[pos : pos + n].reshape(tensors[k].shape).to(device=tensors[k].device)
        pos += n
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every process."""
    rank, world = dist_info()
    if world == 1:
        return obj
    box = [obj if rank == 0 else None]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
