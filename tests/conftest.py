"""Suite-wide isolation: one CPU thread per test process (tiny models gain nothing from more, and
several threads per process thrash a small shared CPU); plugins installed on the host are hidden
(also from the subprocesses tests start), so only the distributions a test writes itself are seen;
a component a test registers is unregistered after it (the ``register`` fixture); every user cache
(ours and the libraries') points into one temp folder, so the suite writes nothing under ``~``."""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import os
import shutil
import tempfile

import pytest
import torch

import registry

torch.set_num_threads(1)

# Every cache a test run could write: ours (``registry.files.user_cache_dir``: weights, real statistics,
# video lengths, dataset check passes) and the XDG cache the libraries use (matplotlib's font list,
# torch.hub, Hugging Face). Set when this conftest loads (before test modules import matplotlib),
# inherited by the subprocesses tests start, removed at the end.
ISOLATED_CACHE_VARS = {"SGVB_CACHE_DIR": "sgvb", "XDG_CACHE_HOME": "xdg"}
_saved_env: dict[str, str | None] = {}
_isolated_root: str | None = None


def pytest_configure(config):
    global _isolated_root
    _isolated_root = tempfile.mkdtemp(prefix="sgvb-test-caches-")
    for var, sub in ISOLATED_CACHE_VARS.items():
        _saved_env[var] = os.environ.get(var)
        os.environ[var] = os.path.join(_isolated_root, sub)


def pytest_unconfigure(config):
    for var, value in _saved_env.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    if _isolated_root is not None:
        shutil.rmtree(_isolated_root, ignore_errors=True)


def host_plugin_distributions() -> list[str]:
    """Installed distributions that declare an ``sgvb.*`` entry point (component kinds or configs)."""
    names = set()
    for dist in importlib_metadata.distributions():
        if any(ep.group.startswith("sgvb.") for ep in dist.entry_points):
            names.add(dist.metadata["Name"])
    return sorted(names)


@pytest.fixture(scope="session", autouse=True)
def hide_host_plugins():
    """Tests see no plugin they did not install themselves (``SGVB_HIDE_DISTRIBUTIONS``, inherited by subprocesses)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SGVB_HIDE_DISTRIBUTIONS", ",".join(host_plugin_distributions()))
        registry.refresh()
        yield
    registry.refresh()


@pytest.fixture()
def register():
    """``register(REGISTRY, obj, name)``: a component for this test only, unregistered afterwards."""
    added = []

    def add(target: registry.Registry, obj, name: str, aliases=()):
        target.add(obj, name=name, aliases=aliases)
        added.append((target, name))
        return obj

    yield add
    for target, name in reversed(added):
        target.remove(name)


@pytest.fixture(scope="session")
def video_detector(tmp_path_factory):
    """A tiny TorchScript video detector in the official calling convention (built once per test session)."""
    from metrics.testing import save_tiny_torchscript_detector

    return save_tiny_torchscript_detector(tmp_path_factory.mktemp("det") / "tiny_video.pt", video=True)


@pytest.fixture(scope="session")
def image_detector(tmp_path_factory):
    from metrics.testing import save_tiny_torchscript_detector

    return save_tiny_torchscript_detector(tmp_path_factory.mktemp("det") / "tiny_image.pt", video=False)
