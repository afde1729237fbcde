"""The generic registry: name -> component, with aliases, wildcard listing, provenance and plugins.

Names are canonical: lower case, ``-`` and ``_`` alike (``StyleGAN-V`` == ``stylegan_v``), so a
casing or dash slip never makes a component "not registered".
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from . import plugins
from .errors import ComponentBuildError, DuplicateComponentError, PluginLoadError, UnknownComponentError

PACKAGE_DIST = "stylegan-v-bench"
SPEC_KEY = "_name_"


def canonical(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def _where(obj: Any) -> str:
    module = getattr(obj, "__module__", "?")
    qualname = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    return f"{module}:{qualname}"


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@dataclasses.dataclass
class ComponentInfo:
    """Where a component comes from: what ``sgvb list`` and ``run.json`` show."""

    kind: str
    name: str
    obj: str  # "module:qualname" (or the entry point's value, before a plugin is imported)
    provider: str  # distribution name
    version: str
    aliases: tuple[str, ...] = ()
    plugin: bool = False
    loaded: bool = True

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Entry:
    obj: Any
    info: ComponentInfo


class Registry:
    """Components of one kind, registered by decorator next to their definition or by entry point.

    ``builtin_packages`` are imported on first use so that their decorators run; the harness never
    has to import a concrete model.
    """

    def __init__(
        self,
        kind: str,
        *,
        plural: str | None = None,
        entry_point_group: str,
        builtin_packages: Sequence[str] = (),
        base: type | None = None,
    ):
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.entry_point_group = entry_point_group
        self.builtin_packages = tuple(builtin_packages)
        self.base = base
        self._entries: dict[str, _Entry] = {}
        self._aliases: dict[str, str] = {}
        self._builtins_loaded = False
        self._loading_plugin: plugins.PluginEntry | None = None
        self._plugin_failures: dict[str, str] = {}
        self._warned: set[str] = set()

    # ----------------------------------------------------------------------------- registration
    def register(self, name: str | None = None, *, aliases: Sequence[str] = ()) -> Callable[[Any], Any]:
        """Decorator: ``@GENERATORS.register("stylegan_v", aliases=["stylegan-v"])``."""

        def decorator(obj: Any) -> Any:
            self.add(obj, name=name, aliases=aliases)
            return obj

        return decorator

    def add(self, obj: Any, *, name: str | None = None, aliases: Sequence[str] = ()) -> None:
        key = canonical(name or _snake(getattr(obj, "__name__", "")))
        if not key:
            raise ValueError(f"cannot register {obj!r} in the {self.kind} registry without a name")
        if (
            self.base is not None
            and not (isinstance(obj, type) and issubclass(obj, self.base))
            and not (callable(obj) and not isinstance(obj, type))
        ):
            raise TypeError(
                f"{self.kind} '{key}' ({_where(obj)}) must be a subclass of {self.base.__name__} or a factory function"
            )
        names = [key, *dict.fromkeys(a for a in map(canonical, aliases) if a != key)]
        for n in names:
            owner = self._aliases.get(n)
            if owner is None:
                continue
            existing = self._entries[owner]
            if _where(existing.obj) == _where(obj):  # the same definition imported twice (e.g. as __main__)
                continue
            raise DuplicateComponentError(
                f"{self.kind} '{n}' is defined twice: by {existing.info.obj} ({existing.info.provider}) "
                f"and by {_where(obj)}. Rename one of them."
            )
        if self._loading_plugin is not None:
            ep = self._loading_plugin
            info = ComponentInfo(self.kind, key, _where(obj), ep.dist, ep.version, tuple(names[1:]), plugin=True)
        else:
            module = getattr(obj, "__module__", "") or ""
            builtin = module.split(".")[0] in {p.split(".")[0] for p in _OWN_PACKAGES}
            dist, version = (PACKAGE_DIST, own_version()) if builtin else plugins.distribution_of(module)
            info = ComponentInfo(self.kind, key, _where(obj), dist, version, tuple(names[1:]), plugin=False)
        self._entries[key] = _Entry(obj, info)
        for n in names:
            self._aliases[n] = key

    def remove(self, name: str) -> None:
        """Unregister ``name`` and its aliases (tests that register a component for themselves)."""
        key = self._aliases.get(canonical(name))
        if key is None:
            raise UnknownComponentError(self._unknown_message(name))
        del self._entries[key]
        self._aliases = {a: k for a, k in self._aliases.items() if k != key}

    def add_builtin_package(self, package: str) -> None:
        """Declare a package whose import registers built-ins of this kind, imported on first use.

        The package that defines components declares itself (``benchmarks/__init__.py`` for the
        harness's samplers, datasets, losses and augmentations), so the registry imports no higher layer.
        """
        if package not in self.builtin_packages:
            self.builtin_packages += (package,)
            self._builtins_loaded = False

    # ----------------------------------------------------------------------------- lookup
    def _ensure_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for package in self.builtin_packages:
            importlib.import_module(package)
        if plugins.strict():  # CI: import every plugin now so a broken one fails loudly
            for key, candidates in self._plugin_entries().items():
                if key not in self._aliases and len(candidates) == 1:
                    self._load_plugin(key, candidates[0])

    def _plugin_entries(self) -> dict[str, list[plugins.PluginEntry]]:
        found: dict[str, list[plugins.PluginEntry]] = {}
        for entry in plugins.entries(self.entry_point_group):
            found.setdefault(canonical(entry.name), []).append(entry)
        return found

    def _resolve(self, name: str) -> str:
        """Canonical registered name for ``name``, importing a plugin if it provides it."""
        self._ensure_builtins()
        dist_prefix = None
        key = canonical(name)
        if ":" in key:  # "dist:component" disambiguates two plugins with one name
            dist_prefix, key = key.split(":", 1)
        if key in self._aliases and dist_prefix is None:
            if key in self._plugin_entries() and not self._entries[self._aliases[key]].info.plugin:
                self._warn_shadowed(key)
            return self._aliases[key]
        candidates = self._plugin_entries().get(key, [])
        if dist_prefix is not None:
            candidates = [c for c in candidates if canonical(c.dist) == dist_prefix]
        if len(candidates) > 1:
            providers = ", ".join(f"{c.dist} {c.version} ({c.value})" for c in candidates)
            raise UnknownComponentError(
                f"{self.kind} '{key}' is provided by several plugins: {providers}. "
                f"Choose one as '<distribution>:{key}', e.g. '{candidates[0].dist}:{key}'."
            )
        if candidates:
            self._load_plugin(key, candidates[0])
            if key in self._aliases:
                return self._aliases[key]
        raise UnknownComponentError(self._unknown_message(name))

    def _load_plugin(self, key: str, entry: plugins.PluginEntry) -> None:
        self._loading_plugin = entry
        try:
            obj = plugins.load(entry)
        except PluginLoadError as exc:
            self._plugin_failures[key] = str(exc)
            if not plugins.strict():
                plugins.warn(f"{exc} (other components keep working; SGVB_STRICT_PLUGINS=1 makes this an error)")
            raise
        finally:
            self._loading_plugin = None
        if key not in self._aliases:  # the plugin did not register itself under its entry-point name
            self._loading_plugin = entry
            try:
                self.add(obj, name=key)
            finally:
                self._loading_plugin = None

    def _warn_shadowed(self, key: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        others = ", ".join(f"{e.dist} {e.version}" for e in self._plugin_entries()[key])
        plugins.warn(
            f"{self.kind} '{key}' from plugin {others} is shadowed by the built-in of the same name; "
            "the built-in is used."
        )

    def _unknown_message(self, name: str) -> str:
        available = self.list()
        close = difflib.get_close_matches(canonical(name), list(self._aliases) + available, n=1, cutoff=0.5)
        lines = [
            f"unknown {self.kind} '{name}'."
            + (f" Did you mean '{self._aliases.get(close[0], close[0])}'?" if close else "")
        ]
        lines.append(f"  available ({len(available)}): {', '.join(available) if available else '(none)'}")
        if self._plugin_failures:
            lines.append(f"  {len(self._plugin_failures)} plugin(s) failed to load:")
            lines.extend(f"    {msg}" for msg in self._plugin_failures.values())
        lines.append(f"  hint: `sgvb list {self.plural}` / `sgvb plugins`")
        return "\n".join(lines)

    def get(self, name: str) -> Any:
        """The registered class or factory for ``name`` (an alias, any casing, ``-`` or ``_``)."""
        key = self._resolve(name)
        return self._entries[key].obj

    def __contains__(self, name: object) -> bool:
        try:
            self._resolve(str(name))
        except (UnknownComponentError, PluginLoadError):
            return False
        return True

    def list(self, pattern: str = "*") -> list[str]:
        """Canonical names (built-ins and plugins, plugins not imported) matching a wildcard pattern."""
        self._ensure_builtins()
        names = set(self._entries) | set(self._plugin_entries())
        pat = canonical(pattern)
        return sorted(n for n in names if fnmatch.fnmatchcase(n, pat))

    def suggest(self, pattern: str) -> str | None:
        """The closest name to a pattern (wildcards ignored), for "did you mean" hints."""
        stripped = canonical(pattern).replace("*", "").replace("?", "")
        names = self.list()
        close = difflib.get_close_matches(stripped, names, n=1, cutoff=0.4)
        if not close:
            close = [n for n in names if n.startswith(stripped[:3])][:1] if len(stripped) >= 3 else []
        return close[0] if close else None

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self.list())

    def info(self, name: str) -> ComponentInfo:
        """Provenance of a component; a plugin's is known from metadata without importing it."""
        self._ensure_builtins()
        key, dist_prefix = canonical(name), None
        if ":" in key:  # "dist:component", as ``_resolve`` takes it
            dist_prefix, key = key.split(":", 1)
        if key in self._aliases:
            info = self._entries[self._aliases[key]].info
            if dist_prefix is None or canonical(info.provider) == dist_prefix:
                return info
        candidates = [c for c in self._plugin_entries().get(key, []) if dist_prefix in (None, canonical(c.dist))]
        if candidates:
            c = candidates[0]
            return ComponentInfo(self.kind, key, c.value, c.dist, c.version, plugin=True, loaded=False)
        raise UnknownComponentError(self._unknown_message(name))

    # ----------------------------------------------------------------------------- building
    def build(self, spec: str | Mapping[str, Any], /, **runtime_kwargs: Any) -> Any:
        """Build from a name or ``{"_name_": name, **kwargs}``; ``runtime_kwargs`` fill what the spec leaves out."""
        name, kwargs = split_spec(spec, self.kind)
        key = self._resolve(name)
        entry = self._entries[key]
        merged = {**runtime_kwargs, **kwargs}
        target = entry.obj
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            signature = None
        if signature is not None:
            try:
                signature.bind(**merged)
            except TypeError as exc:
                raise ComponentBuildError(
                    f"{self.kind} '{key}' ({entry.info.obj}) rejected its arguments: {exc}.\n"
                    f"  given: {sorted(merged)}\n  accepted: {key}{signature}"
                ) from None
        obj = target(**merged)
        spec_record = {SPEC_KEY: key, "kwargs": merged, "provider": entry.info.provider, "version": entry.info.version}
        try:
            obj._sgvb_spec = spec_record
        except AttributeError:
            pass
        return obj

    def build_offering(self, spec: str | Mapping[str, Any], offered: Mapping[str, Any]) -> Any:
        """``build(spec, **offered)``, passing each offered argument only when the constructor takes it (all to one
        with ``**kwargs``): what a model offers its parts, e.g. ``motion_dim`` to a positional encoding."""
        target = self.get(split_spec(spec, self.kind)[0])
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            return self.build(spec, **offered)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            offered = {k: v for k, v in offered.items() if k in params}
        return self.build(spec, **offered)

    def forget_plugins(self) -> None:
        """Drop loaded plugin components and failures (``registry.refresh()`` calls it for every kind)."""
        for key in [k for k, e in self._entries.items() if e.info.plugin]:
            del self._entries[key]
        self._aliases = {a: k for a, k in self._aliases.items() if k in self._entries}
        self._plugin_failures.clear()
        self._warned.clear()

    def failures(self) -> dict[str, str]:
        return dict(self._plugin_failures)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} loaded)"


def build_record(obj: Any) -> dict | None:
    """The record ``Registry.build`` attached to ``obj`` (name, kwargs, provider, version); None when built
    elsewhere."""
    try:
        return vars(obj).get("_sgvb_spec")
    except TypeError:  # no instance __dict__ (e.g. a builtin or a __slots__ object)
        return None


def split_spec(spec: str | Mapping[str, Any], kind: str = "component") -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``{"_name_": name, **kwargs}`` (an OmegaConf node too) -> (name, kwargs)."""
    if isinstance(spec, str):
        return spec, {}
    if type(spec).__module__.startswith(
        "omegaconf"
    ):  # a DictConfig is a Mapping too: convert nested nodes, or they reach checkpoints
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(spec, DictConfig):
                spec = OmegaConf.to_container(spec, resolve=True)
        except ImportError:  # pragma: no cover - hydra is a dependency
            pass
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"a {kind} spec must be a name or a mapping with '{SPEC_KEY}', got {type(spec).__name__}: {spec!r}"
        )
    kwargs = dict(spec)
    if SPEC_KEY not in kwargs:
        raise KeyError(f"{kind} spec {kwargs!r} has no '{SPEC_KEY}' key naming the registered component")
    name = kwargs.pop(SPEC_KEY)
    return str(name), kwargs


_OWN_PACKAGES = ("registry", "stylegan_v", "baselines", "metrics", "benchmarks")


def own_version() -> str:
    """This package's installed version (``0+local`` when run from a source tree that is not installed)."""
    import importlib.metadata as md

    try:
        return md.version(PACKAGE_DIST)
    except md.PackageNotFoundError:
        return "0+local"
