"""Make every registered component usable from Hydra command lines, and Hydra's errors one line long.

Installed once before any Hydra entry point composes a config:
  * every component of a kind with a config group (built-in or entry-point plugin) is an option of that
    group (``loss=ralsgan``, ``generator=my_gen``) holding ``{_name_: NAME}``, unless a YAML option of
    the same name exists (the YAML wins); its keyword arguments go on the command line (``+loss.k=1``).
  * a plugin that ships config groups names a package in the ``sgvb.configs`` group; that package is
    added to Hydra's search path (``pkg://<package>``), so its ``generator/my_gen.yaml`` etc. are options.
``describe_config_error`` turns a composition error into one line: the key, the value and what was
expected, or the group, the unknown option and the closest one.
"""
from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from registry import REGISTRIES
from registry.plugins import CONFIG_GROUP, entries

CONF = Path(__file__).resolve().parents[1] / "conf"
CONFIG_MODULE = "benchmarks.conf"
_search_path_registered = False


class PluginConfigSearchPath(SearchPathPlugin):
    """Appends ``pkg://<package>`` for each ``sgvb.configs`` entry point."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for entry in entries(CONFIG_GROUP):
            search_path.append(provider=f"sgvb-plugin-{entry.dist}", path=f"pkg://{entry.value}")


def install() -> None:
    """Register the search-path plugin (once) and a config option per component without a YAML (idempotent)."""
    global _search_path_registered
    if not _search_path_registered:
        Plugins.instance().register(PluginConfigSearchPath)
        _search_path_registered = True
    store = ConfigStore.instance()
    for kind, registry in REGISTRIES.items():
        if not (CONF / kind).is_dir():
            continue  # not a config group of sgvb train (metrics, detectors, ...)
        for name in registry.list():
            if not (CONF / kind / f"{name}.yaml").is_file():
                store.store(group=kind, name=name, node={"_name_": name}, provider=registry.info(name).provider or "sgvb")


def describe_config_error(exc: BaseException) -> str:
    """One line for a Hydra composition error (no traceback, no search-path listing)."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and "/" in str(exc.missing_cfg_file):
        group, _, option = str(exc.missing_cfg_file).rpartition("/")
        options = list(exc.options or [])
        close = difflib.get_close_matches(option, options, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"config group '{group}' has no option '{option}'.{hint} Options: {', '.join(options) or 'none'}"
    cause = exc.__cause__ or exc
    if isinstance(cause, ValidationError) and getattr(cause, "full_key", None):
        return f"option {cause.full_key}={cause.value}: {str(cause.msg).splitlines()[0]}"
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and getattr(cause, "full_key", None):
        return f"unknown option '{cause.full_key}' ({str(cause.msg).splitlines()[0]}).{closest_key(cause)} To add a new key write +{cause.full_key}=..."
    return str(exc).strip().split("\n")[0]


def closest_key(cause) -> str:
    """`` Did you mean 'num_frames'?`` for a mistyped key: the closest key of the node it was looked up in."""
    parent = getattr(cause, "parent_node", None)
    keys = [str(k) for k in parent.keys() if k != "hydra"] if hasattr(parent, "keys") else []
    close = difflib.get_close_matches(str(cause.key), keys, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def check_composes(config_name: str, overrides: Sequence[str]) -> str | None:
    """Compose ``config_name`` with ``overrides`` as the command would; the one-line problem, or None."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    install()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            compose(config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        return describe_config_error(exc)
    finally:
        GlobalHydra.instance().clear()
    return None


def exit_unless_composes(command: str, args: Sequence[str]) -> None:
    """Before Hydra starts: compose a plain command line (overrides only) once, so its errors (a wrong type, a
    mistyped key or option) are one line and exit status 2; ``command`` is also the config's name. The ``sgvb``
    dispatcher calls it for every Hydra command."""
    if all(not arg.startswith("-") for arg in args):
        problem = check_composes(command, args)
        if problem is not None:
            print(f"sgvb {command}: configuration error: {problem}", file=sys.stderr)
            sys.exit(2)


def load_option(group: str, option: str) -> dict:
    """A config group option as Hydra composes it (its defaults list applied: ``*_small`` options inherit their
    full-size file), as a plain dict."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return OmegaConf.to_container(compose("train", overrides=[f"{group}={option}"])[group], resolve=True)
    finally:
        GlobalHydra.instance().clear()
