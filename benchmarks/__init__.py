"""benchmarks: the app layer (CLI, configs, datasets and samplers, training harness, grids, tables).

Importing it declares where the harness's own components are defined, so the registries find them on
first use without the registry importing this layer.
"""

from registry import AUGMENTATIONS, DATASETS, LOSSES, PREPARERS, SAMPLERS

for _registry, _package in (
    (DATASETS, "benchmarks.data"),
    (SAMPLERS, "benchmarks.data"),
    (LOSSES, "benchmarks.training.losses"),
    (AUGMENTATIONS, "benchmarks.training.augment"),
    (PREPARERS, "benchmarks.data.prepare.layouts"),
):
    _registry.add_builtin_package(_package)
