"""Every contract a component keeps, in one file: what the harness and the metrics call, with do-nothing defaults.

A plugin author subclasses the contract of its kind, sets the attributes it declares, implements the
methods marked "implement" and overrides a hook only to change its default. The harness never asks
whether a hook exists (no ``getattr`` fallbacks): it calls the method, and the default here is what
happens for a component that does not care. ``sgvb check-plugin NAME`` builds a component at tiny
size and runs it through its contract.

    kind            contract               implement                              hooks (defaults)
    generator       VideoGenerator         forward                                begin_stage, stage_parameters, auxiliary_losses
    discriminator   VideoDiscriminator     forward                                -
    loss            GANLoss                generator, discriminator               penalty (with gp_weight > 0)
    sampler         FrameSampler           sample, min_video_length, max_span     -
    dataset         VideoDataset           __len__, video_name, video_length,     -
                                           read_frames, fingerprint
    augmentation    VideoAugmentation      forward                                accumulate, adjust
    metric          Metric                 compute                                -
    detector        Detector               forward                                -

Tensor conventions (stated once, kept everywhere):
  * on disk and in datasets: uint8 ``[T, H, W, C]`` (C = 3), frames in time order;
  * inside models: float videos ``[B, T, C, H, W]`` in [-1, 1];
  * time stamps: float ``[B, T]`` in frame units (t = 0 is the first frame), sorted per row;
  * at the metric boundary only: uint8 ``[B, T, H, W, C]`` or ``[B, C, T, H, W]`` (detector input).
"""
from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


# ----------------------------------------------------------------------------------------- models
class VideoGenerator(nn.Module):
    """A video generator: ``G(z [B, z_dim], t [B, T], motion_noise=None, truncation_psi=1) -> [B, T, 3, H, W]`` in [-1, 1].

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

    def sample_z(self, batch_size: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> torch.Tensor:
        """Content codes ``[B, z_dim]``."""
        device = device if device is not None else _module_device(self)
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
    def begin_stage(self, stage: str, real_batches: Iterator[tuple[torch.Tensor, torch.Tensor]], *, ema: nn.Module | None = None) -> None:
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

    def penalty(self, discriminator: nn.Module, real_frames: torch.Tensor, fake_frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The loss's own D regulariser ``[B]``, already weighted (called only when ``gp_weight > 0``). Default: 0."""
        return real_frames.new_zeros(real_frames.shape[0])


class FrameSampler:
    """Which times of a video make one clip: ``sample(video_length, rng, continuous=False) -> float64 [num_frames]``, sorted.

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
                f"{self!r} needs videos of at least {self.min_video_length} frames, got a video of {video_length} frames"
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
            raise ValueError(f"frame indices must be integers, got {list(frame_indices)} for video '{self.video_name(i)}'")
        length = self.video_length(i)
        bad = [k for k in indices if not 0 <= k < length]
        if bad:
            raise IndexError(f"frame index {bad[0]} out of range for video '{self.video_name(i)}' ({length} frames)")
        return indices

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} videos, resolution={self.resolution})"


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
class Metric:
    """A registered metric: ``compute(ctx, fake, real) -> metrics.base.MetricOutput``.

    ``ctx`` is ``metrics.base.EvalContext`` (device, seed, mode, ranks, ``ctx.detector(...)``, the
    real-statistics cache); ``fake`` a ``VideoGenerator`` or ``VideoDataset``, ``real`` a ``VideoDataset``.
    ``name`` encodes the protocol (``fvd2048_16f``), so one name always means one number.
    """

    _required = ("name",)
    _abstract = ("compute",)
    _hooks = ()

    name: str
    PROTOCOL_VERSION = 1  # bump when the code defining the number changes (tests/test_protocol.py)
    shares_real_statistics = False  # True: the real side goes through ``real_statistics`` (``sgvb stats`` files work)
    direction = "lower"  # which way is better: "lower" (distances) or "higher" (Inception Scores); tables read it

    def compute(self, ctx: Any, fake: Any, real: Any) -> Any:
        raise NotImplementedError


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


# kind (as the registries name it) -> its contract
CONTRACTS: dict[str, type] = {
    "generator": VideoGenerator,
    "discriminator": VideoDiscriminator,
    "loss": GANLoss,
    "sampler": FrameSampler,
    "dataset": VideoDataset,
    "augmentation": VideoAugmentation,
    "metric": Metric,
    "detector": Detector,
}


def conformance_problems(obj: Any, contract: type) -> list[str]:
    """What keeps a built component from meeting ``contract`` (empty when it conforms).

    Checks the subclass, the declared instance attributes, that every "implement" method is
    implemented, and that every overridden hook still accepts the call the harness makes.
    """
    where = f"{type(obj).__module__}:{type(obj).__qualname__}"
    if not isinstance(obj, contract):
        return [f"{where} is not a subclass of registry.interfaces.{contract.__name__}"]
    problems = [f"{where} does not set '{a}' (declared by {contract.__name__})" for a in contract._required if not hasattr(obj, a)]
    cls = type(obj)
    problems += [
        f"{where} does not implement '{m}' ({contract.__name__})"
        for m in contract._abstract
        if m != "forward" and inspect.getattr_static(cls, m) is inspect.getattr_static(contract, m)
    ]
    if "forward" in contract._abstract and cls.forward is nn.Module.forward:
        problems.append(f"{where} does not implement 'forward' ({contract.__name__})")
    for hook in contract._hooks:
        override, base = inspect.getattr_static(cls, hook), inspect.getattr_static(contract, hook)
        if override is base:
            continue
        args, kwargs = _harness_call(base)
        try:
            inspect.signature(override).bind(obj, *args, **kwargs)
        except TypeError as exc:
            problems.append(f"{where}.{hook}{inspect.signature(override)} cannot take the harness's call "
                            f"{contract.__name__}.{hook}{inspect.signature(base)}: {exc}")
    return problems


def _harness_call(method: Any) -> tuple[list[None], dict[str, None]]:
    """Placeholders for the arguments the harness always passes: required positionals and keyword-only ones."""
    params = list(inspect.signature(method).parameters.values())[1:]  # drop self
    args = [None for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    kwargs = {p.name: None for p in params if p.kind is p.KEYWORD_ONLY}
    return args, kwargs


def _module_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")
