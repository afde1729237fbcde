"""``sgvb convert-checkpoint x.pkl out.pt``: an official network pickle as our ``weights_only`` checkpoint.

The pickle is read by the safe reader (nothing from it runs); the output loads with
``torch.load(weights_only=True)`` and works wherever a checkpoint does (``sgvb sample``, ``sgvb eval``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgvb convert-checkpoint", description=__doc__.splitlines()[0])
    parser.add_argument("pickle", type=Path, help="official network-snapshot-*.pkl (StyleGAN-V)")
    parser.add_argument("out", type=Path, help="output checkpoint (.pt)")
    args = parser.parse_args(argv)
    from benchmarks.training.checkpoint import save_checkpoint
    from stylegan_v.official import load_network_pkl, to_sgvb_checkpoint

    try:
        state = to_sgvb_checkpoint(load_network_pkl(args.pickle))
    except (FileNotFoundError, ValueError) as exc:
        print(f"sgvb convert-checkpoint: {exc}", file=sys.stderr)
        return 2
    state = {k: v for k, v in state.items() if k not in ("format", "format_version")}
    print(save_checkpoint(args.out, state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
