"""``sgvb convert-checkpoint x.pkl out.pt``: an official network pickle as our ``weights_only`` checkpoint.

The pickle is read by the safe reader (nothing from it runs); the output loads with
``torch.load(weights_only=True)`` and works wherever a checkpoint does (``sgvb sample``, ``sgvb eval``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def checkpoint_state(loaded: dict[str, Any]) -> dict[str, Any]:
    """Our checkpoint dict (what ``sgvb sample``/``eval`` read) from ``stylegan_v.official.load_network_pkl``'s result."""
    from benchmarks.records.checkpoint import spec_of
    from stylegan_v.official import DEFAULT_MAX_NUM_FRAMES, snapshot_kimg

    kimg = snapshot_kimg(loaded)  # None when the file does not say: then no count is written (nothing invented)
    D = loaded.get("D")
    return {
        "kimg": kimg, **({"nimg": int(round(kimg * 1000))} if kimg is not None else {}), "step": 0, "tick": 0,
        "components": {"generator": spec_of(loaded["G"]), "discriminator": [spec_of(D)] if D is not None else []},
        "G": loaded["G"].state_dict(), "G_ema": loaded["G_ema"].state_dict(), "D": [D.state_dict()] if D is not None else [],
        "official": {"source": loaded["source"], "augment_p": loaded.get("augment_p"),
                     "training_set_path": str(loaded.get("training_set_kwargs", {}).get("path", "")),
                     "max_num_frames": int(getattr(loaded["G"], "official_max_num_frames", DEFAULT_MAX_NUM_FRAMES))},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgvb convert-checkpoint", description=__doc__.splitlines()[0])
    parser.add_argument("pickle", type=Path, help="official network-snapshot-*.pkl (StyleGAN-V)")
    parser.add_argument("out", type=Path, help="output checkpoint (.pt)")
    args = parser.parse_args(argv)
    from benchmarks.records.checkpoint import save_checkpoint
    from stylegan_v.official import load_network_pkl

    try:
        state = checkpoint_state(load_network_pkl(args.pickle))
    except (FileNotFoundError, ValueError) as exc:
        print(f"sgvb convert-checkpoint: {exc}", file=sys.stderr)
        return 2
    print(save_checkpoint(args.out, state))  # adds the format keys
    return 0


if __name__ == "__main__":
    sys.exit(main())
