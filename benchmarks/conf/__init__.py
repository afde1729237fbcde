"""Hydra configs shipped with the package (config groups named after component kinds).

Importing this package (Hydra does, to read it) registers the typed schemas: ``sgvb train``'s
(``benchmarks.training.settings``) and ``sgvb eval``/``sample``/``stats``'s (``benchmarks.command_settings``)."""
from benchmarks.command_settings import register_command_schemas
from benchmarks.training.settings import register_schemas

register_schemas()
register_command_schemas()
