"""Entry-point plugins: real distributions (``.dist-info`` on ``sys.path``) found lazily, broken ones isolated."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import registry
from registry import PluginLoadError, Registry, UnknownComponentError


def write_distribution(root: Path, dist: str, version: str, module: str, source: str, entry_points: str) -> None:
    """A minimal installed distribution: ``<dist>-<version>.dist-info`` + a top-level module."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (info / "top_level.txt").write_text(module + "\n")
    pkg = root / module
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(source))


TOY_SOURCE = """
    import sys
    IMPORTED = True

    class ToyGenerator:
        def __init__(self, resolution: int = 32, width: int = 4):
            self.resolution, self.width = resolution, width

    def dup():
        return "toy"
"""


@pytest.fixture()
def plugin_path(tmp_path, monkeypatch):
    """Three distributions: a working plugin, a broken one, and one whose name clashes with the first."""
    monkeypatch.delenv("SGVB_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("SGVB_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    write_distribution(
        tmp_path,
        "sgvb-toyplug",
        "0.3.0",
        "sgvb_toyplug",
        TOY_SOURCE,
        """
        [sgvb.test_generators]
        toy_gen = sgvb_toyplug:ToyGenerator
        builtin_gen = sgvb_toyplug:ToyGenerator
        dup_gen = sgvb_toyplug:dup
        [sgvb.configs]
        sgvb_toyplug = sgvb_toyplug
        """,
    )
    write_distribution(
        tmp_path,
        "sgvb-brokenplug",
        "0.1.0",
        "sgvb_brokenplug",
        "raise ImportError(\"No module named 'xformers'\")\n",
        """
        [sgvb.test_generators]
        broken_gen = sgvb_brokenplug:Gen
        """,
    )
    write_distribution(
        tmp_path,
        "sgvb-otherplug",
        "1.0.0",
        "sgvb_otherplug",
        "def dup():\n    return 'other'\n",
        """
        [sgvb.test_generators]
        dup_gen = sgvb_otherplug:dup
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    for name in ("sgvb_toyplug", "sgvb_brokenplug", "sgvb_otherplug"):
        sys.modules.pop(name, None)
    yield tmp_path
    registry.refresh()
    for name in ("sgvb_toyplug", "sgvb_brokenplug", "sgvb_otherplug"):
        sys.modules.pop(name, None)


@pytest.fixture()
def reg(plugin_path):
    r = Registry("generator", entry_point_group="sgvb.test_generators")

    @r.register("builtin_gen")
    class BuiltinGen:
        def __init__(self, resolution: int = 32):
            self.resolution = resolution

    return r


def test_listing_shows_plugins_without_importing_them(reg):
    assert reg.list() == ["broken_gen", "builtin_gen", "dup_gen", "toy_gen"]
    info = reg.info("toy_gen")
    assert (info.provider, info.version, info.plugin, info.loaded) == ("sgvb-toyplug", "0.3.0", True, False)
    assert "sgvb_toyplug" not in sys.modules, "listing must not import plugin modules"


def test_plugin_is_imported_when_first_used_and_builds_with_its_kwargs(reg):
    obj = reg.build({"_name_": "toy-gen", "width": 7}, resolution=16)
    assert "sgvb_toyplug" in sys.modules
    assert (obj.resolution, obj.width) == (16, 7)
    info = reg.info("toy_gen")
    assert info.loaded and info.plugin and info.provider == "sgvb-toyplug"
    assert obj._sgvb_spec["provider"] == "sgvb-toyplug"


def test_broken_plugin_warns_and_everything_else_works(reg):
    with pytest.warns(RuntimeWarning, match=r"broken_gen.*sgvb-brokenplug.*xformers"):
        with pytest.raises(PluginLoadError, match="sgvb-brokenplug"):
            reg.get("broken_gen")
    assert reg.build("toy_gen").width == 4
    with pytest.raises(UnknownComponentError) as err:
        reg.get("nope")
    assert "1 plugin(s) failed to load" in str(err.value) and "xformers" in str(err.value)


def test_strict_mode_makes_a_broken_plugin_an_error(plugin_path, monkeypatch):
    monkeypatch.setenv("SGVB_STRICT_PLUGINS", "1")
    r = Registry("generator", entry_point_group="sgvb.test_generators")
    with pytest.raises(PluginLoadError, match="broken_gen"):
        r.list()


def test_builtin_wins_over_plugin_with_a_warning(reg):
    with pytest.warns(RuntimeWarning, match="shadowed by the built-in"):
        obj = reg.build("builtin_gen")
    assert type(obj).__name__ == "BuiltinGen"


def test_two_plugins_with_one_name_must_be_disambiguated(reg):
    with pytest.raises(UnknownComponentError, match=r"several plugins: sgvb-otherplug 1.0.0 .*sgvb-toyplug 0.3.0"):
        reg.get("dup_gen")
    assert reg.get("sgvb-otherplug:dup_gen")() == "other"


def test_disable_autoload(reg, monkeypatch):
    monkeypatch.setenv("SGVB_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert reg.list() == ["builtin_gen"]


def test_cli_lists_plugins_and_suggests_on_typos(plugin_path):
    write_distribution(
        plugin_path,
        "sgvb-cliplug",
        "0.2.0",
        "sgvb_cliplug",
        "class G:\n    def __init__(self, resolution=32):\n        pass\n",
        """
        [sgvb.generators]
        cli_gen = sgvb_cliplug:G
        """,
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(plugin_path)}
    env.pop("SGVB_STRICT_PLUGINS", None)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, env=env)

    out = run("list", "generators")
    assert out.returncode == 0, out.stderr
    assert "cli_gen" in out.stdout and "[plugin: sgvb-cliplug 0.2.0]" in out.stdout
    out = run("list", "generators", "cli_gn*")
    assert out.returncode == 1 and "Did you mean 'cli_gen'?" in out.stdout
    out = run("plugins")
    assert "sgvb-cliplug" in out.stdout and "not imported" in out.stdout
    assert "pkg://sgvb_toyplug" in out.stdout


def test_plugin_components_and_config_groups_reach_hydra(plugin_path, monkeypatch):
    """`generator=<plugin name>` works with no YAML (kwargs via `+generator.k=v`), and a plugin's own YAML is found."""
    from hydra import compose, initialize_config_module

    from benchmarks.config import hydra_setup

    write_distribution(
        plugin_path,
        "sgvb-hydraplug",
        "0.1.0",
        "sgvb_hydraplug",
        "class G:\n    pass\n",
        """
        [sgvb.generators]
        bare_gen = sgvb_hydraplug:G
        [sgvb.configs]
        sgvb_hydraplug = sgvb_hydraplug.conf
        """,
    )
    conf = plugin_path / "sgvb_hydraplug" / "conf"
    (conf / "generator").mkdir(parents=True)
    (conf / "__init__.py").write_text("")
    (conf / "generator" / "yaml_gen.yaml").write_text("_name_: bare_gen\nwidth: 9\n")
    registry.refresh()
    hydra_setup.install()
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose("train", overrides=["generator=bare_gen", "+generator.width=5"])
        assert dict(cfg.generator) == {"_name_": "bare_gen", "width": 5}
        cfg = compose("train", overrides=["generator=yaml_gen"])
        assert dict(cfg.generator) == {"_name_": "bare_gen", "width": 9}


PLUGINS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def documented_plugin() -> tuple[str, str, str]:
    """The "Writing a plugin" section of docs/plugins.md, its Python module and its entry-point TOML."""
    section = PLUGINS_PAGE.read_text().split("## Writing a plugin", 1)[1].split("\n## ", 1)[0]
    python = section.split("```python\n", 1)[1].split("```", 1)[0]
    toml = section.split("```toml\n", 1)[1].split("```", 1)[0]
    return section, python, toml


@pytest.mark.parametrize("host", [None, "my-pulse", "sgvb-pulse"])
def test_the_documented_plugin_passes_sgvb_check_plugin(plugin_path, tmp_path, host):
    """``host``: the reader already followed the tutorial, so the environment holds a ``pulse`` plugin too (an edited
    copy, under another or the same distribution name, after this test's on the path as site-packages is), which
    conftest hides by distribution name (``SGVB_HIDE_DISTRIBUTIONS``). The test's own distribution is never hidden
    (the same name resolves to the first on the path: this test's), the check names it (``sgvb-pulse:pulse``) and
    runs outside the repository (no module of the cwd)."""
    import os

    import tomllib

    from registry.core import canonical

    section, python, toml = documented_plugin()
    assert "registry/interfaces.py" in section
    assert len(python.splitlines()) <= 35, "docs/plugins.md promises a ~30-line plugin"
    groups = tomllib.loads(toml)["project"]["entry-points"]
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in groups.items()
    )
    write_distribution(plugin_path, "sgvb-pulse", "0.1.0", "sgvb_pulse", python, entry_points)
    path = f"{plugin_path}:{Path(__file__).resolve().parents[1]}"
    if host is not None:  # the reader's own copy, edited: it would fail the check
        installed = tmp_path / "host-site-packages"
        broken = python + "\nraise RuntimeError('the host copy was imported')\n"
        write_distribution(installed, host, "0.2.0", "sgvb_pulse", broken, entry_points)
        path += f":{installed}"
    hidden = [d for d in os.environ.get("SGVB_HIDE_DISTRIBUTIONS", "").split(",") if d]
    hidden += [host] if host else []  # what conftest's hide_host_plugins hides once the reader installed it
    shown = ",".join(d for d in hidden if canonical(d) != "sgvb_pulse")
    env = {**os.environ, "PYTHONPATH": path, "SGVB_HIDE_DISTRIBUTIONS": shown}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "check-plugin", "sgvb-pulse:pulse"],
        capture_output=True,
        text=True,
        env=env,
        cwd=plugin_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "generator 'pulse' (sgvb_pulse:PulseGenerator, sgvb-pulse 0.1.0)" in out.stdout
    assert "FAIL" not in out.stdout and "all 10 checks passed" in out.stdout


def test_check_plugin_exit_status_and_unknown_names(plugin_path, capsys):
    from benchmarks.commands.check_plugin import main

    write_distribution(
        plugin_path,
        "sgvb-flatplug",
        "0.1.0",
        "sgvb_flatplug",
        "from registry.interfaces import VideoGenerator\n\nclass G(VideoGenerator):\n"
        "    def __init__(self, resolution=8):\n        super().__init__()\n"
        "        self.resolution, self.z_dim = resolution, 4\n",
        "[sgvb.generators]\nno_forward = sgvb_flatplug:G\n",
    )
    registry.refresh()
    assert main(["no_forward"]) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL  meets the VideoGenerator contract (registry/interfaces.py): "
        "AssertionError: sgvb_flatplug:G does not implement 'forward'" in out
    )
    assert main(["no_forwrd"]) == 2
    err = capsys.readouterr().err
    assert "no component is registered as 'no_forwrd'" in err and "generator 'no_forward'" in err
    assert main(["my_gen"]) == 2  # nothing close: no unrelated suggestion
    err = capsys.readouterr().err
    assert "no component is registered as 'my_gen'" in err and "Did you mean" not in err

    # a second distribution providing the same name: the check says so and how to pick one (was: "not registered.
    # Did you mean generator 'no_forward'?"), and `<distribution>:NAME` checks that one
    write_distribution(
        plugin_path, "sgvb-twin", "0.2.0", "sgvb_twin", "X = 1\n", "[sgvb.generators]\nno_forward = sgvb_twin:X\n"
    )
    registry.refresh()
    assert main(["no_forward"]) == 2
    err = capsys.readouterr().err.strip()
    assert "generator 'no_forward' is provided by several plugins: " in err and "sgvb-flatplug 0.1.0" in err
    assert "Choose one as '<distribution>:no_forward'" in err and "\n" not in err
    assert main(["sgvb-flatplug:no_forward"]) == 1  # checked (and failing its contract, as above)
    assert "generator 'no_forward' (sgvb_flatplug:G, sgvb-flatplug 0.1.0)" in capsys.readouterr().out
    sys.modules.pop("sgvb_flatplug", None)


def test_installed_plugins_are_hidden_from_tests_unless_a_test_adds_them(plugin_path, monkeypatch):
    from registry import plugins

    assert "SGVB_HIDE_DISTRIBUTIONS" in __import__("os").environ  # set for the session by conftest.py

    def names():
        return {e.dist for e in plugins.entries("sgvb.test_generators")}

    assert names() == {"sgvb-toyplug", "sgvb-brokenplug", "sgvb-otherplug"}
    monkeypatch.setenv("SGVB_HIDE_DISTRIBUTIONS", "sgvb-toyplug,sgvb-otherplug")
    assert names() == {"sgvb-brokenplug"}


BENCH_SOURCE = '''
    """A benchmark plugin: RAW/<video>/<frame>.png, one output video per folder with at least --min-frames frames."""
    from registry.interfaces import DatasetPreparer, VideoJob


    class ToyBench(DatasetPreparer):
        splits = ("all",)
        default_split = "all"
        resolution = 8
        layout = "RAW/<video>/<frame>.png"
        options = {"min_frames": 1}

        def jobs(self, raw, split, options):
            least = options["min_frames"]
            folders = sorted(p for p in raw.iterdir() if p.is_dir() and len(list(p.glob("*.png"))) >= least)
            if not folders:
                raise ValueError(f"no video folders with {least}+ frames in '{raw}': expected {self.layout}")
            return [VideoJob(name=f.name, source=str(f), kind="frames", info={"split": split}) for f in folders]
'''


def test_a_preparer_from_an_entry_point_is_listed_checked_and_prepares(plugin_path, tmp_path, capsys):
    """An installed plugin adds `sgvb prepare <its name>` (with its own options) and shows in `sgvb list`."""
    import json

    import numpy as np
    from PIL import Image

    from benchmarks.commands.check_plugin import main as check_plugin
    from benchmarks.commands.listing import list_main
    from benchmarks.commands.prepare import main as prepare

    write_distribution(
        plugin_path,
        "sgvb-benchplug",
        "0.1.0",
        "sgvb_benchplug",
        BENCH_SOURCE,
        "[sgvb.preparers]\ntoy_bench = sgvb_benchplug:ToyBench\n",
    )
    registry.refresh()
    assert list_main(["preparers"]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["toy_bench", "[plugin:", "sgvb-benchplug", "0.1.0]"] in listed
    assert "sgvb_benchplug" not in sys.modules, "listing must not import the plugin"

    raw = tmp_path / "raw"
    for video, frames in (("a", 3), ("b", 2), ("c", 1)):
        (raw / video).mkdir(parents=True)
        for k in range(frames):
            Image.fromarray(np.full((12, 16, 3), 40 * k + 10, np.uint8)).save(raw / video / f"{k:03d}.png")
    out = tmp_path / "toy.zip"
    assert prepare(["toy_bench", str(raw), str(out), "--workers", "1", "--min-frames", "2"]) == 0
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert [manifest[k] for k in ("dataset", "videos", "frames", "resolution")] == ["toy_bench", 2, 5, 8]
    assert manifest["options"] == {"min_frames": 2} and manifest["split"] == "all"

    assert prepare(["toy_bench", str(tmp_path / "empty"), str(tmp_path / "x.zip"), "--workers", "1"]) == 2
    assert prepare(["toy_bench", str(raw), str(tmp_path / "y.zip"), "--workers", "1", "--min-frames", "9"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("sgvb ")]  # progress lines aside
    layout = "RAW/<video>/<frame>.png"
    assert err[0].startswith("sgvb prepare: error: raw dataset") and f"expected {layout} (details: " in err[0]
    assert err[1].startswith(
        f"sgvb prepare: error: toy_bench: no video folders with 9+ frames in '{raw}': expected {layout} (details"
    )

    assert check_plugin(["toy_bench"]) == 0
    assert "preparer 'toy_bench' (sgvb_benchplug:ToyBench, sgvb-benchplug 0.1.0)" in capsys.readouterr().out
    sys.modules.pop("sgvb_benchplug", None)
