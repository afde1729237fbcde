"""Typed settings of every command (the schemas Hydra checks a composed config against) and the Hydra setup
that makes registry components usable from command lines. The YAML configs themselves are in ``benchmarks/conf``."""
