"""Generator sampling for metrics: bf16 autocast on GPU and a batch size fitted to free device memory.

The frames still leave the generator in float32 (its RGB path accumulates in float32) and are
quantised with the official formula (``sources.quantize``), so bf16 changes only the network's
internal precision, never the uint8 rounding rule.
"""

from __future__ import annotations

import contextlib
import weakref

import torch

from registry.interfaces import VideoGenerator

# generator -> {(frames, device, precision): videos per call}: the probe runs once per generator and shape
_FITTED: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


def sampling_autocast(device: torch.device, precision: str = "bf16"):
    """bf16 autocast for generator sampling on CUDA; fp32 (no autocast) on CPU or with ``precision="fp32"``."""
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"sampling precision must be 'bf16' or 'fp32', got {precision!r}")
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def fit_batch_to_memory(
    G: torch.nn.Module,
    *,
    requested: int,
    frames: int,
    device: torch.device,
    precision: str = "bf16",
    headroom: float = 0.5,
    max_batch: int = 64,
) -> int:
    """Videos per generator call: on CUDA the most that fit ``headroom`` x the free memory, else ``requested``.

    The cost of one video is measured, not guessed: a probe renders 1 and 2 videos of ``frames``
    frames and takes the difference of the peak allocations (constant costs cancel). Batching
    decides how the seeded noise streams are split, so results are reproducible per GPU model
    (the batch is rounded down to a power of two), not across GPUs with different memory.
    """
    if device.type != "cuda" or not isinstance(G, VideoGenerator) or G.batch_defines_draws:
        return max(1, int(requested))
    key = (int(frames), str(device), precision)
    fitted = _FITTED.setdefault(G, {})
    if key not in fitted:
        with torch.random.fork_rng(devices=[device]):  # the probe leaves the evaluation's random streams alone
            peaks = [_peak_bytes(G, n, frames, device, precision) for n in (1, 2)]
        per_video = max(peaks[1] - peaks[0], 1)
        free, _ = torch.cuda.mem_get_info(device)
        fit = int(max(1, min(max_batch, (free * headroom) // per_video)))
        fitted[key] = 1 << (
            fit.bit_length() - 1
        )  # a power of two: the same batches (and samples) on the same GPU model
    return fitted[key]


def _peak_bytes(G: torch.nn.Module, n: int, frames: int, device: torch.device, precision: str) -> int:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    z = torch.randn(n, G.z_dim, device=device)  # not G.sample_z: a probe must not touch a generator's own streams
    t = torch.arange(frames, device=device, dtype=torch.float32).unsqueeze(0).expand(n, -1).contiguous()  # [n, T]
    with sampling_autocast(device, precision):
        G(z, t)
    return torch.cuda.max_memory_allocated(device) - base
