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
one line (exit status 2) instead of Hydra's multi-line report. ``quote_paths`` lets a path holding ``=`` (a grid
job's folder, ``runs/grid/quickstart/generator.positional_encoding=acyclic,seed=0``) be passed without quotes.
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
        hint = closest_key(cause)
        if not hint and not _typed(cause):  # a free-form node (a component's keyword arguments) takes new keys
            hint = f" To add a new key write +{cause.full_key}=..."
        elif not hint:
            hint = " (--cfg job prints every key)"
        return f"unknown option '{cause.full_key}' ({str(cause.msg).splitlines()[0]}).{hint}"
    if "Config group override must be" in str(exc):  # `dataset=null`: Hydra names neither the key nor the fix
        nulls = [a.split("=", 1)[0] for a in sys.argv[1:] if a.endswith(("=null", "=None", "=~"))]
        if nulls:
            return f"{nulls[0]}=null: a config group takes one of its options ({nulls[0]}=<option>; --help lists them)"
    return str(exc).strip().split("\n")[0]


def _typed(cause) -> bool:
    """Whether the node a key was looked up in has a schema (a dataclass): no new key can be added to it."""
    from omegaconf import OmegaConf

    parent = getattr(cause, "parent_node", None)
    try:
        return parent is not None and OmegaConf.get_type(parent) not in (dict, None)
    except Exception:  # noqa: BLE001 - not a config node
        return False


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


def quote_paths(arguments: Sequence[str]) -> list[str]:
    """Command-line overrides with a path that holds ``=`` quoted, so a run folder copied from a grid works as typed.

    Grid job folders are named by their overrides (``runs/grid/quickstart/generator.positional_encoding=acyclic,
    seed=0``); in Hydra's grammar ``=`` cannot appear in a value and ``,`` makes a sweep, so such a path fails to
    parse (``mismatched input '='``) unless quoted. A value that holds a ``/`` and an ``=`` can only be such a path
    (a sweep of paths has no ``=``; Hydra would refuse it anyway), so it is quoted here; everything else (options,
    sweeps, already quoted values, lists, dicts, interpolations) is passed on untouched.
    """
    out = []
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if (
            sep
            and not argument.startswith("-")
            and "/" in value
            and "=" in value
            and value[:1] not in ("'", '"', "[", "{")
            and "${" not in value
        ):
            quote = "'" if "'" not in value else '"'
            argument = f"{key}={quote}{value}{quote}"
        out.append(argument)
    return out


def run_command(command: str, main: Callable[[], object]) -> int:
    """Run ``main`` (a command's ``@hydra.main`` entry, reading ``sys.argv``); its exit status.

    Hydra composes the config once, inside ``main``. With ``HYDRA_FULL_ERROR`` set it re-raises a failure
    instead of printing its report, so a config that does not compose (a wrong type, an unknown key, a typo in
    an option; in a multirun too) is one line here, ``sgvb <command>: configuration error: ...``, and exit
    status 2. A failure of the command itself keeps its traceback and exit status 1, as under Hydra's report.
    """
    install()
    if command in _schemas() and any(a in ("--help", "-h") for a in sys.argv[1:]):
        print(command_help(command))
        return 0
    previous = os.environ.get(FULL_ERROR_ENV)
    os.environ[FULL_ERROR_ENV] = "1"
    sys.argv = [*sys.argv[:1], *quote_paths(sys.argv[1:])]  # a grid job's folder works as typed
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

    files = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        files.append(code.co_filename.replace(os.sep, "/"))
        if code.co_name == "run_job" and files[-1].endswith("hydra/core/utils.py"):
            return False
        tb = tb.tb_next
    if isinstance(exc, (HydraException, OmegaConfBaseException)):
        return True
    # Hydra's defaults list raises plain ValueErrors too (``dataset=null``: "Config group override must be ...")
    return isinstance(exc, ValueError) and any("hydra/_internal/" in f for f in files[-3:])


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


# ----------------------------------------------------------------------------------------------
# --help of the Hydra commands: what it does, every key in one line, the groups that apply, examples


def _schemas() -> dict[str, tuple[str, type, tuple[str, ...]]]:
    """command -> (its config file, its schema, the config groups that apply to it)."""
    from benchmarks.config.commands import AuditConfig, EvalConfig, SampleConfig, SampleSizeConfig, StatsConfig
    from benchmarks.config.training import TrainConfig

    train_groups = ("generator", "discriminator", "sampler", "dataset", "loss", "augmentation", "trainer", "experiment")
    return {
        "train": ("train", TrainConfig, (*train_groups, "model (+model=...)")),
        "eval": ("eval", EvalConfig, ("dataset",)),
        "sample": ("sample", SampleConfig, ()),
        "stats": ("stats", StatsConfig, ("dataset",)),
        "audit": ("audit", AuditConfig, ("dataset", "preset")),
        "sample-size": ("sample_size", SampleSizeConfig, ("dataset",)),
    }


def field_comments(cls: type, *, above_too: bool = True) -> dict[str, str]:
    """``{field: its comment}`` from a dataclass's source: the comment on its line (or inside its parenthesised
    default), else (``above_too``) the comment lines just above it."""
    import inspect
    import re

    comments: dict[str, str] = {}
    above: list[str] = []
    current = None
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        field_match = re.match(r"^    (\w+): ", line)
        if field_match:
            current = field_match.group(1)
            comment = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            comments[current] = comment or (" ".join(above) if above_too else "")
            above = []
        elif stripped.startswith("#"):
            if current and line.startswith("        "):  # inside a parenthesised default
                comments[current] = comments[current] or stripped.lstrip("# ").strip()
            else:
                above.append(stripped.lstrip("# ").strip())
        elif current and "  # " in line and (line.startswith("        ") or line.startswith("    )")):
            comments[current] = comments[current] or line.split("  # ", 1)[1].strip()
        elif not stripped:
            above = []
    return comments


def _default_text(f) -> str:
    import dataclasses

    from omegaconf import MISSING

    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if value is MISSING or value == "???":
        return "required"
    if dataclasses.is_dataclass(value):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(list(value) if isinstance(value, tuple) else value).replace("'", "")


def key_lines(cls: type, prefix: str = "") -> list[str]:
    """One line per key of a schema (nested settings expanded: ``fake.all_checkpoints``)."""
    import dataclasses
    import sys as _sys

    module = _sys.modules[cls.__module__]
    siblings = [c for c in vars(module).values() if dataclasses.is_dataclass(c) and isinstance(c, type)]
    comments = {}
    for other in [c for c in siblings if c is not cls]:
        for name, text in field_comments(other, above_too=False).items():
            if text and name not in comments:
                comments[name] = text
    own = field_comments(cls, above_too=False)  # the field's own line first, then a sibling's, then a block above
    above = field_comments(cls)
    lines = []
    hints = {}
    try:
        import typing

        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001
        pass
    for f in dataclasses.fields(cls):
        nested = hints.get(f.name)
        if isinstance(nested, type) and dataclasses.is_dataclass(nested):
            lines += key_lines(nested, prefix=f"{prefix}{f.name}.")
            continue
        text = own.get(f.name) or comments.get(f.name) or above.get(f.name, "")
        lines.append(f"  {prefix + f.name:<26} {_default_text(f):<12} {text}".rstrip())
    return lines


def _examples(config_file: str) -> list[str]:
    lines = (CONF / f"{config_file}.yaml").read_text().splitlines()
    found = [ln.lstrip("#").strip() for ln in lines]
    return [ln for ln in found if ln.startswith("sgvb ") and not ln.split()[1].endswith(":")][:3]


def command_help(command: str) -> str:
    """The ``--help`` text of a Hydra command."""
    import importlib

    from benchmarks.cli import COMMANDS

    config_file, schema, groups = _schemas()[command]
    doc = (importlib.import_module(COMMANDS[command][0]).__doc__ or "").strip()
    summary = " ".join(doc.split("\n\n")[0].split()).replace("``", "`")
    lines = [f"usage: sgvb {command} [KEY=VALUE ...] [--cfg job] [--help]", "", summary, ""]
    if groups:
        lines += [f"config groups (GROUP=OPTION; `sgvb list <group>` shows the options): {', '.join(groups)}", ""]
    lines += [f"keys ({'key':<24} {'default':<12} what):", *key_lines(schema), ""]
    if command == "train":
        lines += [
            "'auto' values: device=auto is the first CUDA GPU, else the CPU; trainer.r1_gamma=auto is "
            "0.0002 * resolution^2 / batch_size; trainer.ema_kimg=auto is batch_size * 10 / 32. channels_last, "
            "compile and fused_adam are off unless set (set them to true on CUDA).",
            "",
        ]
    lines += ["examples:", *(f"  {e}" for e in _examples(config_file))]
    lines += ["", f"The composed config: sgvb {command} [KEY=VALUE ...] --cfg job (Hydra's own help: --hydra-help)."]
    return "\n".join(lines)
