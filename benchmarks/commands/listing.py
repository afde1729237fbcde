"""``sgvb list`` and ``sgvb plugins``: what components exist and where they come from."""

from __future__ import annotations

import argparse
import sys

from registry import REGISTRIES, PluginLoadError, registry_for
from registry.plugins import CONFIG_GROUP, entries


def list_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="sgvb list", description="List registered components (built-ins and plugins)."
    )
    parser.add_argument("kind", nargs="?", help=f"one of: {', '.join(REGISTRIES)} (singular or plural)")
    parser.add_argument("pattern", nargs="?", default="*", help="wildcard pattern, e.g. 'stylegan*'")
    args = parser.parse_args(argv)
    if args.kind is None:
        kinds = list(REGISTRIES)
    else:
        try:
            kinds = [registry_for(args.kind).kind]
        except KeyError as exc:
            print(f"sgvb list: {exc.args[0]}", file=sys.stderr)
            return 2
    status = 0
    for kind in kinds:
        registry = REGISTRIES[kind]
        names = registry.list(args.pattern)
        print(f"{registry.plural}:")
        if not names:
            hint = registry.suggest(args.pattern)
            print(f"  (no {kind} matches '{args.pattern}')" + (f" Did you mean '{hint}'?" if hint else ""))
            status = 1 if args.kind is not None else status
            continue
        for name in names:
            info = registry.info(name)
            origin = f"[plugin: {info.provider} {info.version}]" if info.plugin else ""
            aliases = f"(aliases: {', '.join(info.aliases)})" if info.aliases else ""
            print(f"  {name:<28} {aliases} {origin}".rstrip())
    return status


def plugins_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="sgvb plugins", description="Show plugin entry points and whether they import."
    )
    parser.add_argument("--check", action="store_true", help="import every plugin component to report failures")
    args = parser.parse_args(argv)
    rows = []
    for kind, registry in REGISTRIES.items():
        for entry in entries(registry.entry_point_group):
            state = "not imported"
            if args.check:
                try:
                    registry.get(entry.name)
                    state = "ok"
                except PluginLoadError as exc:
                    state = f"FAILED: {exc.__cause__!r}" if exc.__cause__ else f"FAILED: {exc}"
            rows.append((entry.dist, entry.version, kind, entry.name, entry.value, state))
    for entry in entries(CONFIG_GROUP):
        rows.append((entry.dist, entry.version, "configs", entry.name, f"pkg://{entry.value}", "search path"))
    if not rows:
        print(
            "no plugins installed (entry-point groups: "
            + ", ".join(r.entry_point_group for r in REGISTRIES.values())
            + f", {CONFIG_GROUP})"
        )
        return 0
    header = ("distribution", "version", "kind", "name", "object", "status")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return int(any(r[-1].startswith("FAILED") for r in rows))
