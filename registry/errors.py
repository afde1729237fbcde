"""Errors raised by the registries. They say what was wrong, where it came from and what to do."""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every registry error."""


class UnknownComponentError(RegistryError, KeyError):
    """A name that no built-in or plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateComponentError(RegistryError):
    """Two definitions registered under one name."""


class ComponentBuildError(RegistryError, TypeError):
    """A constructor rejected the arguments it was given."""


class PluginLoadError(RegistryError, ImportError):
    """An entry-point plugin failed to import (raised for the plugin asked for, or in strict mode)."""
