"""Plug-in mechanism: one registry per component kind, filled by built-ins and ``sgvb.<kind>s`` entry points.

The contract of every kind (what to implement, what to declare, the hooks and their defaults) is
``registry/interfaces.py``.

    from registry import GENERATORS
    @GENERATORS.register("my_gen", aliases=["mygen"])
    class MyGen(VideoGenerator): ...
    G = GENERATORS.build({"_name_": "my_gen", "width": 64}, resolution=32)
"""

from .core import ComponentInfo, Registry, build_record, canonical, own_version, split_spec
from .errors import ComponentBuildError, DuplicateComponentError, PluginLoadError, RegistryError, UnknownComponentError
from .kinds import (
    AUGMENTATIONS,
    DATASETS,
    DETECTORS,
    DISCRIMINATORS,
    DISTORTIONS,
    GENERATORS,
    LOSSES,
    METRICS,
    POSITIONAL_ENCODINGS,
    PREPARERS,
    REGISTRIES,
    SAMPLERS,
    refresh,
    registry_for,
)

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "DETECTORS",
    "DISCRIMINATORS",
    "DISTORTIONS",
    "GENERATORS",
    "LOSSES",
    "METRICS",
    "POSITIONAL_ENCODINGS",
    "PREPARERS",
    "REGISTRIES",
    "SAMPLERS",
    "ComponentBuildError",
    "ComponentInfo",
    "DuplicateComponentError",
    "PluginLoadError",
    "Registry",
    "RegistryError",
    "UnknownComponentError",
    "build_record",
    "canonical",
    "own_version",
    "refresh",
    "registry_for",
    "split_spec",
]
