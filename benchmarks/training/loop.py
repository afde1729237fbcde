"""The training loop: alternating G and D phases with lazy R1, EMA, ADA, ticks, snapshots, evaluation.

One step (``batch_size`` videos over all ranks, ``batch_gpu`` per forward, gradients accumulated):
  1. G phase: for each active discriminator, fake clips at times drawn by that D's sampler
     (continuous offsets if ``G.continuous_time``) -> augmentation -> D -> ``loss.generator``;
     weighted sum; one Adam step on the parameters of the current training stage; EMA update.
  2. D phase, per discriminator: real clips (ClipDataset) and fake clips -> augmentation -> D ->
     ``loss.discriminator``; Adam step. Every ``r1_interval`` steps a separate R1 step on the same
     real clips, scaled by the interval (lazy regularisation, StyleGAN2-ADA).
  3. Every ``augment.interval`` steps the ADA strength moves from the sign of D(real).
kimg counts frames (videos x frames per clip of the longest active clip), as StyleGAN-V does; the
EMA half-life and ADA speed count videos.

Ticks (``kimg_per_tick``) log statistics and check every loss and parameter for NaN/Inf; snapshots
(``snapshot_kimg``: samples and a checkpoint) and evaluations (``eval_kimg``) are ``snapshots.Snapshots``'s.
The loop keeps the typed settings it is given (``self.trainer``, ``self.runtime``...) and reads them there.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from einops import rearrange

from benchmarks.config.training import EvalSettings, Provenance, RuntimeSettings, SampleSettings, TrainerSettings
from benchmarks.records import checkpoint as ckpt
from benchmarks.records.run_folder import RunFolder
from benchmarks.training import dist
from benchmarks.training.components import DiscriminatorSlot
from benchmarks.training.ema import ema_beta, update_ema
from benchmarks.training.faults import TrainingDiverged, check_parameters
from benchmarks.training.losses import r1_penalty
from benchmarks.training.preemption import StopRequest, TrainingInterrupted, signal_name
from benchmarks.training.snapshots import Snapshots

log = logging.getLogger("sgvb")


class InfiniteSampler(torch.utils.data.Sampler):
    """Endless shuffled indices for one rank, restartable at any position (for exact resume).

    Epoch ``e`` is a permutation seeded by ``(seed, e)``; rank ``r`` of ``w`` takes positions
    ``r, r + w, ...`` of the concatenated epochs, starting after ``start`` items of its own.
    """

    def __init__(self, size: int, *, rank: int = 0, world_size: int = 1, seed: int = 0, start: int = 0):
        if size <= 0:
            raise ValueError("InfiniteSampler needs a non-empty dataset")
        self.size, self.rank, self.world_size, self.seed, self.start = size, rank, world_size, seed, start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """``(item, position)``: the position (global draw number) seeds the clip's own randomness."""
        position = self.start * self.world_size + self.rank
        epoch, offset = divmod(position, self.size)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.size)
        while True:
            yield int(order[offset]), position
            position += self.world_size
            offset += self.world_size
            while offset >= self.size:
                offset -= self.size
                epoch += 1
                order = np.random.default_rng([self.seed, epoch]).permutation(self.size)


class PositionalClips(torch.utils.data.Dataset):
    """A ClipDataset whose clip for key ``(item, position)`` depends on ``(seed, position)`` alone, so the data
    stream after a resume is exactly the one an uninterrupted run would have seen (the ClipDataset's own
    randomness follows per-worker draw counters, which restart with the process)."""

    def __init__(self, clips: Any):
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        item, position = key
        return self.clips.clip(
            int(item) % len(self.clips), np.random.default_rng([self.clips.seed % (1 << 63), int(position)])
        )


def adam_hyperparameters(lr: float, betas: Sequence[float], interval: int | None) -> tuple[float, tuple[float, float]]:
    """Lazy-regularisation scaling (StyleGAN2-ADA): lr * c, beta ** c with c = interval / (interval + 1)."""
    c = interval / (interval + 1) if interval else 1.0
    return float(lr) * c, (float(betas[0]) ** c, float(betas[1]) ** c)


def stage_plan(stages: Sequence[str], stage_kimg: Mapping[str, float], total_kimg: float) -> list[tuple[str, float]]:
    """``[(stage, end_kimg), ...]``: each stage but the last has a budget; the last runs to ``total_kimg``."""
    plan, end = [], 0.0
    for i, stage in enumerate(stages):
        if i == len(stages) - 1:
            end = max(end, float(total_kimg))
        else:
            if stage not in stage_kimg:
                raise ValueError(
                    f"trainer.stage_kimg must give a kimg budget for stage '{stage}' (stages: {list(stages)})"
                )
            end += float(stage_kimg[stage])
        plan.append((stage, end))
    return plan


def to_float_video(frames_uint8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 ``[B, k, H, W, C]`` -> float ``[B, k, C, H, W]`` in [-1, 1] (the official scaling)."""
    x = frames_uint8.to(device, non_blocking=True)
    return rearrange(x, "b k h w c -> b k c h w").float() / 127.5 - 1


class TrainingLoop:
    """Everything that changes during training, and the schedule that changes it."""

    def __init__(
        self,
        *,
        G: torch.nn.Module,
        slots: list[DiscriminatorSlot],
        dataset: Any,
        augment: torch.nn.Module,
        run: RunFolder,
        device: torch.device,
        trainer: TrainerSettings,
        runtime: RuntimeSettings = RuntimeSettings(),
        samples: SampleSettings = SampleSettings(),
        evaluation: EvalSettings = EvalSettings(),
        provenance: Provenance = Provenance(),
    ):
        """``trainer``: schedule, batch and optimiser (``r1_gamma``/``ema_kimg`` already numbers); ``runtime``: seed and
        how the networks run; ``samples``: snapshot videos; ``evaluation``: metrics and their options; ``provenance``:
        what a checkpoint records about the run."""
        t = trainer
        self.trainer, self.runtime, self.evaluation, self.provenance = trainer, runtime, evaluation, provenance
        self.rank, self.world_size = dist.rank(), dist.world_size()
        if t.batch_size % (t.batch_gpu * self.world_size):
            raise ValueError(
                f"trainer.batch_size={t.batch_size} must be a multiple of "
                f"trainer.batch_gpu={t.batch_gpu} x {self.world_size} processes"
            )
        if runtime.precision not in ("bf16", "fp32"):
            raise ValueError(f"precision must be 'bf16' or 'fp32', got {runtime.precision!r}")
        self.device, self.run = device, run
        self.G, self.slots, self.dataset, self.augment = G.to(device), slots, dataset, augment.to(device)
        for slot in slots:
            slot.D.to(device)
        if runtime.channels_last:
            for m in [self.G, *(s.D for s in slots)]:
                m.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.autocast = device.type == "cuda" and runtime.precision == "bf16"
        self.G_fwd = torch.compile(self.G) if runtime.compile else self.G
        self.D_fwd = [torch.compile(s.D) if runtime.compile else s.D for s in slots]

        self.num_accum = t.batch_size // (t.batch_gpu * self.world_size)
        self.stages = stage_plan(tuple(G.training_stages), t.stage_kimg, t.total_kimg)
        self.snapshots = Snapshots(
            run=run, trainer=t, samples=samples, evaluation=evaluation, seed=runtime.seed, progress=runtime.progress
        )

        # Created with placeholder settings; _apply_stage_optim gives them their (lazy-reg scaled) lr and betas.
        fused = {"fused": True} if runtime.fused_adam else {}  # one kernel for all tensors
        self.opt_G = torch.optim.Adam(self.G.parameters(), eps=1e-8, **fused)
        self.opt_D = [torch.optim.Adam(s.D.parameters(), eps=1e-8, **fused) for s in slots]
        self.optim_base = {
            "g_lr": t.g_lr,
            "d_lr": t.d_lr,
            "betas": tuple(t.betas),
            "g_reg_interval": t.g_reg_interval,
            "g_steps": 1,
        }
        self.stage_optim = {str(k): dict(v) for k, v in dict(t.stage_optim).items()}
        for stage, values in self.stage_optim.items():
            if stage not in [name for name, _ in self.stages]:
                raise ValueError(
                    f"trainer.stage_optim names stage '{stage}', "
                    f"but the generator's stages are {[n for n, _ in self.stages]}"
                )
            unknown = set(values) - set(self.optim_base)
            if unknown:
                raise ValueError(
                    f"trainer.stage_optim.{stage}: unknown keys {sorted(unknown)}; allowed: {sorted(self.optim_base)}"
                )
        self.g_steps = 1
        self._apply_stage_optim(self.stages[0][0])

        # Counters (restored on resume; the snapshot schedule's are ``self.snapshots``'s).
        self.nimg, self.step, self.tick = 0, 0, 0
        self.stage_index, self.stage_started = 0, False
        self.np_rng = np.random.default_rng([runtime.seed, self.rank])
        self.tick_start_nimg = 0  # where the tick in hand began (a checkpoint written mid-tick resumes the tick)
        self.stop: StopRequest | None = None  # set by the job: a SIGTERM/SIGUSR2 stops after the step in hand
        self._clips: dict[int, Any] = {}
        self._loaders: dict[int, Iterator] = {}

    # ------------------------------------------------------------------------------ properties
    @property
    def kimg(self) -> float:
        return self.nimg / 1000.0

    @property
    def stage(self) -> str:
        return self.stages[min(self.stage_index, len(self.stages) - 1)][0]

    def active_slots(self) -> list[int]:
        return [i for i, s in enumerate(self.slots) if s.active(self.stage)]

    def frames_per_clip(self) -> int:
        return max(self.slots[i].sampler.num_frames for i in self.active_slots())

    def _amp(self):
        return (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
            if self.autocast
            else contextlib.nullcontext()
        )

    # ------------------------------------------------------------------------------ data
    def _clip_dataset(self, index: int):
        if index not in self._clips:
            from benchmarks.data.clips import ClipDataset

            self._clips[index] = PositionalClips(
                ClipDataset(
                    self.dataset,
                    self.slots[index].sampler,
                    seed=self.runtime.seed + 7919 * index,
                    max_num_frames=self.trainer.max_num_frames,
                )
            )
        return self._clips[index]

    def _real_batches(self, index: int) -> Iterator:
        if index not in self._loaders:
            clips = self._clip_dataset(index)
            sampler = InfiniteSampler(
                len(clips),
                rank=self.rank,
                world_size=self.world_size,
                seed=self.runtime.seed + 7919 * index,
                start=self.step * self.trainer.batch_gpu * self.num_accum,
            )
            loader = torch.utils.data.DataLoader(
                clips,
                sampler=sampler,
                batch_size=self.trainer.batch_gpu,
                num_workers=self.trainer.num_workers,
                pin_memory=self.device.type == "cuda",
                drop_last=True,
                persistent_workers=self.trainer.num_workers > 0,
                prefetch_factor=2 if self.trainer.num_workers > 0 else None,
                generator=torch.Generator().manual_seed(self.runtime.seed * 1009 + index),  # not the global RNG
            )
            self._loaders[index] = iter(loader)
        return self._loaders[index]

    def _next_real(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        batch = next(self._real_batches(index))
        return to_float_video(batch["frames"], self.device), batch["times"].to(self.device, torch.float32)

    def _fake_times(self, slot: DiscriminatorSlot, batch: int) -> torch.Tensor:
        from benchmarks.data.clips import sample_fake_times

        clips = self._clip_dataset(self.slots.index(slot)).clips
        t = sample_fake_times(clips, slot.sampler, batch, self.np_rng, continuous=bool(self.G.continuous_time))
        return torch.as_tensor(np.asarray(t), dtype=torch.float32, device=self.device)

    def _generate(self, slot: DiscriminatorSlot, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = self._fake_times(slot, batch)
        z = self.G.sample_z(batch, device=self.device)
        return self.G_fwd(z, t), t

    # ------------------------------------------------------------------------------ one step
    def _g_phase(self, stats: dict) -> None:
        active = self.active_slots()
        for s in self.slots:
            s.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        for _ in range(self.num_accum):
            total = 0.0
            with self._amp():
                for i in active:
                    slot = self.slots[i]
                    fake, t = self._generate(slot, self.trainer.batch_gpu)
                    logits = self.D_fwd[i](self.augment(fake), t)
                    loss = self._generator_loss(i, logits.float()).mean()
                    stats[f"loss/G/{slot.name}"].append(loss.detach())
                    total = total + slot.weight * loss
                    for key, value in self._auxiliary_losses().items():  # e.g. MoCoGAN-HD's mutual information
                        stats[f"loss/G_{key}"].append(value.detach())
                        total = total + value / len(active)
            (total / self.num_accum).backward()
        self._optimizer_step(self.opt_G, self._stage_params)

    def _generator_loss(self, index: int, fake_logits: torch.Tensor) -> torch.Tensor:
        """``loss.generator``; a relativistic loss (``needs_real_logits_for_generator``) also gets D's
        logits of a real batch, as MoCoGAN-HD's G step does."""
        slot = self.slots[index]
        if not slot.loss.needs_real_logits_for_generator:
            return slot.loss.generator(fake_logits)
        real, real_t = self._next_real(index)
        real_logits = self.D_fwd[index](self.augment(real), real_t).float()
        return slot.loss.generator(fake_logits, real_logits=real_logits)

    def _auxiliary_losses(self) -> dict[str, torch.Tensor]:
        """Generator-side losses of the last G forward (``G.auxiliary_losses()``), added with weight 1."""
        return dict(self.G.auxiliary_losses())

    def _d_phase(self, index: int, stats: dict) -> None:
        slot, D = self.slots[index], self.D_fwd[index]
        opt = self.opt_D[index]
        slot.D.requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        reals = []
        for _ in range(self.num_accum):
            real, real_t = self._next_real(index)
            reals.append((real, real_t))
            with self._amp():
                with torch.no_grad():
                    fake, fake_t = self._generate(slot, self.trainer.batch_gpu)
                aug_fake, aug_real = self.augment(fake.detach()), self.augment(real)
                fake_logits = D(aug_fake, fake_t).float()
                real_logits = D(aug_real, real_t).float()
                loss_real, loss_fake = slot.loss.discriminator(real_logits, fake_logits)
                loss = slot.weight * (loss_real.mean() + loss_fake.mean())
                if slot.loss.gp_weight > 0:  # a loss with its own penalty (WGAN-GP), every step
                    gp = slot.loss.penalty(D, aug_real, aug_fake, real_t).mean()
                    stats[f"loss/gp/{slot.name}"].append(gp.detach())
                    loss = loss + slot.weight * gp
            (loss / self.num_accum).backward()
            stats[f"loss/D/{slot.name}"].append(loss.detach() / slot.weight if slot.weight else loss.detach())
            stats[f"scores/real/{slot.name}"].append(real_logits.detach().mean())
            stats[f"scores/fake/{slot.name}"].append(fake_logits.detach().mean())
            if index == self.active_slots()[0]:
                self.augment.accumulate(real_logits)
        self._optimizer_step(opt, list(slot.D.parameters()))

        if slot.r1_gamma > 0 and self.trainer.r1_interval > 0 and self.step % self.trainer.r1_interval == 0:
            opt.zero_grad(set_to_none=True)
            for real, real_t in reals:
                real = real.detach().requires_grad_(True)
                with self._amp():  # the eager module: double backward does not go through torch.compile
                    real_logits = slot.D(self.augment(real), real_t).float()
                penalty = r1_penalty(real_logits, real)  # [B]
                loss_r1 = (penalty * (slot.r1_gamma / 2)).mean() * self.trainer.r1_interval
                ((real_logits * 0).mean() + loss_r1 / self.num_accum).backward()
                stats[f"loss/r1/{slot.name}"].append(penalty.detach().mean())
            self._optimizer_step(opt, list(slot.D.parameters()))
        slot.D.requires_grad_(False)

    def _optimizer_step(self, opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
        dist.all_reduce_grads(params)
        opt.step()

    def train_step(self, stats: dict) -> None:
        for _ in range(self.g_steps):  # G steps per D step (trainer.stage_optim; MoCoGAN-HD: 5)
            self._g_phase(stats)
            update_ema(self.G_ema, self.G, ema_beta(self.trainer.batch_size, self.trainer.ema_kimg))
        for i in self.active_slots():
            self._d_phase(i, stats)
        self.step += 1
        self.nimg += self.trainer.batch_size * self.frames_per_clip()
        interval = int(self.augment.interval)
        if self.step % interval == 0:
            self.augment.adjust(self.trainer.batch_size * interval)

    # ------------------------------------------------------------------------------ stages
    def _begin_stage(self) -> None:
        """Enter the current stage once: the generator's hook (e.g. PCA) runs, trainable parameters switch."""
        stage = self.stage
        if not self.stage_started:
            log.info("stage '%s': running the generator's begin_stage hook", stage)
            self.G.begin_stage(stage, self._stage_data(), ema=self.G_ema)
            self.G_ema.load_state_dict(self.G.state_dict())
            self.stage_started = True
        params = list(self.G.stage_parameters(stage))
        ids = {id(p) for p in params}
        for p in self.G.parameters():
            p.requires_grad_(id(p) in ids)
        self._stage_params = params
        self._apply_stage_optim(stage)

    def _apply_stage_optim(self, stage: str) -> None:
        """Optimiser settings of a stage: the trainer's, overridden by ``trainer.stage_optim[stage]``
        (``g_lr``, ``d_lr``, ``betas``, ``g_reg_interval``, ``g_steps``), with the same lazy-reg scaling."""
        cfg = {**self.optim_base, **self.stage_optim.get(stage, {})}

        def configure(opt: torch.optim.Optimizer, lr: float, interval: int | None) -> None:
            for group in opt.param_groups:
                group["lr"], group["betas"] = adam_hyperparameters(lr, cfg["betas"], interval)

        configure(self.opt_G, cfg["g_lr"], cfg["g_reg_interval"])
        for slot, opt in zip(self.slots, self.opt_D):
            configure(opt, cfg["d_lr"], self.trainer.r1_interval if slot.r1_gamma > 0 else None)
        self.g_steps = int(cfg["g_steps"])
        if self.g_steps < 1:
            raise ValueError(f"trainer.stage_optim.{stage}.g_steps must be >= 1, got {self.g_steps}")

    def _stage_data(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        index = self.active_slots()[0] if self.active_slots() else 0
        while True:
            yield self._next_real(index)

    def _advance_stage(self) -> bool:
        """Move past finished stages (zero-budget ones run only their hook). False when training is over."""
        while self.stage_index < len(self.stages):
            name, end_kimg = self.stages[self.stage_index]
            self._begin_stage()
            if self.kimg < end_kimg:
                return True
            if self.stage_index == len(self.stages) - 1:
                return False
            self.stage_index += 1
            self.stage_started = False
            log.info("entering training stage '%s' at kimg %.3f", self.stages[self.stage_index][0], self.kimg)
        return False

    # ------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        rng_local = {**ckpt.capture_rng_state(), "loop_numpy": self.np_rng.bit_generator.state}
        rng_all = [rng_local]
        if dist.is_initialized():
            rng_all = [None] * self.world_size
            torch.distributed.all_gather_object(rng_all, rng_local)
        return ckpt.checkpoint_state(
            nimg=self.nimg,
            step=self.step,
            tick=self.tick,
            components=self.provenance.components,
            G=self.G,
            G_ema=self.G_ema,
            D=[s.D for s in self.slots],
            opt_G=self.opt_G,
            opt_D=self.opt_D,
            augment=self.augment,
            rng=rng_all,
            world_size=self.world_size,
            config=self.provenance.config_text,
            best=self.snapshots.best.state_dict(),
            schedule={
                "stage_index": self.stage_index,
                "stage_started": self.stage_started,
                "tick_start_nimg": self.tick_start_nimg,
                **self.snapshots.state_dict(),
            },
        )

    def load_state_dict(self, state: Mapping[str, Any], *, source: str = "checkpoint") -> None:
        if len(state["D"]) != len(self.slots):
            raise ValueError(f"{source} has {len(state['D'])} discriminator(s) but the config builds {len(self.slots)}")
        try:
            self.G.load_state_dict(state["G"])
            self.G_ema.load_state_dict(state["G_ema"])
            for slot, sd in zip(self.slots, state["D"]):
                slot.D.load_state_dict(sd)
        except RuntimeError as exc:
            raise ValueError(
                f"{source} does not fit the configured networks (was the config changed?): {exc}"
            ) from None
        self.opt_G.load_state_dict(state["opt_G"])
        for opt, sd in zip(self.opt_D, state["opt_D"]):
            opt.load_state_dict(sd)
        self.augment.load_state_dict(state["augment"])
        self.nimg, self.step, self.tick = int(state["nimg"]), int(state["step"]), int(state["tick"])
        self.stage_index, self.stage_started = int(state["stage_index"]), bool(state["stage_started"])
        self.tick_start_nimg = int(state.get("tick_start_nimg", self.nimg))
        self.snapshots.load_state_dict(state)
        rng = state.get("rng") or []
        if len(rng) == self.world_size:
            mine = rng[self.rank]
            ckpt.restore_rng_state(mine)
            self.np_rng.bit_generator.state = mine["loop_numpy"]
        else:
            log.warning(
                "%s was written by %d process(es), this run has %d: RNG streams restart from seed and step",
                source,
                len(rng),
                self.world_size,
            )
            torch.manual_seed(self.runtime.seed * 100003 + self.step * self.world_size + self.rank)
            self.np_rng = np.random.default_rng([self.runtime.seed, self.rank, self.step])
        self._loaders.clear()

    # ------------------------------------------------------------------------------ main loop
    def run_training(self) -> None:
        t = self.trainer
        log.info(
            "training %s from kimg %.3f to %.3f: batch %d videos "
            "(%d per forward, %d accumulation round(s), %d process(es)), stages %s",
            self.provenance.components.get("generator", {}).get("_name_", "G"),
            self.kimg,
            t.total_kimg,
            t.batch_size,
            t.batch_gpu,
            self.num_accum,
            self.world_size,
            [s for s, _ in self.stages],
        )
        self.snapshots.catch_up(self)  # evaluations a kill interrupted, before training goes on (or the run is done)
        if not self._advance_stage():
            return
        bar = None
        # the bar on a terminal; in a log file, a pipe or a cluster job's output, one line per tick (tqdm's \r
        # redraws would pile up into one unreadable line)
        if self.runtime.progress and self.run.writer and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(
                total=t.total_kimg,
                initial=min(self.kimg, t.total_kimg),
                dynamic_ncols=True,
                leave=False,
                mininterval=1.0,
                bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} kimg [{elapsed}<{remaining}{postfix}]",
            )
        stats: dict[str, list[torch.Tensor]] = defaultdict(list)
        tick_start_nimg, tick_start_time = min(self.tick_start_nimg, self.nimg), time.time()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            while True:
                self.train_step(stats)
                done = self.kimg >= t.total_kimg
                if bar is not None:
                    bar.update(min(self.kimg, t.total_kimg) - bar.n)
                tick_over = self.nimg >= tick_start_nimg + t.kimg_per_tick * 1000
                if not done and self.kimg < self.stages[self.stage_index][1] and not tick_over:
                    if self._stop_requested():  # mid-tick: the checkpoint resumes the tick where it is
                        self._interrupt(tick_start_nimg, snapshot=True)
                    continue
                # ---- tick
                record = self._tick_record(stats, tick_start_nimg, tick_start_time)
                stats.clear()
                bad = self._finite_check(record)
                if dist.any_flag(bad is not None, self.device):
                    raise TrainingDiverged(bad or f"a NaN/Inf appeared on another process at kimg {self.kimg:.3f}")
                self.run.append_stats(record)
                if bar is not None:
                    bar.set_postfix_str(self._postfix(record), refresh=False)
                else:
                    left = max(0.0, t.total_kimg - self.kimg) * record["timing/sec_per_kimg"]
                    log.info(f"{self._postfix(record)} | {self.kimg:.2f}/{t.total_kimg:.2f} kimg, ETA {left:.0f} s")
                self.tick += 1
                self.tick_start_nimg = self.nimg  # the next tick starts here (what a checkpoint now records)
                snap, evaluate = self.snapshots.due(self.kimg, done=done)
                if snap:
                    self.snapshots.take(self, evaluate=evaluate)
                self.run.set_status("running", kimg=self.kimg)
                if done:
                    break
                if self._stop_requested():  # at a tick's end: its snapshot (if due) is written already
                    self._interrupt(self.nimg, snapshot=not snap)
                if not self._advance_stage():
                    break
                tick_start_nimg, tick_start_time = self.nimg, time.time()
                if self.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(self.device)
        finally:
            if bar is not None:
                bar.close()

    def _stop_requested(self) -> bool:
        """A stop signal reached any rank (every rank asks at the same step, so all of them stop together)."""
        return self.stop is not None and dist.any_flag(self.stop.requested, self.device)

    def _interrupt(self, tick_start_nimg: int, *, snapshot: bool) -> None:
        """A stop signal after a step: checkpoint it (``snapshot``; mid-tick the tick resumes where it was), record
        ``interrupted``, then hand the signal to the launcher's own handler (``StopRequest.hand_on``). Raises
        ``TrainingInterrupted`` unless every rank's launcher handler let the job go on (submitit bypasses SIGTERM
        and requeues on SIGUSR2), in which case training continues with the checkpoint as a bonus."""
        self.tick_start_nimg = tick_start_nimg
        path = self.run.checkpoints / ckpt.checkpoint_name(self.kimg)
        if snapshot:
            path = self.snapshots.take(self, evaluate=False, samples=False)
        signum = self.stop.signum if self.stop is not None and self.stop.signum is not None else signal.SIGTERM
        interrupted = TrainingInterrupted(signum, self.kimg, path.name)
        self.run.set_status("interrupted", kimg=self.kimg, error=str(interrupted), signal=signal_name(signum))
        log.warning(
            "stopped by %s at kimg %.3f (step %d): checkpoint %s", signal_name(signum), self.kimg, self.step, path
        )
        outcome, code = self.stop.hand_on() if self.stop is not None else ("none", None)
        if not dist.any_flag(outcome != "returned", self.device):  # every launcher handler let the job go on
            log.warning("the launcher's %s handler let the job go on: training continues", signal_name(signum))
            self.stop.signum = None
            self.run.set_status("running", kimg=self.kimg)
            return
        interrupted.exit_code = code if outcome == "exit" else (-1 if outcome == "returned" else None)
        raise interrupted

    def _tick_record(
        self, stats: Mapping[str, list[torch.Tensor]], tick_start_nimg: int, tick_start_time: float
    ) -> dict[str, Any]:
        elapsed = time.time() - tick_start_time
        kimg_done = max(self.nimg - tick_start_nimg, 1) / 1000.0
        values = {k: float(torch.stack(v).float().mean()) for k, v in stats.items() if v}
        values = dist.all_reduce_mean(values, self.device)
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 2**30
        else:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB
        return {
            "tick": self.tick,
            "kimg": round(self.kimg, 6),
            "step": self.step,
            "stage": self.stage,
            **values,
            "augment/p": float(self.augment.p),
            "augment/rt": float(self.augment.rt),
            "timing/sec_per_kimg": elapsed / kimg_done,
            "timing/sec_per_tick": elapsed,
            "memory/peak_gib": peak,
            "time": time.time(),
        }

    def _finite_check(self, record: Mapping[str, Any]) -> str | None:
        for key, value in record.items():
            if key.startswith(("loss/", "scores/")) and not math.isfinite(value):
                return (
                    f"loss '{key}' is {value} at kimg {self.kimg:.3f}; "
                    "training stopped (the last good checkpoint is kept)"
                )
        try:
            check_parameters({"G": self.G, **{s.name: s.D for s in self.slots}}, kimg=self.kimg)
        except TrainingDiverged as exc:
            return str(exc)
        return None

    @staticmethod
    def _postfix(record: Mapping[str, Any]) -> str:
        parts = [f"kimg {record['kimg']:.2f}", f"{record['timing/sec_per_kimg']:.1f} s/kimg"]
        parts += [f"{k.removeprefix('loss/')} {v:.3f}" for k, v in record.items() if k.startswith("loss/")]
        parts.append(f"p {record['augment/p']:.3f}")
        return " | ".join(parts)
