"""Entry-point discovery: which plugin distributions offer which components, without importing them.

Each component kind has one entry-point group ``sgvb.<kind>s``. A plugin module is imported only when
one of its components is used (``Registry.get``), and a failure to import is isolated: a warning naming
the distribution, the entry point and the error, unless ``SGVB_STRICT_PLUGINS=1`` (for CI), which
raises. ``SGVB_DISABLE_PLUGIN_AUTOLOAD=1`` ignores every plugin; ``SGVB_HIDE_DISTRIBUTIONS=a,b``
ignores the plugins of the named distributions (the test suite hides the host's plugins this way,
also from the subprocesses it starts).

The group ``sgvb.configs`` lets a plugin ship Hydra config groups: its value names a Python package
holding ``<group>/<option>.yaml`` files, added to Hydra's search path by the CLI.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata as importlib_metadata
import os
import warnings

from .errors import PluginLoadError

CONFIG_GROUP = "sgvb.configs"


@dataclasses.dataclass(frozen=True)
class PluginEntry:
    """One entry point: ``name = "module:object"`` in group ``group`` of distribution ``dist``."""

    name: str
    value: str
    group: str
    dist: str
    version: str

    def describe(self) -> str:
        return (
            f"entry point '{self.name} = {self.value}' in group '{self.group}' "
            f"of distribution {self.dist} {self.version}"
        )


def strict() -> bool:
    return os.environ.get("SGVB_STRICT_PLUGINS", "").strip() not in ("", "0", "false", "no")


def autoload_disabled() -> bool:
    return os.environ.get("SGVB_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0", "false", "no")


def hidden_distributions() -> set[str]:
    return {d.strip() for d in os.environ.get("SGVB_HIDE_DISTRIBUTIONS", "").split(",") if d.strip()}


@functools.lru_cache(maxsize=None)
def _entry_points(group: str) -> tuple[importlib_metadata.EntryPoint, ...]:
    return tuple(importlib_metadata.entry_points(group=group))


def entries(group: str) -> list[PluginEntry]:
    """Entry points of ``group``, read from package metadata (cached; ``registry.refresh()`` clears)."""
    if autoload_disabled():
        return []
    found, hidden = [], hidden_distributions()
    for ep in _entry_points(group):
        dist = getattr(ep, "dist", None)
        if dist is not None and dist.name in hidden:
            continue
        found.append(
            PluginEntry(
                name=ep.name,
                value=ep.value,
                group=group,
                dist=dist.name if dist is not None else "<unknown>",
                version=dist.version if dist is not None else "?",
            )
        )
    return found


def load(entry: PluginEntry):
    """Import the object an entry point names. Raises ``PluginLoadError`` on any failure."""
    try:
        ep = importlib_metadata.EntryPoint(name=entry.name, value=entry.value, group=entry.group)
        return ep.load()
    except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise PluginLoadError(f"plugin failed to import: {entry.describe()}: {type(exc).__name__}: {exc}") from exc


def warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def forget_entry_points() -> None:
    """Forget the cached entry points; ``registry.refresh()`` also drops what the registries loaded from them."""
    _entry_points.cache_clear()


@functools.lru_cache(maxsize=None)
def _packages_distributions() -> dict:
    return importlib_metadata.packages_distributions()


def distribution_of(module_name: str) -> tuple[str, str]:
    """(distribution, version) that provides a top-level module; ("<local>", "?") when none does."""
    top = module_name.split(".")[0]
    for dist in _packages_distributions().get(top, []):
        try:
            return dist, importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            continue
    return "<local>", "?"
