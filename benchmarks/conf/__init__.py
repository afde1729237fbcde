"""Hydra configs shipped with the package (config groups named after component kinds).

Importing this package (Hydra does, to read it) registers the typed schemas (``benchmarks.training.settings``)."""
from benchmarks.training.settings import register_schemas

register_schemas()
