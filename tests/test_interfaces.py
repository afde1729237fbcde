"""The component contracts (registry/interfaces.py): defaults, conformance, the harness's checks,
`sgvb check-plugin`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.commands.check_plugin import check_component
from benchmarks.training.components import ConfigError, build_discriminators
from registry import DISCRIMINATORS, GENERATORS, LOSSES
from registry.interfaces import GANLoss, Metric, RealSide, VideoAugmentation, VideoGenerator, conformance_problems

REPO = Path(__file__).resolve().parents[1]


class FlatGenerator(VideoGenerator):
    """Grey frames whose level is one learned number: the smallest generator that meets the contract."""

    def __init__(self, resolution: int = 8, z_dim: int = 4):
        super().__init__()
        self.resolution, self.z_dim = resolution, z_dim
        self.level = nn.Parameter(torch.zeros(()))

    def forward(self, z, t, motion_noise=None, truncation_psi=1.0):
        return (self.level + 0 * z[:, :1, None, None, None]).expand(
            z.shape[0], t.shape[1], 3, self.resolution, self.resolution
        )


def test_defaults_do_nothing():
    G = FlatGenerator()
    G.begin_stage("main", iter(()), ema=None)
    assert list(G.stage_parameters("main")) == list(G.parameters())
    assert G.auxiliary_losses() == {}
    assert (G.continuous_time, G.autoregressive, G.training_stages) == (True, False, ("main",))
    loss = GANLoss()
    assert (loss.needs_real_logits_for_generator, loss.gp_weight) == (False, 0.0)
    assert torch.equal(
        loss.penalty(None, torch.ones(3, 2, 3, 4, 4), torch.ones(3, 2, 3, 4, 4), torch.zeros(3, 2)), torch.zeros(3)
    )

    class Fixed(VideoAugmentation):
        def forward(self, videos):
            return videos

    aug = Fixed()
    aug.accumulate(torch.ones(4))
    assert aug.adjust(16) == 0.0 and aug.interval == 4 and aug.rt != aug.rt  # rt: NaN until measured


def test_conformance_names_what_is_wrong():
    assert conformance_problems(FlatGenerator(), VideoGenerator) == []
    assert (
        "is not a subclass of registry.interfaces.VideoGenerator"
        in conformance_problems(nn.Linear(1, 1), VideoGenerator)[0]
    )

    class NoZ(FlatGenerator):
        def __init__(self):
            nn.Module.__init__(self)
            self.resolution = 8

    assert conformance_problems(NoZ(), VideoGenerator) == [
        f"{__name__}:test_conformance_names_what_is_wrong.<locals>.NoZ "
        "does not set 'z_dim' (declared by VideoGenerator)"
    ]

    class OldHook(FlatGenerator):
        def begin_stage(self, stage, real_batches):  # no `ema`: the harness passes it
            pass

    (problem,) = conformance_problems(OldHook(), VideoGenerator)
    assert "begin_stage(self, stage, real_batches) cannot take the harness's call" in problem and "'ema'" in problem

    class HalfLoss(GANLoss):
        def generator(self, fake_logits):
            return -fake_logits

    assert conformance_problems(HalfLoss(), GANLoss) == [
        f"{__name__}:test_conformance_names_what_is_wrong.<locals>.HalfLoss "
        "does not implement 'discriminator' (GANLoss)"
    ]


def test_harness_refuses_a_component_outside_its_contract(register):
    class PlainD(nn.Module):
        sampler = "sparse_random"

        def __init__(self, resolution: int = 8, num_frames: int = 3):
            super().__init__()
            self.num_frames = num_frames

    register(DISCRIMINATORS, PlainD, "test_plain_d")
    with pytest.raises(
        ConfigError,
        match=(
            r"config 'discriminator': discriminator does not meet its contract"
            r".*PlainD is not a subclass of registry.interfaces.VideoDiscriminator"
        ),
    ):
        build_discriminators("test_plain_d", resolution=8, default_sampler=None, default_loss="hinge", r1_gamma=0.0)


def test_ralsgan_is_a_gan_loss_without_dead_flags():
    loss = LOSSES.build({"_name_": "ralsgan", "gp_weight": 1.0})
    assert isinstance(loss, GANLoss) and loss.needs_real_logits_for_generator and loss.gp_weight == 1.0
    assert not hasattr(loss, "uses_r1")


def test_check_plugin_passes_a_good_generator_and_reports_a_broken_one(register):
    register(GENERATORS, FlatGenerator, "test_flat")
    results = check_component("generator", "test_flat", resolution=8)
    assert results and all(r.ok for r in results), [r.line() for r in results if not r.ok]
    assert any("G(z, t [2, 3] at real-valued times) -> [2, 3, 3, 8, 8]" in r.label for r in results)

    class WrongSize(FlatGenerator):
        def forward(self, z, t, motion_noise=None, truncation_psi=1.0):
            return super().forward(z, t)[..., :-1]

    register(GENERATORS, WrongSize, "test_wrong_size")
    failed = [r for r in check_component("generator", "test_wrong_size", resolution=8) if not r.ok]
    assert [r.label for r in failed] == ["G(z, t [2, 3] at real-valued times) -> [2, 3, 3, 8, 8]"]
    assert "has shape (2, 3, 3, 8, 7), expected (2, 3, 3, 8, 8)" in failed[0].detail


@pytest.mark.parametrize(
    "kind, name, kwargs",
    [
        ("discriminator", "stylegan_v", {"channel_base": 256, "channel_max": 16}),
        ("loss", "ralsgan", {"gp_weight": 10.0}),
        ("sampler", "beta_pair", {}),
        ("dataset", "synthetic", {"num_videos": 2, "num_frames": 8, "resolution": 16}),
        ("augmentation", "ada", {"p": 0.5}),
    ],
)
def test_check_plugin_passes_the_built_ins(kind, name, kwargs):
    results = check_component(kind, name, resolution=16, kwargs=kwargs)
    assert len(results) >= 5 and all(r.ok for r in results), [r.line() for r in results if not r.ok]


def test_registry_imports_no_higher_layer_and_the_cli_lists_every_built_in(capsys):
    from benchmarks.commands.listing import list_main

    probe = (
        "import sys, registry, registry.interfaces; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'benchmarks', 'stylegan_v', 'baselines', 'metrics'})); "
        "registry.SAMPLERS.list(); registry.DATASETS.list(); registry.AUGMENTATIONS.list(); "
        "print('benchmarks' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "False"]
    assert list_main([]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert {
        "sparse_random",
        "uniform",
        "consecutive",
        "beta_pair",
        "frames",
        "mp4",
        "synthetic",
        "non_saturating",
        "hinge",
        "lsgan",
        "ralsgan",
        "ada",
        "none",
        "stylegan_v",
        "digan",
        "mocogan_hd",
        "fvd2048_16f",
        "i3d",
    } <= listed


IMPORT_SPAWN_PROBE = r"""
import json, os, resource, subprocess, sys, traceback
import benchmarks.tables.table, benchmarks.grids.grid  # torch-free commands
first = {"torch": "torch" in sys.modules, "children_maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
# third-party imports may start processes themselves
# (torch: ldconfig -p; matplotlib: fc-list on a fresh cache): done first
import av, einops, hydra, matplotlib.pyplot, pandas, PIL.Image, scipy.stats, sklearn, torch, torchvision  # noqa: E401
spawns = []
def record(name, real):
    def wrapped(*args, **kwargs):
        command = args[1] if name == "Popen" else args[:2]  # Popen.__init__(self, args, ...): self has no repr yet
        spawns.append(f"{name} {command!r} from " + "".join(traceback.format_stack(limit=8)))
        return real(*args, **kwargs)
    return wrapped
subprocess.Popen.__init__ = record("Popen", subprocess.Popen.__init__)
for name in ("fork", "system", "posix_spawn", "posix_spawnp"):
    setattr(os, name, record(name, getattr(os, name)))
import importlib, pkgutil
for package in ("registry", "stylegan_v", "baselines", "metrics", "benchmarks"):
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
print(json.dumps({**first, "spawns": spawns}))
"""


def test_imports_start_no_process_and_table_and_grid_do_not_import_torch():
    """`sgvb table`/`sgvb grid` need no torch (its import alone runs `ldconfig -p`, whose child rusage reports the
    parent's ~430 MiB); once the third-party libraries are loaded, importing every module of ours starts nothing."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_SPAWN_PROBE], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] is False and result["children_maxrss"] == 0
    assert result["spawns"] == [], "\n".join(result["spawns"])


# ----------------------------------------------------------------------------------------- one file of contracts
def test_every_kind_has_its_contract_and_check_plugin_checks_every_contract():
    from benchmarks.commands.contract_checks import CHECKS
    from registry import REGISTRIES
    from registry.interfaces import CONTRACTS

    assert set(CONTRACTS) == set(REGISTRIES), "a kind without a contract in registry/interfaces.py"
    assert set(CHECKS) == set(CONTRACTS.values()), "a contract that `sgvb check-plugin` does not check"


@pytest.mark.parametrize(
    "kind, name",
    [
        ("positional_encoding", "acyclic"),
        ("positional_encoding", "none"),
        ("distortion", "frame_drops"),
        ("preparer", "ucf101"),
        ("metric", "fvd2048_16f"),
    ],
)
def test_check_plugin_passes_the_built_ins_of_the_moved_contracts(kind, name):
    results = check_component(kind, name)
    assert len(results) >= 4 and all(r.ok for r in results), [r.line() for r in results if not r.ok]


def _module_imports(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that the module at ``path`` imports, at any depth (function-level imports too)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or "" if not node.level else package + ("." + node.module if node.module else "")
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith(package + ".") and (REPO / (n.replace(".", "/") + ".py")).is_file()}
    return found


def test_the_registry_has_no_import_circle():
    """core -> plugins -> kinds -> core was one (through a function-level import in plugins.refresh)."""
    modules = [p for p in (REPO / "registry").glob("*.py") if p.stem != "__init__"]
    graph = {f"registry.{p.stem}": _module_imports(p, "registry") for p in modules}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    circles = sorted(m for m in graph if reaches(m, m, {m}))
    assert circles == [], f"modules on an import circle: {circles}"


def test_no_module_imports_a_private_name_of_the_component_libraries():
    """A name used by another module is public: registry, stylegan_v and baselines export what others import."""
    import ast

    owners = ("registry", "stylegan_v", "baselines")
    offenders = []
    for package in ("registry", "stylegan_v", "baselines", "metrics", "benchmarks"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom):
                    continue
                source = node.module or ""
                if node.level:  # relative: resolve against the importing module's package
                    parts = path.relative_to(REPO).with_suffix("").parts[:-1]
                    source = ".".join(parts[: len(parts) - node.level + 1] + ((node.module,) if node.module else ()))
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and source.split(".")[0] in owners:
                    offenders.append(f"{path.relative_to(REPO)}: from {source} import {', '.join(private)}")
    assert offenders == []


class _PluginSide(Metric):
    """A plugin metric written against the contract alone: its real side is the mean of every frame's pixels."""

    name = "test_pixel_mean"
    shares_real_statistics = True

    def compute(self, ctx, fake, real):
        raise AssertionError("sgvb stats must not run compute")

    def real_side(self, ctx, real):
        frames = torch.cat([real.read_video(i).double() for i in range(len(real))])
        ctx.check_count(self.name, "real videos", len(real), len(real))
        protocol = {"metric": self.name, "seed": ctx.seed}
        return RealSide({"mean": frames.mean(dim=(0, 1, 2)).numpy()}, protocol, dict(ctx.counts))


class _NoRealSide(Metric):
    name = "test_no_real_side"

    def compute(self, ctx, fake, real):
        raise AssertionError("a metric without a shared real side is refused before compute")


def test_sgvb_stats_takes_the_real_side_from_the_contract_method():
    from metrics.evaluation import reference_statistics
    from registry import DATASETS

    real = DATASETS.build({"_name_": "synthetic", "num_videos": 2, "num_frames": 4, "resolution": 8})
    ref = reference_statistics(_PluginSide(), real=real, seed=3)
    expected = torch.cat([real.read_video(i).double() for i in range(2)]).mean(dim=(0, 1, 2)).numpy()
    assert ref.arrays["mean"].tolist() == expected.tolist() and ref.arrays["mean"].dtype == np.float64
    assert ref.protocol == {"metric": "test_pixel_mean", "seed": 3}
    assert ref.counts == {"real videos": {"requested": 2, "used": 2}}
    assert ref.fingerprint() == real.fingerprint() and ref.resolution == 8
    with pytest.raises(ValueError, match="metric 'test_no_real_side' has no real-side statistics to share"):
        reference_statistics(_NoRealSide(), real=real)  # refused up front: compute (which would raise) never runs
