"""Speed and memory benchmarks (``python -m benchmarks.speed`` runs them all); figures with their machine,
versions and command in ``benchmarks/speed/RESULTS.md``."""
