"""Typed settings of ``sgvb eval``, ``sgvb sample``, ``sgvb stats`` and ``sgvb audit``: the schemas Hydra checks
each composed config against (``sgvb train``'s are in ``benchmarks/config/training.py``). Each top-level key's
type and default is written here once; ``conf/<command>.yaml`` inherits it through ``<command>_schema`` in its
defaults list, so ``num_frames=abc`` or ``seeds=x`` fails at composition in one line naming the key. A command
converts its composed config once (``typed_settings``) and reads typed fields from then on: no re-defaulting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import MissingMandatoryValue

Settings = TypeVar("Settings")


@dataclass
class MetricRunSettings:
    """What every command that computes a metric's statistics shares (``sgvb eval``, ``sgvb stats``)."""

    dataset: Any = (
        None  # a dataset option (dataset=frames dataset.path=...); its resolution null = the data's own frame size
    )
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0  # draws the real clip offsets and the generator's latents (num_runs derives one seed per run)
    mode: str = "default"  # default | official (StyleGAN-V-compatible: 1/N covariance, official selection RNG)
    batch_size: Optional[int] = (
        None  # videos (FVD, consistency) or frames (FID) per detector call; null = StyleGAN-V's per-resolution table
    )
    # a folder holding the detector files, or one file when every metric uses that one detector;
    # per metric: metrics=[fvd2048_16f,{_name_:fid50k_full,detector_path:/w/inception-2015-12-05.pt}]
    detector_path: Optional[str] = None
    allow_stand_in_detectors: bool = (
        False  # offline smoke runs only: random detectors of the same architecture (records say stand_in)
    )
    # default mode refuses a metric on fewer items than its name states (fvd2048 on 9 videos);
    # true computes it and the record says so
    allow_fewer: bool = False
    cache_dir: Optional[str] = None  # real-data statistics cache (null = ~/.cache/sgvb/stats or $SGVB_CACHE_DIR/stats)
    progress: bool = True  # a bar per metric and side (rate, ETA) on stderr; one line per step when not a terminal


@dataclass
class FakeSource:
    """``fake``: what ``sgvb eval`` evaluates; exactly one of run_dir, checkpoint, videos."""

    run_dir: Optional[str] = None  # a training run folder: its newest checkpoint (all of them with all_checkpoints)
    checkpoint: Optional[str] = (
        None  # one checkpoint file (ckpt-<kimg>.pt) or an official network pickle (.pkl, uses its G_ema)
    )
    videos: Optional[str] = None  # a folder or .zip of generated videos (frames layout or video files)
    all_checkpoints: bool = False  # every checkpoint of fake.run_dir (oldest first), not only the newest
    ema: bool = True  # G_ema (as in training-time evaluation); false = the raw G


@dataclass
class EvalConfig(MetricRunSettings):
    """The top level of ``sgvb eval``'s config."""

    # names (fvd<N>_<T>f[_subsample<S>f], fid<N>[_full], consistency[<N>_]<T>f) or {_name_: fvd, num_videos: ...};
    # one name alone works too
    metrics: Any = field(default_factory=lambda: ["fvd2048_16f"])
    fake: FakeSource = field(default_factory=FakeSource)
    run_dir: Optional[str] = (
        None  # where metric-<name>.jsonl go (null = the run folder of the checkpoint; nowhere for videos)
    )
    # default | official (StyleGAN-V generators: z and motion noise from the seeded global RNG,
    # as the official metric code)
    noise: str = "default"
    num_runs: int = 1  # repeat the random draws with derived seeds; the record has every run's value, mean and std
    # a reference statistics file (`sgvb stats`, or a cd-fvd .pkl) instead of the dataset;
    # refused when its protocol differs
    real_stats: Optional[str] = None


@dataclass
class StatsConfig(MetricRunSettings):
    """The top level of ``sgvb stats``'s config (``seed`` draws the real clip offsets and is stored in the file;
    ``mode`` only picks the selection rule: the file keeps raw sums, so both covariance conventions work)."""

    metric: Any = "fvd2048_16f"  # any metric with a real side (fvd*, fid*), or {_name_: ..., detector_path: ...}
    out: str = MISSING  # the statistics file (.npz) to write


@dataclass
class SampleConfig:
    """The top level of ``sgvb sample``'s config; ``benchmarks.commands.sample.sample_videos`` takes its defaults from
    here."""

    checkpoint: str = MISSING  # checkpoint file, run folder or official network pickle (.pkl)
    out_dir: Optional[str] = (
        None  # null = <run folder>/samples/sample-<kimg> next to the checkpoint; holds only the per-seed videos
    )
    format: str = "mp4"  # mp4 | gif | frames (a folder of PNGs per video, readable by `sgvb eval`)
    seeds: tuple[int, ...] = (0, 1, 2, 3)  # one video per seed (content and motion both from the seed)
    num_frames: int = 128
    time_step: float = 1.0  # frame spacing in training frames; 0.25 = 4x slow motion (continuous-time generators)
    time_offset: float = 0.0  # start time in frames
    fps: float = 25.0
    truncation_psi: float = 1.0
    preview: bool = True  # also one video tiling all seeds, written next to out_dir (never inside it)
    preview_path: Optional[str] = None  # null = <out_dir>-preview.mp4
    ema: bool = True  # G_ema (false = the raw generator)
    chunk_size: int = 16  # frames rendered at once: memory stays constant in num_frames
    device: str = "auto"
    # default | official: generate.py's draws (seeds=[S] is --seed; video i of num_videos, motion per batch_size)
    noise: str = "default"
    num_videos: Optional[int] = None  # noise=official: generate.py --num_videos (null = 1)
    batch_size: int = 32  # noise=official: generate.py --batch_size (the motion noise is drawn per batch)
    cpu_threads: Optional[int] = None  # torch CPU threads (null = torch's default)
    progress: bool = True  # frames rendered, rate and ETA on stderr; one line per step when not a terminal


AUDIT_DISTORTIONS = (
    "gaussian_blur",
    "gaussian_noise",
    "jpeg",
    "colour_shift",
    "frame_freeze",
    "window_shuffle",
    "segment_reversal",
    "speed_change",
    "loop",
    "flicker",
    "frame_drops",
    "slow_drift",
    "content_switch",
)


@dataclass
class AuditConfig:
    """The top level of ``sgvb audit``'s config (``benchmarks.audit.runner.run_audit`` takes these as arguments)."""

    dataset: Any = None  # a dataset option (dataset=frames dataset.path=...), or preset=quick
    # names or specs; each metric's N should be <= num_videos
    metrics: Any = field(default_factory=lambda: ["fvd64_16f", "consistency64_32f"])
    distortions: Any = field(default_factory=lambda: list(AUDIT_DISTORTIONS))  # `sgvb list distortions`; specs too
    # in (0, 1]; 1 = each distortion's strongest setting (0, the noise floor, is always measured)
    strengths: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    num_videos: int = 64  # videos per half (the dataset needs 2x)
    clip_frames: int = 16  # test-clip length for frame metrics (FID); clip metrics use their own T x subsample
    distortion_batch: int = 16  # videos distorted together (content_switch takes other content from the batch)
    out_dir: str = "results/audit"
    device: str = "auto"
    seed: int = 0
    batch_size: Optional[int] = None  # videos / frames per detector call (null = the metric's default)
    detector_path: Optional[str] = None
    allow_stand_in_detectors: bool = False
    cache_dir: Optional[str] = None  # real-statistics cache: the reference half's features are computed once per metric
    progress: bool = True  # one progress line per audit step (metric x distortion x strength) on stderr


@dataclass
class SampleSizeConfig:
    """The top level of ``sgvb sample-size``'s config (``benchmarks.audit.sample_size.run_sample_size`` takes these
    as arguments)."""

    dataset: Any = None  # a dataset option; benchmarks/conf/sample_size.yaml picks sample_footage (real H.264 clips)
    # study metrics (metrics.sample_size.STUDY_METRICS): fvd, fid (frames), kid (frames), kvd, prdc (4 keys)
    metrics: list[str] = field(default_factory=lambda: ["fvd", "fid", "kid", "kvd", "prdc"])
    # the configurations ranked: the undistorted test half and each distortion at each strength (sgvb list distortions)
    distortions: Any = field(default_factory=lambda: ["gaussian_noise"])
    strengths: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])  # in (0, 1]; 0 is always there
    num_videos: int = 256  # videos per half (reference = real side, test = distorted); the dataset needs 2x
    sizes: Optional[list[int]] = None  # N per side (null = 16, 32, 64, ... up to half of what each side holds)
    repeats: int = 10  # draws per N: the relative std and the mean Kendall tau are over these
    clip_frames: int = 16  # clip length read from every test video (clip metrics use their own, up to this)
    frames_per_clip: int = 2  # frames per clip for frame metrics (FID, KID): spread evenly over the clip
    max_rel_std: float = 0.02  # N_stable: relative std at most this...
    min_tau: float = 0.9  # ...and Kendall tau vs the largest N at least this, for this N and every larger one
    distortion_batch: int = 16  # videos distorted together (content_switch takes other content from the batch)
    out_dir: str = "results/sample_size"  # sample_size.csv, sample_size.png, n_stable.json, summary.md
    device: str = "auto"
    seed: int = 0  # the test clips' offsets, the distortions' noise and the subsets drawn
    batch_size: Optional[int] = None  # videos / frames per detector call (null = 128 frames' worth / 32 frames)
    detector_path: Optional[str] = None  # a folder holding the detector files (i3d, inception)
    allow_stand_in_detectors: bool = False  # CPU smoke runs: random detectors of the real architectures (JSON says so)
    cache_dir: Optional[str] = None  # features of every side are cached here: a second run computes none


@dataclass
class CompareProtocolsConfig:
    """The settings of ``sgvb compare-protocols`` (argparse fills them; ``metrics.published.compare_protocols`` takes
    them as arguments)."""

    real: str = "synthetic"  # a dataset (frames .zip/folder, folder of video files) or synthetic[:SEED]
    fake: str = "synthetic:1"  # generated videos, same forms (synthetic:1 = the built-in data with seed 1)
    resolution: Optional[int] = None  # both sides at this size (null: the real data's own frame size; synthetic 32)
    protocols: Optional[list[str]] = None  # names from metrics.published.PROTOCOLS (null = all)
    num_frames: int = 16  # frames per clip (every protocol)
    num_videos: Optional[int] = None  # clips per side for every protocol (null: each protocol's own, 2048 or 256)
    trials: Optional[int] = None  # repeated draws for every protocol (null: each protocol's own, DIGAN 10)
    synthetic_videos: int = 16  # videos in the built-in synthetic data
    seed: int = 0
    device: str = "auto"
    detector_path: Optional[str] = None  # a folder holding i3d_torchscript.pt, i3d_pretrained_400.pt, VideoMAE's file
    allow_stand_in_detectors: bool = False  # offline smoke runs: random detectors of the same architectures
    stand_in_resolution: Optional[int] = None  # stand-ins' input size (null: their default, 32)
    batch_size: int = 8  # clips per detector call (shared by every protocol)
    out: Optional[str] = None  # a folder for metric-fvd_<protocol>.jsonl records and comparison.md


class SettingsError(ValueError):
    """A composed config that cannot become its typed settings (a required key not given); names the key."""


def typed_settings(cfg: Any, schema: type[Settings]) -> Settings:
    """``cfg`` (a config composed against ``schema``) as a ``schema`` instance, converted once (an instance passes).

    A required key left unset (``???``) fails here, before any work, naming the key to pass.
    """
    if isinstance(cfg, schema):
        return cfg
    try:
        settings = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise SettingsError(f"option '{key}' is required: pass {key}=...") from exc
    if not isinstance(settings, schema):
        raise TypeError(f"expected a config composed against {schema.__name__}, got {type(settings).__name__}")
    return settings


def register_command_schemas() -> None:
    """Store ``eval_schema``, ``sample_schema``, ``stats_schema``, ``audit_schema`` in Hydra's ConfigStore
    (idempotent)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, node in (
        ("eval_schema", EvalConfig),
        ("sample_schema", SampleConfig),
        ("stats_schema", StatsConfig),
        ("audit_schema", AuditConfig),
        ("sample_size_schema", SampleSizeConfig),
    ):
        store.store(name=name, node=node, provider="sgvb")
