"""Make every registered component usable from Hydra command lines, and Hydra's errors one line long.

Installed once before any Hydra entry point composes a config:
  * every component of a kind with a config group (built-in or entry-point plugin) is an option of that
    group (``loss=ralsgan``, ``generator=my_gen``) holding ``{_name_: NAME}``, unless a YAML option of
    the same name exists (the YAML wins); its keyword arguments go on the command line (``+loss.k=1``).
  * a plugin that ships config groups names a package in the ``sgvb.configs`` group; that package is
    added to Hydra's search path (``pkg://<package>``), so its ``generator/my_gen.yaml`` etc. are options.
``describe_config_error`` turns a composition error into one line: the key, the value and what was
expected, or the group, the unknown option and the closest one. ``run_command`` runs a command's
``@hydra.main`` entry, which composes the config once, and turns Hydra's own composition error into that
one line (exit status 2) instead of Hydra's multi-line report.
"""

from __future__ import annotations

import difflib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from registry import REGISTRIES
from registry.plugins import CONFIG_GROUP, entries

CONF = Path(__file__).resolve().parents[1] / "conf"
CONFIG_MODULE = "benchmarks.conf"
FULL_ERROR_ENV = "HYDRA_FULL_ERROR"  # Hydra's documented switch: re-raise instead of printing its own report
CONFIG_ERROR_STATUS = 2
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
                store.store(
                    group=kind, name=name, node={"_name_": name}, provider=registry.info(name).provider or "sgvb"
                )


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
        return (
            f"unknown option '{cause.full_key}' ({str(cause.msg).splitlines()[0]}).{closest_key(cause)} "
            f"To add a new key write +{cause.full_key}=..."
        )
    return str(exc).strip().split("\n")[0]


def closest_key(cause) -> str:
    """`` Did you mean 'num_frames'?`` for a mistyped key: the closest key of the node it was looked up in."""
    parent = getattr(cause, "parent_node", None)
    keys = [str(k) for k in parent.keys() if k != "hydra"] if hasattr(parent, "keys") else []
    close = difflib.get_close_matches(str(cause.key), keys, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def check_composes(config_name: str, overrides: Sequence[str]) -> str | None:
    """Compose ``config_name`` with ``overrides`` as the command would; the one-line problem (what ``run_command``
    prints), or None. For callers that check a config without running a command (tests, tools)."""
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


def run_command(command: str, main: Callable[[], object]) -> int:
    """Run ``main`` (a command's ``@hydra.main`` entry, reading ``sys.argv``); its exit status.

    Hydra composes the config once, inside ``main``. With ``HYDRA_FULL_ERROR`` set it re-raises a failure
    instead of printing its report, so a config that does not compose (a wrong type, an unknown key, a typo in
    an option; in a multirun too) is one line here, ``sgvb <command>: configuration error: ...``, and exit
    status 2. A failure of the command itself keeps its traceback and exit status 1, as under Hydra's report.
    """
    install()
    previous = os.environ.get(FULL_ERROR_ENV)
    os.environ[FULL_ERROR_ENV] = "1"
    try:
        return int(main() or 0)
    except Exception as exc:  # noqa: BLE001 - Hydra would have reported it; this reports it instead
        if is_composition_error(exc):
            print(f"sgvb {command}: configuration error: {describe_config_error(exc)}", file=sys.stderr)
            return CONFIG_ERROR_STATUS
        traceback.print_exc()
        return 1
    finally:
        if previous is None:
            os.environ.pop(FULL_ERROR_ENV, None)
        else:
            os.environ[FULL_ERROR_ENV] = previous


def is_composition_error(exc: BaseException) -> bool:
    """A Hydra or OmegaConf error raised while composing, not by the command's task (Hydra runs the task inside
    ``hydra.core.utils.run_job``, so a task's error has that frame in its traceback)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(exc, (HydraException, OmegaConfBaseException)):
        return False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "run_job" and code.co_filename.replace(os.sep, "/").endswith("hydra/core/utils.py"):
            return False
        tb = tb.tb_next
    return True


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
