"""Make plugins usable from Hydra command lines without writing YAML into this package.

Two mechanisms, installed once before any Hydra entry point composes a config:
  * every entry-point component (``sgvb.generators`` ...) becomes an option of its config group
    (``generator=my_gen``) holding ``{_name_: my_gen}``; its own keyword arguments are added on the
    command line with ``+generator.width=64``. A YAML option of the same name takes precedence.
  * a plugin that ships config groups names a package in the ``sgvb.configs`` group; that package is
    added to Hydra's search path (``pkg://<package>``), so its ``generator/my_gen.yaml`` etc. are options.
"""
from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from registry import REGISTRIES
from registry.plugins import CONFIG_GROUP, entries

_search_path_registered = False


class PluginConfigSearchPath(SearchPathPlugin):
    """Appends ``pkg://<package>`` for each ``sgvb.configs`` entry point."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for entry in entries(CONFIG_GROUP):
            search_path.append(provider=f"sgvb-plugin-{entry.dist}", path=f"pkg://{entry.value}")


def install() -> None:
    """Register the search-path plugin (once) and a config option per plugin component (idempotent)."""
    global _search_path_registered
    if not _search_path_registered:
        Plugins.instance().register(PluginConfigSearchPath)
        _search_path_registered = True
    store = ConfigStore.instance()
    for kind, registry in REGISTRIES.items():
        for entry in entries(registry.entry_point_group):
            store.store(group=kind, name=entry.name, node={"_name_": entry.name}, provider=entry.dist)
