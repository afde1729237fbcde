"""One registry per component kind, with its entry-point group and the built-in model packages that fill it.

The registry is the lowest layer: it names only the component libraries (``stylegan_v``, ``baselines``,
``metrics``). The harness's own kinds (datasets, samplers, losses, augmentations, dataset preparers) are
declared by the ``benchmarks`` package itself (``Registry.add_builtin_package`` in ``benchmarks/__init__.py``).

Imports run one way, ``kinds -> core -> plugins``: the function that needs every registry (``refresh``)
lives here, beside ``REGISTRIES``, not in ``plugins``.
"""

from __future__ import annotations

from . import plugins
from .core import Registry


def _make(kind: str, plural: str, builtin_packages: tuple[str, ...]) -> Registry:
    return Registry(kind, plural=plural, entry_point_group=f"sgvb.{plural}", builtin_packages=builtin_packages)


GENERATORS = _make("generator", "generators", ("stylegan_v", "baselines"))
DISCRIMINATORS = _make("discriminator", "discriminators", ("stylegan_v", "baselines"))
POSITIONAL_ENCODINGS = _make("positional_encoding", "positional_encodings", ("stylegan_v",))
SAMPLERS = _make("sampler", "samplers", ())
DATASETS = _make("dataset", "datasets", ())
METRICS = _make("metric", "metrics", ("metrics",))
DETECTORS = _make("detector", "detectors", ("metrics",))
LOSSES = _make("loss", "losses", ("baselines",))
AUGMENTATIONS = _make("augmentation", "augmentations", ())
DISTORTIONS = _make("distortion", "distortions", ("metrics",))
PREPARERS = _make("preparer", "preparers", ())  # ``sgvb prepare NAME``: a benchmark from its raw download

# kind -> registry; the CLI, Hydra config groups and ``run.json`` all use these kind names.
REGISTRIES: dict[str, Registry] = {
    r.kind: r
    for r in (
        GENERATORS,
        DISCRIMINATORS,
        POSITIONAL_ENCODINGS,
        SAMPLERS,
        DATASETS,
        METRICS,
        DETECTORS,
        LOSSES,
        AUGMENTATIONS,
        DISTORTIONS,
        PREPARERS,
    )
}


def refresh() -> None:
    """Forget cached entry points and the plugin components loaded from them (after installing a plugin in the
    same process, and in tests)."""
    plugins.forget_entry_points()
    for registry in REGISTRIES.values():
        registry.forget_plugins()


def registry_for(kind: str) -> Registry:
    """The registry of a kind, accepting singular or plural and ``-``/``_`` (``generators``,
    ``positional-encoding``)."""
    key = kind.strip().lower().replace("-", "_")
    if key in REGISTRIES:
        return REGISTRIES[key]
    for registry in REGISTRIES.values():
        if key == registry.plural:
            return registry
    import difflib

    close = difflib.get_close_matches(key, list(REGISTRIES) + [r.plural for r in REGISTRIES.values()], n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise KeyError(f"unknown component kind '{kind}'.{hint} Kinds: {', '.join(REGISTRIES)}")
