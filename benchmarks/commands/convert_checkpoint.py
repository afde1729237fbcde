"""``sgvb convert-checkpoint x.pkl out.pt``: an official network pickle as our ``weights_only`` checkpoint.

The pickle is read by the safe reader (nothing from it runs); the output loads with
``torch.load(weights_only=True)`` and works wherever a checkpoint does (``sgvb sample``, ``sgvb eval``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def converted_state(loaded: dict[str, Any]) -> dict[str, Any]:
    """Our checkpoint dict (built by ``records.checkpoint.checkpoint_state``) from what
    ``stylegan_v.official.load_network_pkl`` read."""
    from benchmarks.records.checkpoint import checkpoint_state, spec_of
    from stylegan_v.official import DEFAULT_MAX_NUM_FRAMES, snapshot_kimg

    kimg = snapshot_kimg(loaded)  # None when the file does not say: then no count is written (nothing invented)
    D = [loaded["D"]] if loaded.get("D") is not None else []
    return checkpoint_state(
        nimg=None if kimg is None else int(round(kimg * 1000)),
        components={"generator": spec_of(loaded["G"]), "discriminator": [spec_of(d) for d in D]},
        G=loaded["G"],
        G_ema=loaded["G_ema"],
        D=D,
        official={
            "source": loaded["source"],
            "augment_p": loaded.get("augment_p"),
            "training_set_path": str(loaded.get("training_set_kwargs", {}).get("path", "")),
            "max_num_frames": int(getattr(loaded["G"], "official_max_num_frames", DEFAULT_MAX_NUM_FRAMES)),
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgvb convert-checkpoint", description=__doc__.splitlines()[0])
    parser.add_argument("pickle", type=Path, help="official network-snapshot-*.pkl (StyleGAN-V)")
    parser.add_argument("out", type=Path, help="output checkpoint (.pt)")
    args = parser.parse_args(argv)
    import pickle

    from benchmarks.errors import one_line_errors
    from benchmarks.records.checkpoint import save_checkpoint
    from registry.files import check_writable
    from stylegan_v.official import load_network_pkl

    known = (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, pickle.UnpicklingError)
    with one_line_errors("convert-checkpoint", known=known, exit_on_error=False) as failure:
        if args.out.is_dir():
            raise IsADirectoryError(
                f"output '{args.out}' is a folder; give the checkpoint's file name, e.g. "
                f"{args.out / args.pickle.with_suffix('.pt').name}"
            )
        check_writable(args.out.parent, "output folder")  # before the pickle is read, not after
        state = converted_state(load_network_pkl(args.pickle))
        print(save_checkpoint(args.out, state))  # adds the format keys
    return failure.status


if __name__ == "__main__":
    sys.exit(main())
