"""Hydra configs shipped with the package (config groups named after component kinds).

Importing this package (Hydra does, to read it) registers the typed schemas: ``sgvb train``'s
(``benchmarks.config.training``) and ``sgvb eval``/``sample``/``stats``/``audit``'s (``benchmarks.config.commands``)."""

from benchmarks.config.commands import register_command_schemas
from benchmarks.config.training import register_schemas

register_schemas()
register_command_schemas()
