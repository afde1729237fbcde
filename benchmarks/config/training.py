"""Typed settings of a training run: the schemas Hydra checks a composed config against, and the grouped
settings objects ``TrainingLoop`` takes. Each default is written here once; ``conf/trainer/*.yaml`` presets
inherit it through their defaults list, so a wrong type (``trainer.batch_size=abc``) fails at composition,
naming the key.

``train_config(cfg)`` is the one conversion of a composed config: ``sgvb train`` calls it on what Hydra
composed, and from there on only the typed ``TrainConfig`` travels (its groups: ``trainer``, ``samples``,
``runtime``, ``evaluation``); nothing below re-reads or re-defaults a key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional


class ConfigError(ValueError):
    """A configuration value that cannot work, found before training starts."""


@dataclass
class TrainerSettings:
    """``trainer``: the official StyleGAN-V schedule at 256x256 (4 GPUs x 16 videos); reference notes section 4."""

    total_kimg: float = 25000  # kimg counts frames (videos x frames per clip), as the official code does
    stage_kimg: dict[str, float] = field(
        default_factory=dict
    )  # budgets of all but the last stage of multi-stage generators, e.g. {image: 500, pca: 0}
    # per-stage optimiser overrides {stage: {g_lr, d_lr, betas, g_reg_interval, g_steps}}, e.g. MoCoGAN-HD's
    # {motion: {g_lr: 1e-4, d_lr: 1e-4, betas: [0.5, 0.999], g_steps: 5}}
    stage_optim: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 64  # videos per step over all processes
    batch_gpu: int = 16  # videos per forward pass; smaller = gradient accumulation
    kimg_per_tick: float = 5  # kimg between ticks: a stats.jsonl row, a log line, the NaN check
    snapshot_kimg: float = 1000  # samples + checkpoint
    eval_kimg: float = 1000  # metrics (a snapshot is written too)
    keep_checkpoints: int = 5  # newest N kept, plus the best
    best_metric: Optional[str] = "fvd2048_16f"  # a metric of `metrics`; better = its registered direction; null = none
    g_lr: float = 0.0025  # generator learning rate (Adam)
    d_lr: float = 0.0025  # discriminator learning rate (Adam)
    betas: list[float] = field(default_factory=lambda: [0.0, 0.99])  # Adam (beta1, beta2) of G and D
    g_reg_interval: Optional[int] = (
        4  # G's Adam scaled as if regularised every N steps, as the official code does (lr 0.002, beta2 0.99^0.8)
    )
    r1_gamma: Any = "auto"  # 'auto' = 0.0002 * res^2 / batch_size (0.2048 at 256^2, batch 64), or a number
    r1_interval: int = 16  # lazy R1: D lr x 16/17, beta2 0.99^(16/17), penalty x 16 every 16 steps
    ema_kimg: Any = "auto"  # 'auto' = batch_size * 10 / 32 thousand videos (20 at batch 64), no ramp-up; or a number
    num_workers: int = 3  # data-loading worker processes per training process (0 = load in the main process)
    max_num_frames: int = 1024  # real videos are cut to a random window of this many frames


@dataclass
class SampleSettings:
    """``samples``: written at every snapshot into samples/."""

    videos: int = 9  # grid of fixed latents (GIF + MP4)
    frames: int = 16  # frames per video of the grid
    long_frames: int = 128  # one long video (MP4)
    fps: float = 25.0  # frame rate of the written GIF/MP4 samples


@dataclass(frozen=True)
class RuntimeSettings:
    """How the networks run (not what they learn)."""

    seed: int = 0  # seeds initialisation, data order, augmentation and noise; a grid's seed=0,1,2 repeat one config
    precision: str = "bf16"  # bf16 autocast on CUDA (CPU always fp32) | fp32
    channels_last: bool = False  # NHWC memory layout for the convolutions (faster on CUDA tensor cores)
    compile: bool = False  # torch.compile the G and D forward passes (R1 stays eager)
    fused_adam: bool = False  # torch.optim.Adam(fused=True): one kernel for all parameters
    progress: bool = True  # a progress bar (kimg, rate, ETA) on a terminal; false, or not a terminal: a line per tick


@dataclass(frozen=True)
class EvalSettings:
    """Metrics at each evaluation and the keyword arguments ``metrics.evaluate`` gets for them."""

    metrics: tuple[Any, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Provenance:
    """What every checkpoint records about the run: the components' registry specs and the resolved config."""

    components: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""


@dataclass
class TrainConfig:
    """The top level of ``sgvb train``'s config; component groups stay free-form (each component checks its own
    keyword arguments when the registry builds it). ``RuntimeSettings``' fields sit flat at the top level; their
    defaults are written there once. Each field's comment is its line in ``sgvb train --help``: write it for users."""

    generator: Any = None  # the video generator: generator=<name> (sgvb list generators); generator.<key>=... its args
    discriminator: Any = None  # discriminator=<name>; a list gives several discriminators, each with its own sampler
    sampler: Any = None  # how real and fake clips are drawn (frames per clip, their spacing): sampler=<name>
    dataset: Any = None  # the real videos: dataset=frames|videos|synthetic|<benchmark> with dataset.path=...
    loss: Any = None  # the GAN loss (with its R1 penalty): loss=<name>
    augmentation: Any = None  # augmentation of the discriminator's inputs (ADA by default): augmentation=<name>
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    samples: SampleSettings = field(default_factory=SampleSettings)
    seed: int = RuntimeSettings.seed  # seeds initialisation, data order, augmentation and noise (grids: seed=0,1,2)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = RuntimeSettings.precision
    channels_last: bool = RuntimeSettings.channels_last  # NHWC memory layout (faster convolutions on CUDA)
    compile: bool = RuntimeSettings.compile
    fused_adam: bool = RuntimeSettings.fused_adam
    cpu_threads: Optional[int] = (
        None  # torch CPU threads per process (null = torch's default); 1 when jobs share few cores
    )
    nproc: int = 1  # processes on this machine (torch.multiprocessing.spawn); torchrun also works
    # official network pickle (network-snapshot-*.pkl): its G/D/G_ema, ADA p, Adam states and kimg start the run
    init_from: Optional[str] = None
    # auto = continue the run folder's latest checkpoint (a finished run does nothing) | null | <ckpt or run folder>
    resume: Any = "auto"
    run_dir: Optional[str] = None  # null = Hydra's output dir
    allow_change: list[str] = field(
        default_factory=list
    )  # on resume, keys that may differ from the run's config; recorded in run.json
    metrics: list[Any] = field(
        default_factory=list
    )  # e.g. [fvd2048_16f, fvd2048_128f, fvd2048_128f_subsample8f, fid50k_full] (official)
    allow_stand_in_detectors: bool = (
        False  # offline: untrained detectors of the same architecture (results marked stand_in)
    )
    allow_fewer: bool = (
        False  # let a metric run on fewer items than its name states (the record says so: fewer_than_name)
    )
    cache_dir: Optional[str] = None  # real-data statistics cache (null = ~/.cache/sgvb/stats or SGVB_CACHE_DIR)
    detector_path: Optional[str] = None  # a detector file for the metrics (see sgvb eval)
    progress: bool = RuntimeSettings.progress  # bar (kimg, rate, ETA) on a terminal, else a line per tick

    @property
    def runtime(self) -> RuntimeSettings:
        """The ``RuntimeSettings`` fields, which the config keeps flat at its top level."""
        return RuntimeSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(RuntimeSettings)})

    @property
    def evaluation(self) -> EvalSettings:
        """The metrics and the keyword arguments ``metrics.evaluate`` gets for each (unset paths: its defaults)."""
        options: dict[str, Any] = {
            "allow_stand_in_detectors": self.allow_stand_in_detectors,
            "allow_fewer": self.allow_fewer,
        }
        paths = {"cache_dir": self.cache_dir, "detector_path": self.detector_path}
        options.update({key: path for key, path in paths.items() if path is not None})
        return EvalSettings(metrics=tuple(self.metrics), options=options)

    def as_dict(self) -> dict[str, Any]:
        """The config as plain containers: what ``config.yaml`` holds and the run identity hashes."""
        return dataclasses.asdict(self)


def train_config(cfg: Any) -> TrainConfig:
    """THE conversion: a composed ``sgvb train`` config (a ``DictConfig`` typed by ``train_schema``) as a
    ``TrainConfig``, every value checked and defaulted by the schema, every interpolation resolved."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        config = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        where = f" key {key!r}" if key else ""
        raise ConfigError(f"config{where} cannot be read: {str(exc).splitlines()[0]}") from None
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"expected a config composed from 'train' (train_schema), got {type(config).__name__}")
    check_ranges(config)
    return config


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# key: (test, what the key must be); 'auto' strings are checked where they are resolved
_RANGES: dict[str, tuple[Any, str]] = {
    "trainer.total_kimg": (lambda v: v > 0, "> 0 (thousands of frames to train)"),
    "trainer.kimg_per_tick": (lambda v: v > 0, "> 0"),
    "trainer.snapshot_kimg": (lambda v: v >= 0, ">= 0 (0: a snapshot at the end only)"),
    "trainer.eval_kimg": (lambda v: v >= 0, ">= 0 (0: an evaluation at the end only)"),
    "trainer.keep_checkpoints": (lambda v: v >= 0, ">= 0 (0: keep all)"),
    "trainer.batch_size": (lambda v: v >= 1, ">= 1"),
    "trainer.batch_gpu": (lambda v: v >= 1, ">= 1"),
    "trainer.g_lr": (lambda v: v > 0, "> 0"),
    "trainer.d_lr": (lambda v: v > 0, "> 0"),
    "trainer.betas": (lambda v: len(v) == 2 and all(_number(b) and 0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    "trainer.g_reg_interval": (lambda v: v is None or v >= 1, ">= 1 or null"),
    "trainer.r1_gamma": (lambda v: v == "auto" or (_number(v) and v >= 0), "'auto' or a number >= 0"),
    "trainer.r1_interval": (lambda v: v >= 0, ">= 0 (0: no R1)"),
    "trainer.ema_kimg": (lambda v: v == "auto" or (_number(v) and v >= 0), "'auto' or a number >= 0"),
    "trainer.num_workers": (lambda v: v >= 0, ">= 0"),
    "trainer.max_num_frames": (lambda v: v >= 1, ">= 1"),
    "trainer.stage_kimg": (lambda v: all(_number(k) and k >= 0 for k in v.values()), "budgets >= 0"),
    "samples.videos": (lambda v: v >= 0, ">= 0"),
    "samples.frames": (lambda v: v >= 1, ">= 1"),
    "samples.long_frames": (lambda v: v >= 0, ">= 0 (0: no long video)"),
    "samples.fps": (lambda v: v > 0, "> 0"),
    "seed": (lambda v: v >= 0, ">= 0"),
    "nproc": (lambda v: v >= 1, ">= 1"),
    "cpu_threads": (lambda v: v is None or v >= 1, ">= 1 or null"),
}


def check_ranges(config: TrainConfig) -> None:
    """Refuse, in one line naming the key, a value the harness cannot train with (``trainer.total_kimg=-5``): before
    any folder or file is created."""
    for key, (test, want) in _RANGES.items():
        value: Any = config
        for part in key.split("."):
            value = getattr(value, part)
        try:
            ok = bool(test(value))
        except (TypeError, AttributeError):
            ok = False
        if not ok:
            raise ConfigError(f"config '{key}' = {value!r}: must be {want}")


def register_schemas() -> None:
    """Store the schemas in Hydra's ConfigStore: ``trainer/default`` is the schema itself, ``train_schema`` the
    base of ``train.yaml``. Idempotent; runs when ``benchmarks.conf`` is imported (Hydra imports it to read it)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver(
        "sgvb_or", lambda value, default: default if value in (None, "None", "") else value, replace=True
    )
    store = ConfigStore.instance()
    store.store(group="trainer", name="default", node=TrainerSettings, provider="sgvb")
    store.store(name="train_schema", node=TrainConfig, provider="sgvb")
