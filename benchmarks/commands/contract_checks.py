"""What ``sgvb check-plugin`` checks for each contract: how the harness builds such a component and what it calls.

This is the knowledge of the contracts in ``registry/interfaces.py``: one ``check_<kind>`` function per contract,
the build step the harness uses for such a component (the runtime arguments it passes), the ``Checker`` that
records each outcome, and ``CHECKS``, which maps each contract to its build step and checks. It lives apart from
the command (``benchmarks/commands/check_plugin.py``: arguments, choosing the kinds, printing the report) because
the two change for different reasons: a new or changed contract touches only this module (its check function and
one entry in ``CHECKS``), an option or the report's format only the command, and together they outgrew one
module. The command imports this module, never the other way round.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from registry import SAMPLERS, Registry
from registry.interfaces import (
    DISTORTION_FAMILIES,
    DatasetPreparer,
    Detector,
    Distortion,
    FrameSampler,
    GANLoss,
    Metric,
    PositionalEncoding,
    VideoAugmentation,
    VideoDataset,
    VideoDiscriminator,
    VideoGenerator,
)

CLIP = 3  # frames per probe clip
BATCH = 2
MOTION_DIM = 8  # the motion code size offered to a positional encoding


@dataclasses.dataclass
class CheckResult:
    label: str
    ok: bool
    detail: str = ""
    note: bool = False  # what is deliberately not checked, said so in the report

    def line(self) -> str:
        status = "note" if self.note else ("ok  " if self.ok else "FAIL")
        return f"  {status}  {self.label}" + (f": {self.detail}" if self.detail else "")


class EssentialCheckFailed(Exception):
    """A check the later ones depend on failed."""


class Checker:
    """Runs labelled checks, records each outcome, stops at a failed essential one."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []

    def __call__(self, label: str, fn: Callable[[], Any], *, essential: bool = False) -> Any:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; the report says what
            self.results.append(CheckResult(label, False, f"{type(exc).__name__}: {exc}"))
            if essential:
                raise EssentialCheckFailed from None
            return None
        self.results.append(CheckResult(label, True))
        return value

    def note(self, label: str) -> None:
        self.results.append(CheckResult(label, True, note=True))


@dataclasses.dataclass
class Probe:
    """What the checks of one component get besides it: its registry and spec, the frame size, and what its
    build step prepared (a discriminator's sampler, the runtime arguments the harness passed)."""

    registry: Registry
    spec: dict[str, Any]
    resolution: int
    runtime: dict[str, Any] = dataclasses.field(default_factory=dict)
    sampler: Any = None

    def rebuild(self) -> Any:
        return self.registry.build(self.spec, **self.runtime)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def expect_tensor(x: Any, shape: tuple[int, ...], what: str, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    expect(isinstance(x, torch.Tensor), f"{what} must be a tensor, got {type(x).__name__}")
    expect(tuple(x.shape) == shape, f"{what} has shape {tuple(x.shape)}, expected {shape}")
    expect(
        x.is_floating_point() if dtype is None else x.dtype == dtype,
        f"{what} has dtype {x.dtype}, expected {dtype or 'float'}",
    )
    expect(dtype == torch.uint8 or bool(torch.isfinite(x).all()), f"{what} holds NaN or Inf")
    return x


def _has_grad(params: Iterator[torch.nn.Parameter]) -> bool:
    return any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)


def _probe_times(sampler: Any, continuous: bool) -> torch.Tensor:
    rng = np.random.default_rng(0)
    length = max(int(sampler.min_video_length), 32)
    return torch.tensor(
        np.stack([sampler.sample(length, rng, continuous=continuous) for _ in range(BATCH)]), dtype=torch.float32
    )


def _frames(k: int, resolution: int, *, requires_grad: bool = False) -> torch.Tensor:
    frames = (
        torch.rand(BATCH, k, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)) * 2 - 1
    )  # [B, k, 3, H, W]
    return frames.requires_grad_(requires_grad)


# ----------------------------------------------------------------------------------------- per kind
def check_generator(check: Checker, G: Any, probe: Probe) -> None:
    resolution = probe.resolution

    def declares() -> None:
        expect(int(G.resolution) == resolution, f"resolution is {G.resolution}, the harness asked for {resolution}")
        expect(int(G.z_dim) > 0, f"z_dim must be > 0, got {G.z_dim}")
        stages = G.training_stages
        expect(
            len(stages) > 0 and all(isinstance(s, str) for s in stages),
            f"training_stages must be names, got {stages!r}",
        )

    check(f"declares resolution {resolution}, z_dim, training_stages", declares, essential=True)
    stages = tuple(G.training_stages)
    ema = copy.deepcopy(G)
    check(
        f"begin_stage('{stages[0]}', real_batches, ema=G_ema) (the harness's first call)",
        lambda: G.begin_stage(
            stages[0], iter(lambda: (_frames(CLIP, resolution), torch.zeros(BATCH, CLIP)), None), ema=ema
        ),
    )
    z = check(
        "sample_z(2) -> [2, z_dim]",
        lambda: expect_tensor(G.sample_z(BATCH), (BATCH, int(G.z_dim)), "z"),
        essential=True,
    )
    offset = 0.5 if G.continuous_time else 0.0
    t = torch.arange(CLIP, dtype=torch.float32).expand(BATCH, -1) + offset  # [B, T]
    expected = (BATCH, CLIP, 3, resolution, resolution)
    fake = check(
        f"G(z, t {list(t.shape)}{' at real-valued times' if offset else ''}) -> {list(expected)}",
        lambda: expect_tensor(G(z, t), expected, "G(z, t)"),
        essential=True,
    )

    def backward() -> None:
        (
            fake.float() * torch.randn(fake.shape, generator=torch.Generator().manual_seed(1))
        ).sum().backward()  # a random direction
        expect(_has_grad(G.parameters()), "no parameter got a gradient from the frames")

    check("frames are differentiable in G's parameters", backward)
    long_t = torch.arange(2 * CLIP, dtype=torch.float32).expand(BATCH, -1)
    check(
        f"generate_long(z, t [2, {2 * CLIP}], chunk_size=2) renders in chunks",
        lambda: expect_tensor(
            G.generate_long(z, long_t, chunk_size=2), (BATCH, 2 * CLIP, 3, resolution, resolution), "generate_long"
        ),
    )
    own = {id(p) for p in G.parameters()}
    for stage in stages:
        check(
            f"stage_parameters('{stage}') are G's own parameters",
            lambda stage=stage: expect(
                all(id(p) in own for p in G.stage_parameters(stage)), "a parameter does not belong to G"
            ),
        )

    def auxiliary() -> None:
        aux = G.auxiliary_losses()
        expect(isinstance(aux, dict), f"auxiliary_losses() must return a dict, got {type(aux).__name__}")
        for key, value in aux.items():
            expect_tensor(value, (), f"auxiliary loss '{key}'")

    check("auxiliary_losses() -> {name: scalar}", auxiliary)


def check_discriminator(check: Checker, D: Any, probe: Probe) -> None:
    sampler, resolution = probe.sampler, probe.resolution
    k = int(sampler.num_frames)
    check(
        f"num_frames = {k}, the number its sampler ({sampler!r}) draws",
        lambda: expect(int(D.num_frames) == k, f"num_frames is {D.num_frames}"),
    )
    frames, t = _frames(k, resolution, requires_grad=True), _probe_times(sampler, continuous=False)
    logits = check(
        f"D(frames [2, {k}, 3, {resolution}, {resolution}], t [2, {k}]) -> [2]",
        lambda: expect_tensor(D(frames, t), (BATCH,), "logits"),
        essential=True,
    )

    def backward() -> None:
        logits.sum().backward()
        expect(
            frames.grad is not None and bool(frames.grad.abs().sum() > 0),
            "the logits do not depend on the frames (G would learn nothing)",
        )
        expect(_has_grad(D.parameters()), "no parameter got a gradient")

    check("logits are differentiable in the frames and D's parameters", backward)
    if D.needs_dense_clips:
        from benchmarks.training.components import is_dense

        check(
            "needs_dense_clips: its declared sampler draws consecutive frames",
            lambda: expect(is_dense(sampler, 32), f"{sampler!r} draws sparse clips"),
        )


def check_loss(check: Checker, loss: Any, probe: Probe) -> None:
    fake, real = torch.randn(4, requires_grad=True), torch.randn(4)
    kwargs = {"real_logits": real} if loss.needs_real_logits_for_generator else {}
    label = "generator(fake_logits [4]" + (", real_logits=[4]" if kwargs else "") + ") -> [4], differentiable"
    check(label, lambda: expect_tensor(loss.generator(fake, **kwargs), (4,), "generator loss").sum().backward())
    check(
        "discriminator(real_logits [4], fake_logits [4]) -> ([4], [4])",
        lambda: [expect_tensor(x, (4,), "discriminator loss") for x in loss.discriminator(real, fake.detach())],
    )
    check(f"gp_weight = {loss.gp_weight} >= 0", lambda: expect(float(loss.gp_weight) >= 0, "a negative penalty weight"))
    if loss.gp_weight > 0:
        real_frames, fake_frames = _frames(CLIP, 8), _frames(CLIP, 8).flip(0)
        check(
            "penalty(D, real [2, 3, 3, 8, 8], fake, t) -> [2]",
            lambda: expect_tensor(
                loss.penalty(_ProbeDiscriminator(), real_frames, fake_frames, torch.zeros(BATCH, CLIP)),
                (BATCH,),
                "penalty",
            ),
        )


class _ProbeDiscriminator(VideoDiscriminator):
    """The smallest discriminator: a linear map of each clip's mean colour, for a loss's penalty."""

    num_frames = CLIP

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 1)

    def forward(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.fc(frames.mean(dim=(1, 3, 4))).squeeze(1)  # [B, k, 3, H, W] -> [B]


def check_sampler(check: Checker, sampler: Any, probe: Probe) -> None:
    k, shortest = int(sampler.num_frames), int(sampler.min_video_length)
    check(
        f"num_frames = {k} >= 1, min_video_length = {shortest} >= 1, max_span = {sampler.max_span} >= 0",
        lambda: expect(k >= 1 and shortest >= 1 and int(sampler.max_span) >= 0, "out of range"),
    )
    rng = np.random.default_rng(0)
    for continuous in (False, True):

        def draws(continuous: bool = continuous) -> None:
            for length in (shortest, shortest + 7, 4 * shortest + 33):
                for _ in range(16):
                    t = np.asarray(sampler.sample(length, rng, continuous=continuous), dtype=np.float64)
                    expect(t.shape == (k,), f"sample({length}) has shape {t.shape}, expected ({k},)")
                    expect(bool(np.all(np.diff(t) >= 0)), f"sample({length}) is not sorted: {t}")
                    expect(t[0] >= 0 and t[-1] <= length - 1, f"sample({length}) leaves [0, {length - 1}]: {t}")
                    expect(
                        t[-1] - t[0] <= sampler.max_span + 1e-9,
                        f"sample({length}) spans {t[-1] - t[0]} > max_span {sampler.max_span}",
                    )
                    expect(
                        continuous or bool(np.all(t == np.round(t))),
                        f"sample({length}) of a real clip is not integer: {t}",
                    )

        check(
            f"sample(video_length, rng, continuous={continuous}): sorted [{k}] inside the video, span <= max_span",
            draws,
        )


def check_dataset(check: Checker, dataset: Any, probe: Probe) -> None:
    def first_video() -> int:
        expect(len(dataset) > 0, "len(dataset) is 0")
        expect(isinstance(dataset.video_name(0), str), "video_name(0) is not a string")
        expect(int(dataset.video_length(0)) >= 1, "video 0 has no frames")
        return int(dataset.video_length(0))

    length = check("has videos; video_name(0), video_length(0) >= 1", first_video, essential=True)
    n, res = len(dataset), int(dataset.resolution)
    check(
        f"read_frames(0, [0, {length - 1}]) -> uint8 [2, {res}, {res}, 3]",
        lambda: expect_tensor(dataset.read_frames(0, [0, length - 1]), (2, res, res, 3), "frames", dtype=torch.uint8),
    )
    check(
        f"read_frames(last video {n - 1}, [0])",
        lambda: expect_tensor(dataset.read_frames(n - 1, [0]), (1, res, res, 3), "frames", dtype=torch.uint8),
    )
    check(
        "fingerprint() is a stable non-empty string",
        lambda: expect(
            isinstance(dataset.fingerprint(), str)
            and dataset.fingerprint()
            and dataset.fingerprint() == dataset.fingerprint(),
            "unstable or empty",
        ),
    )


def check_augmentation(check: Checker, aug: Any, probe: Probe) -> None:
    resolution = probe.resolution
    videos = _frames(CLIP, resolution, requires_grad=True)

    def forward() -> None:
        out = expect_tensor(aug(videos), tuple(videos.shape), "augmented videos")
        out.sum().backward()
        expect(videos.grad is not None, "not differentiable: G learns through the augmentation")

    check(f"aug(videos [2, {CLIP}, 3, {resolution}, {resolution}]) -> same shape, differentiable", forward)

    def adapt() -> None:
        aug.accumulate(torch.randn(BATCH))
        p = float(aug.adjust(BATCH * int(aug.interval)))
        expect(0.0 <= p <= 1.0, f"adjust returned p = {p}, outside [0, 1]")
        expect(int(aug.interval) >= 1, f"interval must be >= 1, got {aug.interval}")
        float(aug.rt)

    check("accumulate(logits [2]), adjust(num_clips) -> p in [0, 1]; interval, rt", adapt)
    check("state_dict() loads into a fresh build (resume)", lambda: probe.rebuild().load_state_dict(aug.state_dict()))


def check_metric(check: Checker, metric: Any, probe: Probe) -> None:
    check(
        f"name = {metric.name!r} (encodes the protocol)",
        lambda: expect(isinstance(metric.name, str) and metric.name, "empty name"),
    )
    check(
        f"direction = {metric.direction!r} ('lower' or 'higher' is better)",
        lambda: expect(metric.direction in ("lower", "higher"), "tables and best-checkpoint tracking read it"),
    )
    if metric.shares_real_statistics:
        own = type(metric).real_side is not Metric.real_side
        check(
            "shares_real_statistics: implements real_side(ctx, real) (what `sgvb stats` writes)",
            lambda: expect(own, "it is the contract's default, which refuses"),
        )
    check.note("compute(ctx, fake, real) is not run here: it needs detectors and data (`sgvb eval` runs it)")


def check_positional_encoding(check: Checker, enc: Any, probe: Probe) -> None:
    def declares() -> None:
        expect(int(enc.out_dim) >= 0, f"out_dim must be >= 0, got {enc.out_dim}")
        expect(isinstance(enc.needs_motion, bool), f"needs_motion must be True or False, got {enc.needs_motion!r}")

    check("declares out_dim >= 0 and needs_motion", declares, essential=True)
    t = torch.tensor([0.0, 5.5, 16.0, 37.25])  # [N]
    n, dim = len(t), int(enc.out_dim)
    if enc.needs_motion:  # a code every 16 frames, as StyleGAN-V's motion network makes them
        k = torch.floor(t.double() / 16)
        codes = torch.randn(n, 2, MOTION_DIM, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        args = (t, codes, torch.stack([16 * k, 16 * (k + 1)], dim=1))
        what = f"t [{n}], codes [{n}, 2, {MOTION_DIM}], code_times [{n}, 2]"
    else:
        args, what = (t, None, None), f"t [{n}], codes=None, code_times=None (needs_motion is False)"
    v = check(
        f"forward({what}) -> float32 [{n}, {dim}]",
        lambda: expect_tensor(enc(*args), (n, dim), "v(t)", dtype=torch.float32),
        essential=True,
    )
    check(
        "deterministic (same times and codes, same embedding)",
        lambda: expect(torch.equal(v, enc(*args)), "embeddings differ between two calls"),
    )
    if any(p.requires_grad for p in enc.parameters()):

        def backward() -> None:
            enc(*args).sum().backward()
            expect(_has_grad(enc.parameters()), "no parameter got a gradient from v(t)")

        check("v(t) is differentiable in the encoding's parameters", backward)


def check_preparer(check: Checker, preparer: Any, probe: Probe) -> None:
    def declares() -> None:
        splits = tuple(preparer.splits)
        expect(len(splits) > 0 and all(isinstance(s, str) for s in splits), f"splits must be names, got {splits!r}")
        expect(preparer.default_split in splits, f"default_split {preparer.default_split!r} is not one of {splits}")
        expect(
            int(preparer.resolution) > 0 and float(preparer.fps) > 0,
            f"resolution and fps must be > 0, got {preparer.resolution}, {preparer.fps}",
        )
        expect(isinstance(preparer.layout, str) and preparer.layout.strip(), "layout must say what RAW holds")
        expect(isinstance(preparer.options, dict), f"options must be a dict of defaults, got {preparer.options!r}")

    check("declares splits, default_split among them, resolution, fps, layout, options", declares, essential=True)

    def refuses_an_empty_folder() -> None:
        with tempfile.TemporaryDirectory() as raw:
            try:
                jobs = preparer.jobs(Path(raw), preparer.default_split, dict(preparer.options))
            except ValueError as exc:
                expect(bool(str(exc).strip()), "the ValueError has no message")
                return
            raise AssertionError(f"returned {len(jobs)} jobs; a layout mismatch raises ValueError naming the path")

    check("jobs(empty folder, default split, default options) raises ValueError", refuses_an_empty_folder)
    check.note("jobs on a real raw download is not run here: `sgvb prepare NAME RAW OUT` runs it")


def check_distortion(check: Checker, distortion: Any, probe: Probe) -> None:
    def declares() -> None:
        expect(
            distortion.family in DISTORTION_FAMILIES,
            f"family must be one of {DISTORTION_FAMILIES}, got {distortion.family!r}",
        )
        expect(float(distortion.context) >= 1, f"context (source frames per frame) must be >= 1: {distortion.context}")
        expect(math.isfinite(float(distortion.parameter(1.0))), f"parameter(1.0) is {distortion.parameter(1.0)!r}")

    check(f"declares family, context >= 1, parameter(strength) ({distortion.parameter_name})", declares, essential=True)
    frames = 4
    source = torch.randint(
        0,
        256,
        (BATCH, distortion.source_frames(frames), 8, 8, 3),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(0),
    )  # [B, S, H, W, C]
    expected = (BATCH, frames, 8, 8, 3)

    def distort(strength, seed=1):
        return distortion(source, strength, frames, torch.Generator().manual_seed(seed))

    check(
        "strength 0 returns the first frames unchanged",
        lambda: expect(torch.equal(distort(0.0), source[:, :frames]), "changed"),
    )
    for strength in (0.5, 1.0):

        def run(strength: float = strength) -> None:
            a = expect_tensor(distort(strength), expected, "output", dtype=torch.uint8)
            expect(torch.equal(a, distort(strength)), "two runs with one seed differ (draw from the generator given)")

        check(f"strength {strength}: uint8 {list(expected)}, reproducible from the generator's seed", run)


def check_detector(check: Checker, detector: Any, probe: Probe) -> None:
    res = int(detector.input_resolution or 32)
    shape = (BATCH, 3, 8, res, res) if detector.video else (BATCH, 3, res, res)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    dim = int(detector.feature_dim)
    first = check(
        f"uint8 {list(shape)} -> float32 [2, {dim}]",
        lambda: expect_tensor(detector(x), (BATCH, dim), "features", dtype=torch.float32),
        essential=True,
    )
    check(
        "deterministic (same input, same features)",
        lambda: expect(torch.equal(first, detector(x)), "features differ between two calls"),
    )


# ----------------------------------------------------------------------------------------- building
def _build(
    check: Checker, probe: Probe, runtime: dict[str, Any] | None = None, *, offered: dict[str, Any] | None = None
) -> Any:
    """Build as the harness does: ``runtime`` arguments always, ``offered`` ones where the constructor takes them."""
    kwargs = {k: v for k, v in probe.spec.items() if k != "_name_"}
    if offered is not None:
        label = f"builds, offered {offered}"

        def build():
            return probe.registry.build_offering(probe.spec, offered)
    else:
        probe.runtime = dict(runtime or {})
        label = f"builds with {probe.runtime or 'its defaults'}"

        def build():
            return probe.rebuild()

    return check(label + (f" and {kwargs}" if kwargs else ""), build, essential=True)


def _build_discriminator(check: Checker, probe: Probe) -> Any:
    """A discriminator is built for the clips of its declared sampler, as the harness builds it."""
    from benchmarks.training.components import declared_sampler

    declared = declared_sampler(probe.registry.get(probe.spec["_name_"]))
    probe.sampler = check("builds its declared sampler", lambda: SAMPLERS.build(declared), essential=True)
    return _build(check, probe, {"resolution": probe.resolution, "num_frames": int(probe.sampler.num_frames)})


def _build_generator(check: Checker, probe: Probe) -> Any:
    return _build(check, probe, {"resolution": probe.resolution})


def _build_positional_encoding(check: Checker, probe: Probe) -> Any:
    """As StyleGAN-V's generator builds its encoding: ``motion_dim`` offered, passed if the constructor takes it."""
    return _build(check, probe, offered={"motion_dim": MOTION_DIM})


def _build_detector(check: Checker, probe: Probe) -> Any:
    return _build(check, probe, {"device": "cpu", "allow_stand_in": True})


@dataclasses.dataclass(frozen=True)
class ContractChecks:
    """How ``check-plugin`` builds a component of one contract (what the harness passes) and what it then runs."""

    run: Callable[[Checker, Any, Probe], None]
    build: Callable[[Checker, Probe], Any] = _build


# contract -> its checks; ``CONTRACTS`` (registry/interfaces.py) gives each kind's contract
CHECKS: dict[type, ContractChecks] = {
    VideoGenerator: ContractChecks(check_generator, _build_generator),
    VideoDiscriminator: ContractChecks(check_discriminator, _build_discriminator),
    PositionalEncoding: ContractChecks(check_positional_encoding, _build_positional_encoding),
    GANLoss: ContractChecks(check_loss),
    FrameSampler: ContractChecks(check_sampler),
    VideoDataset: ContractChecks(check_dataset),
    DatasetPreparer: ContractChecks(check_preparer),
    VideoAugmentation: ContractChecks(check_augmentation),
    Metric: ContractChecks(check_metric),
    Detector: ContractChecks(check_detector, _build_detector),
    Distortion: ContractChecks(check_distortion),
}
