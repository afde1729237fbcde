"""``sgvb check-plugin NAME``: build a component at tiny size and run it through its contract.

Each check is one line of the report (``ok`` or ``FAIL`` with the reason), so a plugin author sees
what the harness will call and what came back, before a training run does. The contracts are in
``registry/interfaces.py``; what is checked for each of them (how the harness builds such a component and
what it then calls) is in ``benchmarks/commands/contract_checks.py``, so a new contract is one entry there.
This module is the command: it picks the kinds, runs the checks and prints the report.

    sgvb check-plugin my_gen                          # every kind that has a component 'my_gen'
    sgvb check-plugin stylegan_v --kind discriminator channel_base=256 channel_max=16
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch
import yaml

from benchmarks.commands.contract_checks import (
    CHECKS,
    Checker,
    CheckResult,
    ContractChecks,
    EssentialCheckFailed,
    Probe,
    expect,
)
from benchmarks.errors import one_line_errors
from registry import REGISTRIES, RegistryError, registry_for
from registry.interfaces import CONTRACTS, conformance_problems


def check_component(
    kind: str, name: str, *, resolution: int = 16, kwargs: dict[str, Any] | None = None
) -> list[CheckResult]:
    """Build ``name`` of ``kind`` at tiny size and run it through its contract; one result per check."""
    registry = registry_for(kind)
    check = Checker()
    probe = Probe(registry, {"_name_": name, **dict(kwargs or {})}, resolution)
    contract = CONTRACTS.get(registry.kind)
    checks = CHECKS.get(contract, ContractChecks(lambda *_: None))
    try:
        built = checks.build(check, probe)
        if contract is None:
            check.note(f"kind '{registry.kind}' has no contract in registry/interfaces.py: only building is checked")
            return check.results
        check(
            f"meets the {contract.__name__} contract (registry/interfaces.py)",
            lambda: expect(not (problems := conformance_problems(built, contract)), "; ".join(problems)),
            essential=True,
        )
        torch.manual_seed(0)
        checks.run(check, built, probe)
    except EssentialCheckFailed:
        pass
    return check.results


def _parse_kwargs(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"constructor argument '{item}' must be key=value, e.g. channel_base=256")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _not_registered(name: str) -> str:
    """Close names only when they are close (a typo), else where a plugin's components come from."""
    import difflib

    from registry.core import canonical

    near = []
    for kind, registry in REGISTRIES.items():
        close = difflib.get_close_matches(canonical(name), registry.list(), n=1, cutoff=0.75)
        near += [f"{kind} '{close[0]}'"] if close else []
    hint = (
        f" Did you mean {', '.join(near[:3])}?"
        if near
        else " If it is a plugin's: is its package installed in this environment (pip install -e <its folder>) with"
        " an entry point in an sgvb.* group? `sgvb plugins` lists the installed plugins."
    )
    return f"no component is registered as '{name}'.{hint} `sgvb list` shows every name."


def _raise_ambiguous(name: str) -> None:
    """A name that several installed plugins provide (e.g. the tutorial's plugin installed twice, under two
    distribution names) is listed but does not resolve: raise the registry's own error, which names the providers
    and how to pick one (``<distribution>:NAME``), instead of "not registered"."""
    from registry.core import canonical

    for registry in REGISTRIES.values():
        if canonical(name).split(":", 1)[-1] in registry.list():
            registry.get(name)  # raises why it does not resolve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sgvb check-plugin",
        description="Build a component at tiny size and run it through its contract (registry/interfaces.py).",
    )
    parser.add_argument("name", help="registered name of the component (built-in or plugin)")
    parser.add_argument(
        "kwargs", nargs="*", help="constructor arguments key=value (YAML values), e.g. channel_base=256"
    )
    parser.add_argument("--kind", help=f"one of: {', '.join(REGISTRIES)} (default: every kind that has NAME)")
    parser.add_argument(
        "--resolution",
        type=int,
        default=16,
        help="frame size for generators, discriminators, augmentations (default 16)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # a bad argument, an unknown or ambiguous name, a plugin that fails to import: one line
    with one_line_errors("check-plugin", known=(KeyError, ValueError, RegistryError), exit_on_error=False) as failure:
        kwargs = _parse_kwargs(args.kwargs)
        kinds = [registry_for(args.kind).kind] if args.kind else [k for k, r in REGISTRIES.items() if args.name in r]
        if not kinds:
            _raise_ambiguous(args.name)
            raise ValueError(_not_registered(args.name))
        infos = {kind: REGISTRIES[kind].info(args.name) for kind in kinds}
    if failure:
        return failure.status
    failed = 0
    for kind in kinds:
        info = infos[kind]
        print(f"{kind} '{info.name}' ({info.obj}, {info.provider} {info.version})")
        results = check_component(kind, args.name, resolution=args.resolution, kwargs=kwargs)
        for result in results:
            print(result.line())
        checked, bad = sum(not r.note for r in results), sum(not r.ok for r in results)
        failed += bad
        print(f"  {checked} checks, {bad} failed" if bad else f"  all {checked} checks passed")
    return int(failed > 0)


if __name__ == "__main__":
    sys.exit(main())
