"""Build every component of a training run from registry specs and check they fit, before training.

The harness never names a concrete model: the generator declares ``continuous_time``,
``autoregressive`` and ``training_stages``; each discriminator declares ``num_frames`` (set from its
sampler), its default ``sampler`` and ``needs_dense_clips`` (the contracts: ``registry/interfaces.py``).
Every component is checked against its contract when built, and incompatible choices fail here with a
message saying which option to change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from benchmarks.config.training import ConfigError
from registry import (
    AUGMENTATIONS,
    DATASETS,
    DISCRIMINATORS,
    GENERATORS,
    LOSSES,
    SAMPLERS,
    ComponentBuildError,
    UnknownComponentError,
    split_spec,
)
from registry.interfaces import CONTRACTS, VideoDiscriminator, conformance_problems

__all__ = [
    "ConfigError",
    "DiscriminatorSlot",
    "build_augmentation",
    "build_dataset",
    "build_discriminators",
    "build_generator",
    "check_compatibility",
    "discriminator_entries",
    "ema_kimg_value",
    "r1_gamma_value",
    "smoke_test",
]

# Keys of a discriminator entry that belong to the harness, not to the discriminator's constructor.
SLOT_KEYS = ("_sampler_", "_loss_", "_weight_", "_stages_", "_r1_gamma_")
DEFAULT_LOSS = "non_saturating"  # what ``loss=null`` trains with (StyleGAN-V's loss)


@dataclasses.dataclass
class DiscriminatorSlot:
    """One discriminator with the clips it sees and how its loss counts."""

    name: str  # label in logs and stats ("D", or "D0", "D1" ... for several)
    D: torch.nn.Module
    sampler: Any  # FrameSampler
    loss: Any  # GANLoss
    weight: float = 1.0
    stages: tuple[str, ...] | None = None  # None = active in every stage
    r1_gamma: float = 0.0

    def active(self, stage: str) -> bool:
        return self.stages is None or stage in self.stages


def _build(registry, spec, key: str, **runtime):
    """Registry build whose errors name the config key at fault; the result must meet its kind's contract."""
    try:
        built = registry.build(spec, **runtime)
    except (UnknownComponentError, ComponentBuildError, KeyError, TypeError) as exc:
        raise ConfigError(f"config '{key}': {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"config '{key}': {exc}") from exc
    problems = conformance_problems(built, CONTRACTS[registry.kind])
    if problems:
        raise ConfigError(
            f"config '{key}': {registry.kind} does not meet its contract (registry/interfaces.py): "
            + "; ".join(problems)
        )
    return built


def discriminator_entries(spec: Any) -> list[dict[str, Any]]:
    """``discriminator`` is one spec (``_name_`` + kwargs) or ``{discriminators: [spec, ...]}``."""
    if spec is None:
        raise ConfigError("config 'discriminator' is empty: choose one, e.g. discriminator=stylegan_v")
    container = _plain(spec)
    if isinstance(container, str):
        return [{"_name_": container}]
    if isinstance(container, Mapping) and "discriminators" in container:
        extra = sorted(set(container) - {"discriminators"})
        if extra:
            raise ConfigError(
                f"config 'discriminator' holds both a list 'discriminators' and single-discriminator keys {extra}: "
                "replace the group's node instead of merging into it, "
                "e.g. '~discriminator +discriminator={discriminators: [...]}', "
                "or use an option file holding only 'discriminators'"
            )
        entries = container["discriminators"]
        if not isinstance(entries, Sequence) or not entries:
            raise ConfigError("config 'discriminator.discriminators' must be a non-empty list of discriminator specs")
        return [_plain(e) if not isinstance(e, str) else {"_name_": e} for e in entries]
    if isinstance(container, Mapping) and "_name_" in container:
        return [dict(container)]
    raise ConfigError(
        "config 'discriminator' must hold '_name_' (one discriminator) or 'discriminators' (a list), "
        f"got keys {sorted(container)}"
    )


def _plain(node: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(node, (DictConfig, ListConfig)):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return node


def _resolve_auto(value: Any, default: float) -> float:
    return float(default) if value in (None, "auto") else float(value)


def build_discriminators(
    spec: Any,
    *,
    resolution: int,
    default_sampler: Any,
    default_loss: Any,
    r1_gamma: float,
) -> list[DiscriminatorSlot]:
    """Samplers first (they fix each D's ``num_frames``), then the discriminators."""
    entries = discriminator_entries(spec)
    slots = []
    for i, entry in enumerate(entries):
        key = "discriminator" if len(entries) == 1 else f"discriminator.discriminators[{i}]"
        entry = dict(entry)
        harness = {k: entry.pop(k) for k in SLOT_KEYS if k in entry}
        name, _ = split_spec(entry, "discriminator")
        try:
            d_cls = DISCRIMINATORS.get(name)
        except UnknownComponentError as exc:
            raise ConfigError(f"config '{key}': {exc}") from None
        sampler_spec = harness.get("_sampler_")
        sampler_key = f"{key}._sampler_"
        if sampler_spec is None and i == 0 and default_sampler is not None:
            sampler_spec, sampler_key = default_sampler, "sampler"
        if sampler_spec is None:
            sampler_spec, sampler_key = declared_sampler(d_cls), f"{name}.sampler (its declared default)"
        sampler = _build(SAMPLERS, sampler_spec, sampler_key)
        D = _build(DISCRIMINATORS, entry, key, resolution=resolution, num_frames=int(sampler.num_frames))
        if int(D.num_frames) != int(sampler.num_frames):
            raise ConfigError(
                f"config '{key}': discriminator '{name}' takes {D.num_frames} frames "
                f"but its sampler ({sampler_key}) draws {sampler.num_frames}"
            )
        loss_spec = harness.get("_loss_", default_loss if default_loss is not None else DEFAULT_LOSS)
        loss = _build(LOSSES, loss_spec, f"{key}._loss_" if "_loss_" in harness else "loss")
        stages = harness.get("_stages_")
        slots.append(
            DiscriminatorSlot(
                name="D" if len(entries) == 1 else f"D{i}",
                D=D,
                sampler=sampler,
                loss=loss,
                weight=float(harness.get("_weight_", 1.0)),
                stages=tuple(stages) if stages is not None else None,
                r1_gamma=float(harness.get("_r1_gamma_", r1_gamma)),
            )
        )
    return slots


def declared_sampler(d_cls: Any) -> Any:
    """The sampler a discriminator class declares; a factory function declares none, so it gets the contract's
    default."""
    return (
        d_cls.sampler
        if isinstance(d_cls, type) and issubclass(d_cls, VideoDiscriminator)
        else VideoDiscriminator.sampler
    )


def is_dense(sampler: Any, video_length: int, draws: int = 16) -> bool:
    """Does the sampler give consecutive integer frames (what 3D-conv discriminators need)?"""
    rng = np.random.default_rng(0)
    for _ in range(draws):
        t = sampler.sample(video_length, rng, continuous=False)
        if len(t) > 1 and not np.allclose(np.diff(t), 1.0):
            return False
    return True


def check_compatibility(
    G: torch.nn.Module,
    slots: list[DiscriminatorSlot],
    dataset: Any,
    *,
    stages: Sequence[str],
    stage_kimg: Mapping[str, float],
    max_num_frames: int,
) -> None:
    """Fail early, naming the option, on choices that cannot train together."""
    res = int(dataset.resolution)
    if int(G.resolution) != res:
        raise ConfigError(
            f"generator resolution {G.resolution} differs from the dataset's {res}: "
            "leave 'generator.resolution' unset (it comes from the dataset)"
        )
    lengths = [int(dataset.video_length(i)) for i in range(len(dataset))]
    if not lengths:
        raise ConfigError("the dataset has no videos")
    longest = min(max(lengths), max_num_frames)
    for slot in slots:
        if slot.sampler.min_video_length > longest:
            raise ConfigError(
                f"{slot.name}: its sampler needs videos of at least {slot.sampler.min_video_length} frames, "
                f"but the longest usable video has {longest} "
                f"(trainer.max_num_frames={max_num_frames}); choose a shorter clip or a longer dataset"
            )
        if slot.D.needs_dense_clips and not is_dense(slot.sampler, longest):
            raise ConfigError(
                f"{slot.name} ({slot.D._sgvb_spec['_name_']}) needs dense clips of consecutive frames, "
                f"but its sampler {slot.sampler!r} "
                f"draws sparse ones: use sampler=consecutive (or '_sampler_: consecutive' in its entry)"
            )
        if slot.stages is not None and set(slot.stages) - set(stages):
            raise ConfigError(
                f"{slot.name}: '_stages_' names {sorted(set(slot.stages) - set(stages))}, "
                f"but the generator's stages are {list(stages)}"
            )
    unknown = set(stage_kimg) - set(stages)
    if unknown:
        raise ConfigError(
            f"trainer.stage_kimg names {sorted(unknown)}, but the generator's training stages are {list(stages)}"
        )
    for stage in stages:
        if stage_kimg.get(stage, 1) > 0 and not any(s.active(stage) for s in slots):
            raise ConfigError(
                f"no discriminator is active in training stage '{stage}': "
                "set '_stages_' of a discriminator entry or give the stage 0 kimg"
            )


@torch.no_grad()
def smoke_test(G: torch.nn.Module, slots: list[DiscriminatorSlot], dataset: Any, device: torch.device) -> None:
    """One tiny forward pass of G into each D: shape or type mismatches surface now, with names."""
    g_name = G._sgvb_spec["_name_"]
    res = int(dataset.resolution)
    longest = max(int(dataset.video_length(i)) for i in range(min(len(dataset), 64)))
    rng = np.random.default_rng(0)
    for slot in slots:
        d_name = slot.D._sgvb_spec["_name_"]
        length = max(longest, slot.sampler.min_video_length)
        t = torch.tensor(
            np.stack([slot.sampler.sample(length, rng, continuous=G.continuous_time) for _ in range(2)]),
            dtype=torch.float32,
            device=device,
        )
        try:
            z = G.sample_z(2, device=device)
            fake = G(z, t)
        except Exception as exc:
            raise ConfigError(
                f"generator '{g_name}' failed to render clips of {slot.sampler!r} (t {tuple(t.shape)}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        expected = (2, t.shape[1], 3, res, res)
        if tuple(fake.shape) != expected:
            raise ConfigError(
                f"generator '{g_name}' returned {tuple(fake.shape)} for t {tuple(t.shape)}; "
                f"expected {expected} [B, T, 3, H, W]"
            )
        try:
            logits = slot.D(fake, t)
        except Exception as exc:
            raise ConfigError(
                f"discriminator '{d_name}' ({slot.name}) does not accept clips of generator '{g_name}': "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if tuple(logits.shape) != (2,):
            raise ConfigError(f"discriminator '{d_name}' returned logits {tuple(logits.shape)}; expected [B] = (2,)")


def build_dataset(spec: Any):
    return _build(DATASETS, spec, "dataset")


def build_generator(spec: Any, *, resolution: int):
    return _build(GENERATORS, spec, "generator", resolution=resolution)


def build_augmentation(spec: Any):
    if spec is None:
        spec = "none"
    return _build(AUGMENTATIONS, spec, "augmentation")


def r1_gamma_value(value: Any, *, resolution: int, batch_size: int) -> float:
    """``auto`` = StyleGAN2-ADA's heuristic 0.0002 * res^2 / batch (0.2048 at 256^2, batch 64, as StyleGAN-V runs)."""
    return _resolve_auto(value, 0.0002 * resolution**2 / batch_size)


def ema_kimg_value(value: Any, *, batch_size: int) -> float:
    """``auto`` = batch * 10 / 32 (20 kimg at batch 64, the official effective value)."""
    return _resolve_auto(value, batch_size * 10 / 32)
