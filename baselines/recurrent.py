"""Integer-time, autoregressive video generators (MoCoGAN, MoCoGAN-HD): unrolling and per-step noise.

A recurrent generator makes frame ``s`` from a motion state that has been stepped ``s`` times from
``t = 0``. The base class turns requested times ``t [B, T]`` (whole numbers, frame units) into one
unroll that keeps only the codes still needed, so ``iter_frames`` renders arbitrarily long videos
with memory that does not grow with their length, and ``forward`` is the same unroll in one chunk.

Subclasses supply four small hooks: ``init_motion`` (content and initial state from ``z``),
``motion_step`` (one recurrent step driven by that step's noise), ``frame_code`` (the per-frame
latent read out of the state) and ``render`` (latents -> frames).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from registry.interfaces import VideoGenerator

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads (seed, block) pairs over the seed space


class StepNoise:
    """Per-step motion noise of a batch of videos that can be extended to any length consistently.

    The noise of step ``j`` of video ``b`` is a fixed function of (``seeds[b]``, ``j``): it is drawn
    in blocks of ``block`` steps from a generator seeded by (seed, block index). So a video rendered
    in chunks, or with more frames, sees exactly the same noise at the same step, and nothing of size
    proportional to the video length is ever stored.
    """

    def __init__(self, seeds: torch.Tensor, dim: int, block: int = 64):
        if seeds.ndim != 1:
            raise ValueError(f"StepNoise seeds must be a 1-D int64 tensor [B], got shape {list(seeds.shape)}")
        self.seeds = seeds.to(torch.int64).cpu()
        self.dim, self.block = int(dim), int(block)

    @property
    def batch_size(self) -> int:
        return self.seeds.shape[0]

    def _block(self, seed: int, index: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((seed * _MIX + index) % (2**63 - 1))
        return torch.randn(self.block, self.dim, generator=g)

    def steps(self, start: int, stop: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Noise of steps ``start..stop-1`` as ``[B, stop - start, dim]``."""
        if stop <= start:
            return torch.zeros(self.batch_size, 0, self.dim, device=device)
        first, last = start // self.block, (stop - 1) // self.block
        rows = []
        for seed in self.seeds.tolist():
            blocks = torch.cat([self._block(seed, k) for k in range(first, last + 1)])  # [n_blocks * block, dim]
            rows.append(blocks[start - first * self.block : stop - first * self.block])
        return torch.stack(rows).to(device)

    def select(self, index: torch.Tensor | slice) -> "StepNoise":
        return StepNoise(self.seeds[index], self.dim, self.block)


class TensorNoise:
    """Explicit per-step noise ``[B, L, dim]`` (e.g. to share one motion between videos); covers ``L`` steps."""

    def __init__(self, noise: torch.Tensor):
        if noise.ndim != 3:
            raise ValueError(f"motion noise tensor must be [B, num_steps, dim], got shape {list(noise.shape)}")
        self.noise = noise
        self.dim = noise.shape[2]

    @property
    def batch_size(self) -> int:
        return self.noise.shape[0]

    def steps(self, start: int, stop: int, device: torch.device | str = "cpu") -> torch.Tensor:
        if stop > self.noise.shape[1]:
            raise ValueError(
                f"the motion noise tensor covers {self.noise.shape[1]} steps but step {stop - 1} was requested; "
                f"pass noise of at least {stop} steps or let the generator sample it (motion_noise=None)"
            )
        return self.noise[:, start:stop].to(device)


def integer_steps(t: torch.Tensor) -> torch.Tensor:
    """Requested times ``[B, T]`` as int64 steps; an integer-time generator rejects fractions and negatives."""
    if t.ndim != 2:
        raise ValueError(f"t must be [B, T] frame times, got shape {list(t.shape)}")
    steps = torch.round(t.detach()).to(torch.int64)
    if not torch.equal(steps.to(t.dtype), t.detach()):
        bad = t[steps.to(t.dtype) != t][0].item()
        raise ValueError(
            f"this generator makes frames at integer times only (continuous_time = False), got t = {bad}; "
            f"use a continuous-time generator (stylegan_v, digan) for fractional times"
        )
    if (steps < 0).any():
        raise ValueError(f"frame times must be >= 0, got t = {int(steps.min())}")
    return steps


class RecurrentVideoGenerator(VideoGenerator):
    """Base of integer-time generators whose motion is a recurrence stepped once per frame."""

    continuous_time = False
    autoregressive = True

    motion_noise_dim: int

    # ------------------------------------------------------------------------------ hooks
    def init_motion(self, z: torch.Tensor, truncation_psi: float, noise0: torch.Tensor) -> tuple[Any, Any]:
        """(content, state at t = 0) for content codes ``z [B, z_dim]``; ``noise0`` is step 0's noise
        (a random initial state for models that have one)."""
        raise NotImplementedError

    def motion_step(self, content: Any, state: Any, noise: torch.Tensor) -> Any:
        """The state one frame later, driven by that step's noise ``[B, motion_noise_dim]``."""
        raise NotImplementedError

    def frame_code(self, content: Any, state: Any) -> torch.Tensor:
        """The per-frame latent ``[B, D]`` of the current state."""
        raise NotImplementedError

    def render(self, content: Any, codes: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, T, 3, H, W]`` from per-frame latents ``[B, T, D]``."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ noise
    def sample_motion_noise(
        self, batch_size: int, max_t: float = 0, generator: torch.Generator | None = None
    ) -> StepNoise:
        seeds = torch.randint(0, 2**62, (batch_size,), generator=generator, dtype=torch.int64)
        return StepNoise(seeds, self.motion_noise_dim)

    def _as_noise(self, motion_noise: Any, batch_size: int, max_step: int, generator: torch.Generator | None):
        if motion_noise is None:
            return self.sample_motion_noise(batch_size, max_step, generator=generator)
        if isinstance(motion_noise, torch.Tensor):
            motion_noise = TensorNoise(motion_noise)
        if not isinstance(motion_noise, (StepNoise, TensorNoise)):
            raise TypeError(
                f"motion_noise must come from sample_motion_noise() or be a [B, L, {self.motion_noise_dim}] tensor, "
                f"got {type(motion_noise).__name__}"
            )
        if motion_noise.batch_size != batch_size or motion_noise.dim != self.motion_noise_dim:
            raise ValueError(
                f"motion_noise is for {motion_noise.batch_size} videos of dim {motion_noise.dim}; "
                f"expected {batch_size} videos of dim {self.motion_noise_dim}"
            )
        return motion_noise

    # ------------------------------------------------------------------------------ unrolling
    def _unroll(
        self,
        z: torch.Tensor,
        t: torch.Tensor,
        *,
        chunk_size: int,
        motion_noise: Any,
        truncation_psi: float,
        generator: torch.Generator | None,
    ) -> Iterator[torch.Tensor]:
        steps = integer_steps(t).to(z.device)  # [B, T]
        if steps.shape[0] != z.shape[0]:
            raise ValueError(f"z has {z.shape[0]} videos but t has {steps.shape[0]} rows")
        batch, num_frames = steps.shape
        noise = self._as_noise(motion_noise, batch, int(steps.max()) if steps.numel() else 0, generator)
        content, state = self.init_motion(z, truncation_psi, noise.steps(0, 1, device=z.device)[:, 0].to(z.dtype))
        history: list[torch.Tensor] = [self.frame_code(content, state)]  # codes of steps hist_start..current
        hist_start, current = 0, 0
        rows = torch.arange(batch, device=z.device)[:, None]
        for start in range(0, num_frames, chunk_size):
            chunk = steps[:, start : start + chunk_size]  # [B, c]
            target = int(chunk.max())
            if target > current:  # step the recurrence up to the chunk's last frame
                eps = noise.steps(current + 1, target + 1, device=z.device)  # [B, target - current, dim]
                for i in range(eps.shape[1]):
                    state = self.motion_step(content, state, eps[:, i].to(z.dtype))
                    history.append(self.frame_code(content, state))
                current = target
            codes = torch.stack(history, dim=1)[rows, chunk - hist_start]  # [B, c, D]
            yield self.render(content, codes)
            if start + chunk_size < num_frames:  # forget codes no later frame needs: memory stays bounded
                keep_from = int(steps[:, start + chunk_size :].min())
                drop = max(0, keep_from - hist_start)
                history, hist_start = history[drop:], hist_start + drop

    def forward(
        self, z: torch.Tensor, t: torch.Tensor, motion_noise: Any = None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        """Frames ``[B, T, 3, H, W]`` at integer times ``t [B, T]``, unrolled from t = 0."""
        return next(
            self._unroll(
                z,
                t,
                chunk_size=max(1, t.shape[1]),
                motion_noise=motion_noise,
                truncation_psi=truncation_psi,
                generator=None,
            )
        )

    def iter_frames(
        self,
        z: torch.Tensor,
        t: torch.Tensor,
        *,
        chunk_size: int = 16,
        motion_noise: Any = None,
        truncation_psi: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Iterator[torch.Tensor]:
        """Chunks ``[B, <=chunk_size, 3, H, W]``: one unroll, state carried across chunks (constant memory)."""
        yield from self._unroll(
            z, t, chunk_size=chunk_size, motion_noise=motion_noise, truncation_psi=truncation_psi, generator=generator
        )
