"""Every contract a component keeps, in one file: what the harness and the metrics call, with do-nothing defaults.

A plugin author subclasses the contract of its kind, sets the attributes it declares, implements the
methods marked "implement" and overrides a hook only to change its default. The harness never asks
whether a hook exists (no ``getattr`` fallbacks): it calls the method, and the default here is what
happens for a component that does not care. ``sgvb check-plugin NAME`` builds a component at tiny
size and runs it through its contract.

    kind                 contract             implement                            hooks (defaults)
    generator            VideoGenerator       forward                              begin_stage, stage_parameters,
                                                                                   auxiliary_losses
    discriminator        VideoDiscriminator   forward                              -
    positional_encoding  PositionalEncoding   forward                              -
    loss                 GANLoss              generator, discriminator             penalty (with gp_weight > 0)
    sampler              FrameSampler         sample, min_video_length, max_span   -
    dataset              VideoDataset         __len__, video_name, video_length,   -
                                              read_frames, fingerprint
    preparer             DatasetPreparer      jobs                                 -
    augmentation         VideoAugmentation    forward                              accumulate, adjust
    metric               Metric               compute                              real_side (shares_real_statistics)
    detector             Detector             forward                              -
    distortion           Distortion           apply                                parameter

Tensor conventions (stated once, kept everywhere):
  * on disk and in datasets: uint8 ``[T, H, W, C]`` (C = 3), frames in time order;
  * inside models: float videos ``[B, T, C, H, W]`` in [-1, 1];
  * time stamps: float ``[B, T]`` in frame units (t = 0 is the first frame), sorted per row;
  * at the metric boundary only: uint8 ``[B, T, H, W, C]`` or ``[B, C, T, H, W]`` (detector input).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn


# ----------------------------------------------------------------------------------------- models
class VideoGenerator(nn.Module):
    """A video generator: ``G(z [B, z_dim], t [B, T], motion_noise=None, truncation_psi=1) -> [B, T, 3, H, W]``
    in [-1, 1].

    Declares (class attributes; the harness reads them, never the model's name):
      * ``continuous_time``: frames at any real t (StyleGAN-V, DIGAN); False = integer t only (LSTM/GRU models);
      * ``autoregressive``: frames depend on earlier frames, so long videos are unrolled from t = 0;
      * ``training_stages``: names of the stages the harness runs in order (e.g. ``("image", "pca", "motion")``);
        the config gives every stage but the last a kimg budget (``trainer.stage_kimg``);
      * ``batch_defines_draws``: its random draws depend on how videos are split into batches (the
        official noise: z, then motion noise, per batch), so metrics keep the requested batch size.
    Instances carry ``z_dim`` and ``resolution`` (the harness passes ``resolution`` to the constructor).
    """

    _required = ("z_dim", "resolution")
    _abstract = ("forward",)
    _hooks = ("begin_stage", "stage_parameters", "auxiliary_losses", "sample_z", "sample_motion_noise")

    continuous_time: bool = True
    autoregressive: bool = False
    training_stages: tuple[str, ...] = ("main",)
    batch_defines_draws: bool = False

    z_dim: int
    resolution: int

    def sample_z(
        self, batch_size: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Content codes ``[B, z_dim]``."""
        device = device if device is not None else module_device(self)
        return torch.randn(batch_size, self.z_dim, generator=generator, device="cpu").to(device)

    def sample_motion_noise(self, batch_size: int, max_t: float, generator: torch.Generator | None = None) -> Any:
        """Whatever randomness fixes a video's motion up to time ``max_t`` (None when the model has none).

        Passing the same object to several ``forward`` calls renders frames of one video in pieces.
        """
        return None

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
        """Yield ``[B, <=chunk_size, 3, H, W]`` pieces of the video at times ``t [B, T]``.

        Memory stays constant in T: motion randomness is fixed once, then frames are made chunk by chunk.
        Autoregressive models override this to unroll their recurrence.
        """
        if motion_noise is None:
            motion_noise = self.sample_motion_noise(z.shape[0], float(t.max()), generator=generator)
        for start in range(0, t.shape[1], chunk_size):
            yield self(z, t[:, start : start + chunk_size], motion_noise=motion_noise, truncation_psi=truncation_psi)

    @torch.no_grad()
    def generate_long(self, z: torch.Tensor, t: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """A whole video ``[B, T, 3, H, W]`` made with ``iter_frames`` (gathered on the CPU)."""
        return torch.cat([chunk.cpu() for chunk in self.iter_frames(z, t, **kwargs)], dim=1)

    # ---------------------------------------------------------------- training hooks (called by the harness)
    def begin_stage(
        self, stage: str, real_batches: Iterator[tuple[torch.Tensor, torch.Tensor]], *, ema: nn.Module | None = None
    ) -> None:
        """Called once when a training stage starts (not again on resume). Default: nothing.

        ``real_batches`` yields real ``(frames [B, k, C, H, W] in [-1, 1], times [B, k])`` batches (lazily:
        unused costs nothing); ``ema`` is the harness's G_ema. What the hook computes (e.g. MoCoGAN-HD's
        PCA basis) must live in parameters or buffers so checkpoints carry it; the harness copies G into
        G_ema right after the hook.
        """

    def stage_parameters(self, stage: str) -> Iterable[nn.Parameter]:
        """What G's optimiser trains in ``stage``; the others are frozen. Default: every parameter."""
        return self.parameters()

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        """Generator-side loss terms of the last ``forward`` (scalars), added to the G loss with weight 1
        and logged as ``loss/G_<name>`` (MoCoGAN-HD's mutual information). Default: none."""
        return {}


class VideoDiscriminator(nn.Module):
    """A video discriminator: ``D(frames [B, k, 3, H, W], t [B, k]) -> logits [B]``.

    Declares ``num_frames`` (k, fixed at construction from the ``num_frames`` the harness passes with
    ``resolution``; 1 for an image discriminator) and ``sampler``: the registry name (or spec) of the frame
    sampler its clips come from by default, e.g. ``"sparse_random"``, ``"consecutive"``, ``"beta_pair"``.
    ``needs_dense_clips`` marks discriminators that need k consecutive integer frames (3D convolutions).
    """

    _required = ("num_frames",)
    _abstract = ("forward",)
    _hooks = ()

    num_frames: int
    sampler: Any = "sparse_random"
    needs_dense_clips: bool = False


class PositionalEncoding(nn.Module):
    """A time embedding for a continuous-time generator (StyleGAN-V's ``positional_encoding``):
    ``forward(t [N], codes [N, 2, D] | None, code_times [N, 2] | None) -> v [N, out_dim]`` float32, N = B*T frames.

    The generator's motion network makes a motion code every few frames; each frame gets the two codes around
    its time: ``codes[:, 0]`` made at ``code_times[:, 0] <= t`` and ``codes[:, 1]`` at ``code_times[:, 1] > t``
    (float64, so phases at t ~ 1e5 keep their precision). Only plain tensors cross this line, so an encoding
    needs nothing from the generator's internals. Declares ``out_dim`` (size of v; 0 = no time input) and
    ``needs_motion``: with False the generator runs no motion network and passes ``codes = code_times = None``.
    The generator passes ``motion_dim`` (D) to the constructor when the constructor takes it.
    """

    _required = ("out_dim",)
    _abstract = ("forward",)
    _hooks = ()

    out_dim: int
    needs_motion: bool = False

    def __init__(self) -> None:  # not nn.Module's ``**kwargs``: an encoding without one is offered no motion_dim
        super().__init__()

    def forward(
        self, t: torch.Tensor, codes: torch.Tensor | None = None, code_times: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Implement: v(t) ``[N, out_dim]`` float32 for frame times ``t [N]``."""
        raise NotImplementedError

    @staticmethod
    def interpolation_weight(t: torch.Tensor, code_times: torch.Tensor) -> torch.Tensor:
        """Where each frame lies between its two codes: ``(t - t_0) / (t_1 - t_0)`` in [0, 1), float64 ``[N]``."""
        return (t.double() - code_times[:, 0]) / (code_times[:, 1] - code_times[:, 0])


# ----------------------------------------------------------------------------------------- training
class GANLoss:
    """Per-sample adversarial losses from discriminator logits ``[B]`` (one logit per clip).

    The loop owns networks, phases and weights, so a loss is a few lines. Lazy R1 is the harness's
    (``trainer.r1_gamma``), the same for every loss. Declares:
      * ``needs_real_logits_for_generator``: the G loss also gets D's logits on a real batch,
        ``generator(fake_logits, real_logits=...)`` (relativistic losses);
      * ``gp_weight``: > 0 makes the harness add ``penalty(...)`` to every D step (WGAN-GP).
    """

    _required = ()
    _abstract = ("generator", "discriminator")
    _hooks = ("generator", "discriminator", "penalty")

    needs_real_logits_for_generator: bool = False
    gp_weight: float = 0.0

    def generator(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """Implement: the generator's loss ``[B]``; ``real_logits`` only with ``needs_real_logits_for_generator``."""
        raise NotImplementedError

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Implement: (loss on real clips, loss on fake clips), each ``[B]``."""
        raise NotImplementedError

    def penalty(
        self, discriminator: nn.Module, real_frames: torch.Tensor, fake_frames: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """The loss's own D regulariser ``[B]``, already weighted (called only when ``gp_weight > 0``). Default: 0."""
        return real_frames.new_zeros(real_frames.shape[0])


class FrameSampler:
    """Which times of a video make one clip: ``sample(video_length, rng, continuous=False) -> float64 [num_frames]``,
    sorted.

    Draws use only the given ``numpy.random.Generator`` (reproducible, worker-safe). Real clips use
    integer times (``continuous=False``); a continuous-time generator gets the same pattern at a real
    offset. Declares ``num_frames``; the discriminator and generator query ``min_video_length`` and
    ``max_span`` instead of branching on the sampler's name.
    """

    _required = ("num_frames",)
    _abstract = ("sample", "min_video_length", "max_span")
    _hooks = ()

    num_frames: int

    @property
    def min_video_length(self) -> int:
        """Implement: the shortest video this sampler can draw a clip from."""
        raise NotImplementedError

    @property
    def max_span(self) -> int:
        """Implement: the largest distance between the first and last frame of a clip."""
        raise NotImplementedError

    def sample(self, video_length: int, rng: np.random.Generator, continuous: bool = False) -> np.ndarray:
        """Implement: sorted times ``[num_frames]`` in ``[0, video_length - 1]``."""
        raise NotImplementedError

    def _check_length(self, video_length: int) -> int:
        video_length = int(video_length)
        if video_length < self.min_video_length:
            raise ValueError(
                f"{self!r} needs videos of at least {self.min_video_length} frames, "
                f"got a video of {video_length} frames"
            )
        return video_length

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class VideoDataset:
    """A set of videos, each a sequence of uint8 frames ``[H, W, C]`` at ``resolution`` x ``resolution``.

    Videos are indexed ``0..len-1`` in sorted-name order. ``read_frames`` takes absolute frame indices
    (any order, repeats allowed) and returns uint8 ``[T, H, W, C]``. ``fingerprint`` identifies what
    frames come out (data identity plus every parameter), so metric caches can key on it.
    """

    _required = ("resolution",)
    _abstract = ("__len__", "video_name", "video_length", "read_frames", "fingerprint")
    _hooks = ()

    resolution: int

    def __len__(self) -> int:
        raise NotImplementedError

    def video_name(self, i: int) -> str:
        raise NotImplementedError

    def video_length(self, i: int) -> int:
        raise NotImplementedError

    def read_frames(self, i: int, frame_indices: Sequence[int]) -> torch.Tensor:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ conveniences built on the contract
    def read_video(self, i: int, max_frames: int | None = None) -> torch.Tensor:
        """The first ``max_frames`` frames (all when None) of video ``i`` as uint8 ``[T, H, W, C]``."""
        n = self.video_length(i) if max_frames is None else min(self.video_length(i), max_frames)
        return self.read_frames(i, range(n))

    def lengths(self) -> list[int]:
        return [self.video_length(i) for i in range(len(self))]

    def _check_video_index(self, i: int) -> int:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"{type(self).__name__}: video index {i} out of range (dataset has {n} videos)")
        return int(i) % n

    def _check_frame_indices(self, i: int, frame_indices: Sequence[int]) -> list[int]:
        """Integer frame indices, validated against the video's length (floats must be whole numbers)."""
        indices = [int(round(float(f))) for f in frame_indices]
        if any(abs(float(f) - k) > 1e-6 for f, k in zip(frame_indices, indices)):
            raise ValueError(
                f"frame indices must be integers, got {list(frame_indices)} for video '{self.video_name(i)}'"
            )
        length = self.video_length(i)
        bad = [k for k in indices if not 0 <= k < length]
        if bad:
            raise IndexError(f"frame index {bad[0]} out of range for video '{self.video_name(i)}' ({length} frames)")
        return indices

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} videos, resolution={self.resolution})"


@dataclasses.dataclass
class VideoJob:
    """One output video of ``sgvb prepare``: which source it is made of and how it is cropped.

    ``kind``: ``frames`` (``source`` is a folder of images, sorted by name) or ``video`` (a video file).
    ``start``/``count``: a frame range of the source (RainbowJelly clips); None = everything.
    ``crop``: ``fit`` (shorter side LANCZOS, centre crop), ``crop_resize`` (centre square crop, then
    LANCZOS), ``mask_per_frame``/``mask_per_video`` (square face box from ``mask``, a video aligned with
    ``source``). ``info``: recorded in the manifest (e.g. the UCF101 class).
    """

    KINDS: ClassVar[tuple[str, ...]] = ("frames", "video")
    CROPS: ClassVar[tuple[str, ...]] = ("fit", "crop_resize", "mask_per_frame", "mask_per_video")

    name: str
    source: str
    kind: str
    crop: str = "fit"
    start: int = 0
    count: int | None = None
    mask: str | None = None
    info: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"video job '{self.name}': kind must be one of {', '.join(self.KINDS)}, got '{self.kind}'")
        if self.crop not in self.CROPS:
            raise ValueError(f"video job '{self.name}': crop must be one of {', '.join(self.CROPS)}, got '{self.crop}'")

    def key(self) -> dict:
        """Everything that decides the output; the resume plan compares these."""
        return dataclasses.asdict(self)


class DatasetPreparer:
    """A benchmark from its published raw download: ``jobs(raw, split, options) -> list[VideoJob]``.

    ``sgvb prepare NAME RAW OUT`` calls ``jobs`` and renders every job (decode, crop, resize, JPEG) into
    StyleGAN-V's frames zip with a manifest; NAME is the registered name. A layout that does not match
    raises ``ValueError`` naming the path and the layout expected (one line on the command line).
    Declares what the manifest and ``sgvb prepare --help`` state: ``splits`` and ``default_split``,
    ``resolution``, ``fps``, ``layout`` (the raw layout, in words), ``frame_rate`` and ``preprocessing``
    (the rules, in words), ``options`` (extra command-line options and their defaults, e.g.
    ``{"fold": 1}`` for ``--fold``), ``resamplable`` (``--fps`` applies: video files decoded in order).
    """

    _required = ("layout",)
    _abstract = ("jobs",)
    _hooks = ()

    splits: tuple[str, ...] = ("train", "test", "all")
    default_split: str = "train"  # the paper trains (and takes FVD's real statistics) on the training split
    resolution: int = 256
    fps: float = 25.0  # the frame rate StyleGAN-V's config records (used for visualisation only)
    layout: str
    frame_rate: str = "every source frame, no resampling (the official converters' default); --fps resamples"
    preprocessing: str = (
        "shorter side resized to the resolution with LANCZOS, then centre crop (StyleGAN-V's convert_videos_to_frames)"
    )
    options: dict[str, Any] = {}
    resamplable: bool = True

    def jobs(self, raw: Path, split: str, options: dict[str, Any]) -> list[VideoJob]:
        """Implement: the output videos of ``split`` (one of ``splits``) of the raw download ``raw``;
        ``options`` holds every key of ``self.options``, given or defaulted."""
        raise NotImplementedError


class VideoAugmentation(nn.Module):
    """``aug(videos [B, T, C, H, W] in [-1, 1]) -> same shape``, applied to real and fake clips before D.

    The harness calls ``accumulate(D(real logits))`` after each D step and ``adjust(num_clips)`` every
    ``interval`` steps, and logs ``p`` (strength) and ``rt`` (the overfitting measure). An augmentation
    with a fixed strength keeps the defaults; everything it must resume with goes in ``state_dict()``.
    """

    _required = ()
    _abstract = ("forward",)
    _hooks = ("accumulate", "adjust")

    p: float = 0.0
    rt: float = float("nan")
    interval: int = 4

    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Record D's logits ``[B]`` on real clips of one step. Default: nothing."""

    def adjust(self, num_images: int | float) -> float:
        """Update the strength from what ``accumulate`` saw (``num_images`` real clips since the last call);
        returns ``p``. Default: ``p`` unchanged."""
        return self.p


# ----------------------------------------------------------------------------------------- evaluation
@dataclasses.dataclass
class MetricOutput:
    """What ``Metric.compute`` returns: the headline ``value``, every number it reports by name (``results``),
    how it was measured (``protocol``) and files it wrote (``artifacts``, name -> path)."""

    value: float
    results: dict[str, float]
    protocol: dict[str, Any]
    artifacts: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RealSide:
    """What ``Metric.real_side`` returns: the real side's summed statistics (float64 arrays by name), the
    protocol that defines them (a reference file must match it field by field) and the counts used."""

    arrays: dict[str, np.ndarray]
    protocol: dict[str, Any]
    counts: dict[str, dict[str, int]]


class MetricContext(Protocol):
    """The services a metric's ``compute`` receives (``metrics.base.EvalContext`` is the harness's): device, seed,
    mode and ranks, its detector, the count rule, batched features and the cached real side. Written here as a
    protocol so a plugin metric needs nothing from ``metrics``; the registry imports no higher layer."""

    device: torch.device
    seed: int
    mode: str
    official: bool
    rank: int
    world_size: int

    def detector(
        self, spec: Any, *, stand_in_resolution: int | None = None, metric: str = "metric", video: bool | None = None
    ) -> Detector: ...

    def check_count(self, metric: str, what: str, requested: int, found: int) -> int: ...

    def dataset_features(
        self, detector: Detector, dataset: Any, clips: Sequence[Any], *, batch_size: int
    ) -> Iterator[torch.Tensor]: ...


class ReferenceStatistics(Protocol):
    """A shared real side (``sgvb stats`` file, ``metrics.reference.ReferenceStats``): its arrays are given out
    only for the protocol they were computed under."""

    resolution: int
    counts: dict[str, dict[str, int]]

    def arrays_for(self, expected: dict[str, Any]) -> dict[str, np.ndarray]: ...


class Metric:
    """A registered metric: ``compute(ctx, fake, real) -> MetricOutput``.

    ``ctx`` is the harness's ``metrics.base.EvalContext`` (device, seed, mode, ranks, ``ctx.detector(...)``,
    the real-statistics cache); ``fake`` a ``VideoGenerator`` or ``VideoDataset``; ``real`` a ``VideoDataset``,
    or a ``metrics.reference.ReferenceStats`` file for a metric that ``shares_real_statistics``. ``name``
    encodes the protocol (``fvd2048_16f``), so one name always means one number.

    Types: ``MetricOutput`` and ``RealSide`` are plain records, ``MetricContext`` and ``ReferenceStatistics``
    the protocols of the harness's services (their implementations, with detector loading, caches and file
    I/O, stay in ``metrics``): all live here, with the contract they are part of.
    """

    _required = ("name",)
    _abstract = ("compute",)
    _hooks = ("real_side",)

    name: str
    PROTOCOL_VERSION = 1  # bump when the code defining the number changes (tests/test_protocol.py)
    shares_real_statistics = False  # True: implements ``real_side``; ``real`` may be a reference file (``sgvb stats``)
    direction = "lower"  # which way is better: "lower" (distances) or "higher" (Inception Scores); tables read it
    # The values a result can take, (low, high), None = unbounded: one pair for the key ``<name>``, or a dict from
    # each key's suffix after ``<name>_`` ("" = ``<name>``) to its pair. Tables keep intervals inside it.
    value_range: tuple[float | None, float | None] | dict[str, tuple[float | None, float | None]] = (None, None)

    def range_of(self, key: str) -> tuple[float | None, float | None]:
        """The declared ``value_range`` of the result key ``key`` (``(None, None)`` where nothing is declared)."""
        ranges = self.value_range if isinstance(self.value_range, dict) else {"": self.value_range}
        suffix = "" if key == self.name else key[len(self.name) + 1 :] if key.startswith(f"{self.name}_") else None
        low, high = ranges.get(suffix, (None, None)) if suffix is not None else (None, None)
        return low, high

    def compute(
        self, ctx: MetricContext, fake: VideoGenerator | VideoDataset, real: VideoDataset | ReferenceStatistics
    ) -> MetricOutput:
        """Implement: the metric of ``fake`` against ``real``."""
        raise NotImplementedError

    def real_side(self, ctx: MetricContext, real: VideoDataset) -> RealSide:
        """The real side alone, as ``sgvb stats`` shares it (metrics that ``shares_real_statistics``).

        Default: refused, naming the metric. The built-in Fréchet metrics inherit theirs from ``metrics.base.Metric``.
        """
        raise ValueError(f"metric '{self.name}' has no real-side statistics to share")


class Detector(nn.Module):
    """A frozen feature network with **uint8** input that does its own scaling and resizing.

    Video detectors (``video = True``): ``[B, 3, T, H, W]`` uint8 -> ``[B, feature_dim]`` float32; image
    detectors: ``[N, 3, H, W]`` uint8 -> ``[N, feature_dim]``. Built with ``device`` and ``allow_stand_in``
    (plus ``path`` when a weight file is given). The other attributes describe it in metric records.
    """

    _required = ("name", "feature_dim")
    _abstract = ("forward",)
    _hooks = ()

    video: bool = True  # input [B, 3, T, H, W]; False: images [N, 3, H, W]
    feature_dim: int
    name: str
    sha256: str | None = None
    stand_in: bool = False
    input_resolution: int | None = None  # the size frames are resized to before the network
    seed: int = 0  # a stand-in's initialisation seed
    fake_quantization: str = "round"  # how generated frames become uint8 for this backbone ("truncate": DIGAN/TATS)

    @property
    def identity(self) -> str:
        """What pins the features: the weight file hash, or the stand-in's construction (for cache keys)."""
        if self.sha256:
            return self.sha256
        return f"{self.name}:res{self.input_resolution}:seed{self.seed}:torch{torch.__version__.split('+')[0]}"

    def check_input(self, x: torch.Tensor) -> None:
        want = 5 if self.video else 4
        if x.dtype != torch.uint8 or x.ndim != want or x.shape[1] != 3:
            layout = "[B, 3, T, H, W]" if self.video else "[N, 3, H, W]"
            raise ValueError(f"detector '{self.name}' expects uint8 {layout}, got {x.dtype} {tuple(x.shape)}")


DISTORTION_FAMILIES = ("spatial", "temporal")


class Distortion:
    """A controlled change for ``sgvb audit``:
    ``distortion(videos [B, S, H, W, C] uint8, strength, num_frames, generator) -> [B, num_frames, H, W, C] uint8``.

    ``strength`` in [0, 1]: 0 returns the first ``num_frames`` source frames unchanged (the audit's noise
    floor, handled here); 1 is the strongest setting, which ``parameter(strength)`` maps to the distortion's
    own parameter (``parameter_name``, reported next to the strength). ``family`` (one of
    ``DISTORTION_FAMILIES``): ``spatial`` changes every frame on its own and keeps their order; ``temporal``
    changes the order, timing or continuity of frames, or varies over time. ``context``: source frames read
    per output frame at strength 1 (> 1 for speed changes and frame drops). Randomness only from ``generator``.
    """

    _required = ()
    _abstract = ("apply",)
    _hooks = ("parameter",)

    family: str = "temporal"
    context: float = 1.0
    parameter_name: str = "strength"

    def parameter(self, strength: float) -> float:
        """The distortion's own parameter at ``strength`` (blur sigma, hold length, ...). Default: the strength."""
        return float(strength)

    def source_frames(self, num_frames: int) -> int:
        """Source frames the caller reads for ``num_frames`` output frames: ``ceil(num_frames * context)``."""
        return int(math.ceil(num_frames * self.context - 1e-9))

    def __call__(
        self, videos: torch.Tensor, strength: float, num_frames: int, generator: torch.Generator
    ) -> torch.Tensor:
        self.check_input(videos, num_frames)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"{type(self).__name__}: strength must be in [0, 1], got {strength}")
        if strength == 0:
            return videos[:, :num_frames].clone()
        return self.apply(videos, float(strength), num_frames, generator)

    def apply(self, videos: torch.Tensor, strength: float, num_frames: int, generator: torch.Generator) -> torch.Tensor:
        """Implement: the distorted videos at ``strength`` in (0, 1]."""
        raise NotImplementedError

    def check_input(self, videos: torch.Tensor, num_frames: int) -> None:
        who, needed = type(self).__name__, self.source_frames(num_frames)
        if videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
            raise ValueError(f"{who}: videos must be uint8 [B, S, H, W, 3], got {videos.dtype} {tuple(videos.shape)}")
        if videos.shape[1] < needed:
            raise ValueError(
                f"{who}: needs {needed} source frames for {num_frames} output frames, got {videos.shape[1]}"
            )


# kind (as the registries name it) -> its contract
CONTRACTS: dict[str, type] = {
    "generator": VideoGenerator,
    "discriminator": VideoDiscriminator,
    "positional_encoding": PositionalEncoding,
    "loss": GANLoss,
    "sampler": FrameSampler,
    "dataset": VideoDataset,
    "preparer": DatasetPreparer,
    "augmentation": VideoAugmentation,
    "metric": Metric,
    "detector": Detector,
    "distortion": Distortion,
}


def conformance_problems(obj: Any, contract: type) -> list[str]:
    """What keeps a built component from meeting ``contract`` (empty when it conforms).

    Checks the subclass, the declared instance attributes, that every "implement" method is
    implemented, and that every overridden hook still accepts the call the harness makes.
    """
    where = f"{type(obj).__module__}:{type(obj).__qualname__}"
    if not isinstance(obj, contract):
        return [f"{where} is not a subclass of registry.interfaces.{contract.__name__}"]
    problems = [
        f"{where} does not set '{a}' (declared by {contract.__name__})"
        for a in contract._required
        if not hasattr(obj, a)
    ]
    cls = type(obj)
    problems += [  # still the contract's own (or, for ``forward``, nn.Module's placeholder)
        f"{where} does not implement '{m}' ({contract.__name__})"
        for m in contract._abstract
        if inspect.getattr_static(cls, m) is inspect.getattr_static(contract, m)
    ]
    for hook in contract._hooks:
        override, base = inspect.getattr_static(cls, hook), inspect.getattr_static(contract, hook)
        if override is base:
            continue
        args, kwargs = _harness_call(base)
        try:
            inspect.signature(override).bind(obj, *args, **kwargs)
        except TypeError as exc:
            problems.append(
                f"{where}.{hook}{inspect.signature(override)} cannot take the harness's call "
                f"{contract.__name__}.{hook}{inspect.signature(base)}: {exc}"
            )
    return problems


def _harness_call(method: Any) -> tuple[list[None], dict[str, None]]:
    """Placeholders for the arguments the harness always passes: required positionals and keyword-only ones."""
    params = list(inspect.signature(method).parameters.values())[1:]  # drop self
    args = [None for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    kwargs = {p.name: None for p in params if p.kind is p.KEYWORD_ONLY}
    return args, kwargs


def module_device(module: nn.Module) -> torch.device:
    """Where a module's parameters (else buffers) live; the CPU for a module with neither."""
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")
