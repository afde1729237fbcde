"""``sgvb check-plugin NAME``: build a component at tiny size and run it through its contract.

Each check is one line of the report (``ok`` or ``FAIL`` with the reason), so a plugin author sees
what the harness will call and what came back, before a training run does. The contracts are in
``registry/interfaces.py``; the checks call exactly what the harness and the metrics call.

    sgvb check-plugin my_gen                          # every kind that has a component 'my_gen'
    sgvb check-plugin stylegan_v --kind discriminator channel_base=256 channel_max=16
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import yaml

from registry import REGISTRIES, UnknownComponentError, registry_for
from registry.interfaces import CONTRACTS, VideoDiscriminator, conformance_problems

CLIP = 3  # frames per probe clip
BATCH = 2


@dataclasses.dataclass
class CheckResult:
    label: str
    ok: bool
    detail: str = ""
    note: bool = False  # what is deliberately not checked, said so in the report

    def line(self) -> str:
        status = "note" if self.note else ("ok  " if self.ok else "FAIL")
        return f"  {status}  {self.label}" + (f": {self.detail}" if self.detail else "")


class _Abort(Exception):
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
                raise _Abort from None
            return None
        self.results.append(CheckResult(label, True))
        return value

    def note(self, label: str) -> None:
        self.results.append(CheckResult(label, True, note=True))


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def expect_tensor(x: Any, shape: tuple[int, ...], what: str, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    expect(isinstance(x, torch.Tensor), f"{what} must be a tensor, got {type(x).__name__}")
    expect(tuple(x.shape) == shape, f"{what} has shape {tuple(x.shape)}, expected {shape}")
    expect(x.is_floating_point() if dtype is None else x.dtype == dtype, f"{what} has dtype {x.dtype}, expected {dtype or 'float'}")
    expect(dtype == torch.uint8 or bool(torch.isfinite(x).all()), f"{what} holds NaN or Inf")
    return x


def _has_grad(params: Iterator[torch.nn.Parameter]) -> bool:
    return any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)


def _probe_times(sampler: Any, continuous: bool) -> torch.Tensor:
    rng = np.random.default_rng(0)
    length = max(int(sampler.min_video_length), 32)
    return torch.tensor(np.stack([sampler.sample(length, rng, continuous=continuous) for _ in range(BATCH)]), dtype=torch.float32)


def _frames(k: int, resolution: int, *, requires_grad: bool = False) -> torch.Tensor:
    frames = torch.rand(BATCH, k, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)) * 2 - 1  # [B, k, 3, H, W]
    return frames.requires_grad_(requires_grad)


# ----------------------------------------------------------------------------------------- per kind
def check_generator(check: Checker, G: Any, resolution: int) -> None:
    def declares() -> None:
        expect(int(G.resolution) == resolution, f"resolution is {G.resolution}, the harness asked for {resolution}")
        expect(int(G.z_dim) > 0, f"z_dim must be > 0, got {G.z_dim}")
        stages = G.training_stages
        expect(len(stages) > 0 and all(isinstance(s, str) for s in stages), f"training_stages must be names, got {stages!r}")

    check(f"declares resolution {resolution}, z_dim, training_stages", declares, essential=True)
    stages = tuple(G.training_stages)
    ema = copy.deepcopy(G)
    check(f"begin_stage('{stages[0]}', real_batches, ema=G_ema) (the harness's first call)",
          lambda: G.begin_stage(stages[0], iter(lambda: (_frames(CLIP, resolution), torch.zeros(BATCH, CLIP)), None), ema=ema))
    z = check("sample_z(2) -> [2, z_dim]", lambda: expect_tensor(G.sample_z(BATCH), (BATCH, int(G.z_dim)), "z"), essential=True)
    offset = 0.5 if G.continuous_time else 0.0
    t = torch.arange(CLIP, dtype=torch.float32).expand(BATCH, -1) + offset  # [B, T]
    expected = (BATCH, CLIP, 3, resolution, resolution)
    fake = check(f"G(z, t {list(t.shape)}{' at real-valued times' if offset else ''}) -> {list(expected)}",
                 lambda: expect_tensor(G(z, t), expected, "G(z, t)"), essential=True)

    def backward() -> None:
        (fake.float() * torch.randn(fake.shape, generator=torch.Generator().manual_seed(1))).sum().backward()  # a random direction
        expect(_has_grad(G.parameters()), "no parameter got a gradient from the frames")

    check("frames are differentiable in G's parameters", backward)
    long_t = torch.arange(2 * CLIP, dtype=torch.float32).expand(BATCH, -1)
    check(f"generate_long(z, t [2, {2 * CLIP}], chunk_size=2) renders in chunks",
          lambda: expect_tensor(G.generate_long(z, long_t, chunk_size=2), (BATCH, 2 * CLIP, 3, resolution, resolution), "generate_long"))
    own = {id(p) for p in G.parameters()}
    for stage in stages:
        check(f"stage_parameters('{stage}') are G's own parameters",
              lambda stage=stage: expect(all(id(p) in own for p in G.stage_parameters(stage)), "a parameter does not belong to G"))

    def auxiliary() -> None:
        aux = G.auxiliary_losses()
        expect(isinstance(aux, dict), f"auxiliary_losses() must return a dict, got {type(aux).__name__}")
        for key, value in aux.items():
            expect_tensor(value, (), f"auxiliary loss '{key}'")

    check("auxiliary_losses() -> {name: scalar}", auxiliary)


def check_discriminator(check: Checker, D: Any, sampler: Any, resolution: int) -> None:
    k = int(sampler.num_frames)
    check(f"num_frames = {k}, the number its sampler ({sampler!r}) draws", lambda: expect(int(D.num_frames) == k, f"num_frames is {D.num_frames}"))
    frames, t = _frames(k, resolution, requires_grad=True), _probe_times(sampler, continuous=False)
    logits = check(f"D(frames [2, {k}, 3, {resolution}, {resolution}], t [2, {k}]) -> [2]",
                   lambda: expect_tensor(D(frames, t), (BATCH,), "logits"), essential=True)

    def backward() -> None:
        logits.sum().backward()
        expect(frames.grad is not None and bool(frames.grad.abs().sum() > 0), "the logits do not depend on the frames (G would learn nothing)")
        expect(_has_grad(D.parameters()), "no parameter got a gradient")

    check("logits are differentiable in the frames and D's parameters", backward)
    if D.needs_dense_clips:
        from benchmarks.training.components import is_dense

        check("needs_dense_clips: its declared sampler draws consecutive frames", lambda: expect(is_dense(sampler, 32), f"{sampler!r} draws sparse clips"))


def check_loss(check: Checker, loss: Any) -> None:
    fake, real = torch.randn(4, requires_grad=True), torch.randn(4)
    kwargs = {"real_logits": real} if loss.needs_real_logits_for_generator else {}
    label = "generator(fake_logits [4]" + (", real_logits=[4]" if kwargs else "") + ") -> [4], differentiable"
    check(label, lambda: expect_tensor(loss.generator(fake, **kwargs), (4,), "generator loss").sum().backward())
    check("discriminator(real_logits [4], fake_logits [4]) -> ([4], [4])",
          lambda: [expect_tensor(x, (4,), "discriminator loss") for x in loss.discriminator(real, fake.detach())])
    check(f"gp_weight = {loss.gp_weight} >= 0", lambda: expect(float(loss.gp_weight) >= 0, "a negative penalty weight"))
    if loss.gp_weight > 0:
        real_frames, fake_frames = _frames(CLIP, 8), _frames(CLIP, 8).flip(0)
        check("penalty(D, real [2, 3, 3, 8, 8], fake, t) -> [2]", lambda: expect_tensor(
            loss.penalty(_ProbeDiscriminator(), real_frames, fake_frames, torch.zeros(BATCH, CLIP)), (BATCH,), "penalty"))


class _ProbeDiscriminator(VideoDiscriminator):
    """The smallest discriminator: a linear map of each clip's mean colour, for a loss's penalty."""

    num_frames = CLIP

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 1)

    def forward(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.fc(frames.mean(dim=(1, 3, 4))).squeeze(1)  # [B, k, 3, H, W] -> [B]


def check_sampler(check: Checker, sampler: Any) -> None:
    k, shortest = int(sampler.num_frames), int(sampler.min_video_length)
    check(f"num_frames = {k} >= 1, min_video_length = {shortest} >= 1, max_span = {sampler.max_span} >= 0",
          lambda: expect(k >= 1 and shortest >= 1 and int(sampler.max_span) >= 0, "out of range"))
    rng = np.random.default_rng(0)
    for continuous in (False, True):
        def draws(continuous: bool = continuous) -> None:
            for length in (shortest, shortest + 7, 4 * shortest + 33):
                for _ in range(16):
                    t = np.asarray(sampler.sample(length, rng, continuous=continuous), dtype=np.float64)
                    expect(t.shape == (k,), f"sample({length}) has shape {t.shape}, expected ({k},)")
                    expect(bool(np.all(np.diff(t) >= 0)), f"sample({length}) is not sorted: {t}")
                    expect(t[0] >= 0 and t[-1] <= length - 1, f"sample({length}) leaves [0, {length - 1}]: {t}")
                    expect(t[-1] - t[0] <= sampler.max_span + 1e-9, f"sample({length}) spans {t[-1] - t[0]} > max_span {sampler.max_span}")
                    expect(continuous or bool(np.all(t == np.round(t))), f"sample({length}) of a real clip is not integer: {t}")

        check(f"sample(video_length, rng, continuous={continuous}): sorted [{k}] inside the video, span <= max_span", draws)


def check_dataset(check: Checker, dataset: Any) -> None:
    def first_video() -> int:
        expect(len(dataset) > 0, "len(dataset) is 0")
        expect(isinstance(dataset.video_name(0), str), "video_name(0) is not a string")
        expect(int(dataset.video_length(0)) >= 1, "video 0 has no frames")
        return int(dataset.video_length(0))

    length = check("has videos; video_name(0), video_length(0) >= 1", first_video, essential=True)
    n, res = len(dataset), int(dataset.resolution)
    check(f"read_frames(0, [0, {length - 1}]) -> uint8 [2, {res}, {res}, 3]",
          lambda: expect_tensor(dataset.read_frames(0, [0, length - 1]), (2, res, res, 3), "frames", dtype=torch.uint8))
    check(f"read_frames(last video {n - 1}, [0])", lambda: expect_tensor(dataset.read_frames(n - 1, [0]), (1, res, res, 3), "frames", dtype=torch.uint8))
    check("fingerprint() is a stable non-empty string",
          lambda: expect(isinstance(dataset.fingerprint(), str) and dataset.fingerprint() and dataset.fingerprint() == dataset.fingerprint(), "unstable or empty"))


def check_augmentation(check: Checker, aug: Any, rebuild: Callable[[], Any], resolution: int) -> None:
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
    check("state_dict() loads into a fresh build (resume)", lambda: rebuild().load_state_dict(aug.state_dict()))


def check_metric(check: Checker, metric: Any) -> None:
    check(f"name = {metric.name!r} (encodes the protocol)", lambda: expect(isinstance(metric.name, str) and metric.name, "empty name"))
    check.note("compute(ctx, fake, real) is not run here: it needs detectors and data (`sgvb eval` runs it)")


def check_detector(check: Checker, detector: Any) -> None:
    res = int(detector.input_resolution or 32)
    shape = (BATCH, 3, 8, res, res) if detector.video else (BATCH, 3, res, res)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    dim = int(detector.feature_dim)
    first = check(f"uint8 {list(shape)} -> float32 [2, {dim}]", lambda: expect_tensor(detector(x), (BATCH, dim), "features", dtype=torch.float32), essential=True)
    check("deterministic (same input, same features)", lambda: expect(torch.equal(first, detector(x)), "features differ between two calls"))


# ----------------------------------------------------------------------------------------- driver
def check_component(kind: str, name: str, *, resolution: int = 16, kwargs: dict[str, Any] | None = None) -> list[CheckResult]:
    """Build ``name`` of ``kind`` at tiny size and run it through its contract; one result per check."""
    registry, kwargs = registry_for(kind), dict(kwargs or {})
    check = Checker()
    spec = {"_name_": name, **kwargs}
    try:
        if registry.kind == "discriminator":
            from benchmarks.training.components import declared_sampler
            from registry import SAMPLERS

            sampler = check("builds its declared sampler", lambda: SAMPLERS.build(declared_sampler(registry.get(name))), essential=True)
            runtime = {"resolution": resolution, "num_frames": int(sampler.num_frames)}
        else:
            runtime = {"generator": {"resolution": resolution}, "detector": {"device": "cpu", "allow_stand_in": True}}.get(registry.kind, {})
        built = check(f"builds with {runtime or 'its defaults'}" + (f" and {kwargs}" if kwargs else ""), lambda: registry.build(spec, **runtime), essential=True)
        contract = CONTRACTS.get(registry.kind)
        if contract is None:
            check.note(f"kind '{registry.kind}' has no contract in registry/interfaces.py: only building is checked")
            return check.results
        check(f"meets the {contract.__name__} contract (registry/interfaces.py)",
              lambda: expect(not (problems := conformance_problems(built, contract)), "; ".join(problems)), essential=True)
        torch.manual_seed(0)
        if registry.kind == "generator":
            check_generator(check, built, resolution)
        elif registry.kind == "discriminator":
            check_discriminator(check, built, sampler, resolution)
        elif registry.kind == "loss":
            check_loss(check, built)
        elif registry.kind == "sampler":
            check_sampler(check, built)
        elif registry.kind == "dataset":
            check_dataset(check, built)
        elif registry.kind == "augmentation":
            check_augmentation(check, built, lambda: registry.build(spec), resolution)
        elif registry.kind == "metric":
            check_metric(check, built)
        elif registry.kind == "detector":
            check_detector(check, built)
    except _Abort:
        pass
    return check.results


def _parse_kwargs(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"constructor argument '{item}' must be key=value, e.g. channel_base=256")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgvb check-plugin", description="Build a component at tiny size and run it through its contract (registry/interfaces.py).")
    parser.add_argument("name", help="registered name of the component (built-in or plugin)")
    parser.add_argument("kwargs", nargs="*", help="constructor arguments key=value (YAML values), e.g. channel_base=256")
    parser.add_argument("--kind", help=f"one of: {', '.join(REGISTRIES)} (default: every kind that has NAME)")
    parser.add_argument("--resolution", type=int, default=16, help="frame size for generators, discriminators, augmentations (default 16)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        kwargs = _parse_kwargs(args.kwargs)
        kinds = [registry_for(args.kind).kind] if args.kind else [k for k, r in REGISTRIES.items() if args.name in r]
    except (KeyError, ValueError) as exc:
        print(f"sgvb check-plugin: {exc.args[0]}", file=sys.stderr)
        return 2
    if not kinds:
        near = [f"{k} '{s}'" for k, r in REGISTRIES.items() if (s := r.suggest(args.name))]
        print(f"sgvb check-plugin: no component is registered as '{args.name}'." + (f" Close: {', '.join(near[:3])}." if near else "")
              + " `sgvb list` shows every name.", file=sys.stderr)
        return 2
    failed = 0
    for kind in kinds:
        try:
            info = REGISTRIES[kind].info(args.name)
        except UnknownComponentError as exc:
            print(f"sgvb check-plugin: {exc}", file=sys.stderr)
            return 2
        print(f"{kind} '{info.name}' ({info.obj}, {info.provider} {info.version})")
        results = check_component(kind, args.name, resolution=args.resolution, kwargs=kwargs)
        for result in results:
            print(result.line())
        checked, bad = sum(not r.note for r in results), sum(not r.ok for r in results)
        failed += bad
        print(f"  {checked} checks, {bad} failed" if bad else f"  all {checked} checks passed")
    return int(failed > 0)


if __name__ == "__main__":
    sys.exit(main())
