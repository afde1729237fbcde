"""Multi-process training helpers (torch.distributed, env:// rendezvous).

Two ways in, one code path: ``torchrun --nproc_per_node N -m benchmarks.cli train ...`` sets the
``RANK``/``WORLD_SIZE``/``MASTER_*`` variables itself; ``sgvb train nproc=N`` spawns N processes
inside the Hydra job (``torch.multiprocessing.spawn``) and sets the same variables, so Hydra parses
argv once. Backend: nccl on CUDA, gloo on CPU. Gradients are averaged by hand (``all_reduce_grads``)
instead of wrapping models in DDP: R1 needs double backward, which DDP does not support, and phases
train different parameter subsets.
"""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist

from metrics.distributed import broadcast_object  # noqa: F401  (the one implementation; run dir, resume decision, stop flags)


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device_type: str) -> tuple[int, int]:
    """Join the process group described by the environment; returns (rank, world_size)."""
    world = env_world_size()
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
    return dist.get_rank(), dist.get_world_size()


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_initialized():
        dist.barrier()


@torch.no_grad()
def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Give every rank rank ``src``'s parameters and buffers (ranks start from different seeds)."""
    if not is_initialized():
        return
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=src)


def all_reduce_grads(params: list[torch.nn.Parameter]) -> None:
    """Average gradients over ranks in one flat buffer; params without a grad are skipped."""
    if not is_initialized():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of scalar statistics over ranks (for stats.jsonl)."""
    if not is_initialized() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= world_size()
    return dict(zip(keys, t.tolist()))


def any_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is True on any rank (a NaN on one rank stops all of them)."""
    if not is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def destroy() -> None:
    if is_initialized():
        dist.destroy_process_group()
