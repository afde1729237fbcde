"""The ``sgvb`` commands: one module per command, each a thin front end (argument or Hydra parsing, one-line
errors) over the library code in the other wings. ``benchmarks.cli`` dispatches to them."""
