"""Hydra configs shipped with the package (config groups named after component kinds)."""
