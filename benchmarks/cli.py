"""``sgvb``: one dispatcher for every command.

Registry commands (``list``, ``plugins``) parse their own arguments; Hydra-based commands (``train``,
``eval``, ``sample``) get the rest of the command line untouched, because Hydra owns argv parsing.
A command is a module with a ``main()``; adding one is one line in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(), one-line help, uses Hydra)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "list": ("benchmarks.commands.listing", "list components: sgvb list [kind] [pattern]", False),
    "plugins": ("benchmarks.commands.listing", "show plugin distributions and their load status", False),
    "check-plugin": (
        "benchmarks.commands.check_plugin",
        "build a component at tiny size and run it through its contract",
        False,
    ),
    "train": ("benchmarks.commands.train", "train a model (Hydra: sgvb train generator=... dataset=... [-m])", True),
    "eval": (
        "benchmarks.commands.evaluate",
        "evaluate metrics for a checkpoint, run folder or video folder (Hydra)",
        True,
    ),
    "audit": (
        "benchmarks.commands.audit",
        "what each metric responds to: controlled distortions, response curves (Hydra)",
        True,
    ),
    "sample-size": (
        "benchmarks.commands.sample_size",
        "how many videos each metric needs: spread and ranking vs N, N_stable per metric (Hydra)",
        True,
    ),
    "sample": ("benchmarks.commands.sample", "render videos from a checkpoint (Hydra)", True),
    "stats": ("benchmarks.commands.stats", "write a metric's real-side statistics to a shareable file (Hydra)", True),
    "compare-protocols": (
        "benchmarks.commands.compare_protocols",
        "every published FVD protocol on the same videos, and what differs between them",
        False,
    ),
    "grid": ("benchmarks.grids.grid", "run a named ablation grid: sgvb grid NAME [overrides] [--dry-run]", False),
    "table": (
        "benchmarks.tables.table",
        "aggregate run folders into CSV tables: sgvb table DIR... -o results.csv",
        False,
    ),
    "convert": ("benchmarks.data.convert", "convert a folder of video files to the frames layout (zip)", False),
    "prepare": (
        "benchmarks.commands.prepare",
        "prepare a standard benchmark from its raw download: sgvb prepare NAME RAW OUT.zip",
        False,
    ),
    "check-dataset": (
        "benchmarks.data.checks",
        "read every frame of a dataset and report problems: sgvb check-dataset PATH",
        False,
    ),
    "convert-checkpoint": (
        "benchmarks.commands.convert_checkpoint",
        "official network pickle (.pkl) -> sgvb checkpoint: sgvb convert-checkpoint x.pkl out.pt",
        False,
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: sgvb <command> [args]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_, _) in COMMANDS.items()]
    lines += ["", "`sgvb <command> --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        print(f"sgvb: unknown command '{name}'." + (f" Did you mean '{close[0]}'?" if close else ""), file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return 2
    module_name, _, uses_hydra = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"sgvb: command '{name}' is not available in this version", file=sys.stderr)
        return 2
    if uses_hydra:
        from benchmarks.config import hydra_setup

        sys.argv = [f"sgvb {name}", *rest]  # Hydra reads sys.argv itself and composes the config once
        result = hydra_setup.run_command(name, module.main)  # a config that does not compose: one line, status 2
    else:
        result = module.main(rest) if name not in ("list", "plugins") else getattr(module, f"{name}_main")(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
