"""Run TATS', DIGAN's, VideoGPT's and common_metrics_on_video_quality's own FVD code against ``metrics.published``.

None of them is on the package index, so their code is loaded from local checkouts (nothing of it is copied here):

    git clone https://github.com/SongweiGe/TATS CODE/TATS
    git clone https://github.com/sihyun-yu/digan CODE/digan
    git clone https://github.com/wilson1yan/VideoGPT CODE/VideoGPT
    git -C CODE/VideoGPT worktree add ../VideoGPT-3eee7ec 3eee7ec      # the [-0.5, 0.5] version
    git clone https://github.com/JunyaoHu/common_metrics_on_video_quality CODE/common_metrics_on_video_quality
    python -m benchmarks.speed.parity_protocols --code CODE [--i3d]

Each row runs one step of a published pipeline (their function on their input layout) and the protocol's step on the
same uint8 videos (non-square, so crop-vs-stretch shows) or the same features, and prints max |difference| / max
|value| (0 = bit-identical). ``--i3d`` adds TATS's ``InceptionI3d`` against ours on random weights in the
``i3d_pretrained_400.pt`` layout at 224² (seconds on a CPU). Imports their modules without their package
``__init__`` (which pull in training code); ``h5py``, ``pytorch_lightning`` and TATS's CoinRun modules are stubbed for
VideoGPT's and TATS's ``data.py``, whose ``preprocess`` uses none of them.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import torch

from metrics.published import estimators, pixels


def _package(name: str, path: Path) -> None:
    """A namespace package ``name`` at ``path`` without running its ``__init__``."""
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    sys.modules[name] = module


def _stub(*names: str) -> None:
    for name in names:
        if name in sys.modules:
            continue
        module = types.ModuleType(name)
        module.__getattr__ = _stub_attribute
        sys.modules[name] = module


def _stub_attribute(attr: str):
    """Any class a stubbed module's importer subclasses at import time (``pl.LightningDataModule``)."""
    if attr.startswith("__"):
        raise AttributeError(attr)
    return type(attr, (), {})


def _load(name: str, file: Path):
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _rel(ours, theirs) -> float:
    a = torch.as_tensor(np.asarray(ours, dtype=np.float64) if not torch.is_tensor(ours) else ours).double()
    b = torch.as_tensor(np.asarray(theirs, dtype=np.float64) if not torch.is_tensor(theirs) else theirs).double()
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: ours {tuple(a.shape)}, theirs {tuple(b.shape)}")
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def rows(code: Path, *, i3d: bool = False, size: int = 32) -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    videos = rng.integers(0, 256, (2, 10, 24, 40, 3), dtype=np.uint8)  # B T H W C, non-square
    ours_in = torch.from_numpy(videos).permute(0, 4, 1, 2, 3).contiguous()  # B C T H W
    fake = torch.from_numpy(rng.standard_normal((64, 400)).astype(np.float32))
    real = torch.from_numpy((rng.standard_normal((64, 400)) * 1.2 + 0.1).astype(np.float32))
    out: list[tuple[str, float]] = []

    tats_root = code / "TATS"
    if tats_root.is_dir():
        _stub("pytorch_lightning", "h5py")
        _package("tats", tats_root / "tats")
        _package("tats.fvd", tats_root / "tats" / "fvd")
        tats = importlib.import_module("tats.fvd.fvd")
        theirs = tats.preprocess(videos, (size, size))
        out.append(("TATS preprocess vs stretch_pm1", _rel(pixels.stretch_pm1(ours_in, size), theirs)))
        out.append(
            (
                "TATS frechet_distance vs tfgan_float32",
                _rel(estimators.tfgan_float32(fake, real), float(tats.frechet_distance(fake, real))),
            )
        )
        _stub("tats.coinrun", "tats.coinrun.coinrun_data", "tats.coinrun.tokenizer")  # CoinRun only
        tats_data = _load("tats.data", tats_root / "tats" / "data.py")
        loader = torch.stack(
            [((tats_data.preprocess(torch.from_numpy(v), 24)["video"] + 0.5) * 255).byte() for v in videos]
        )  # what sample_vqgan_transformer_short_videos.py feeds get_fvd_logits
        out.append(
            ("TATS loader + (v+0.5)*255 .byte() vs pm05_roundtrip", _rel(pixels.pm05_roundtrip(ours_in, 24), loader))
        )
        if i3d:
            from metrics.i3d import InceptionI3d
            from metrics.testing import random_i3d_state_dict

            state = random_i3d_state_dict(0)
            theirs_net = importlib.import_module("tats.fvd.pytorch_i3d").InceptionI3d(400, in_channels=3).eval()
            theirs_net.load_state_dict(state, strict=False)
            ours_net = InceptionI3d(400).eval()
            ours_net.load_state_dict(state)
            x = pixels.stretch_pm1(ours_in, 224)
            with torch.no_grad():
                out.append(("TATS InceptionI3d vs ours (224², random weights)", _rel(ours_net(x), theirs_net(x))))

    digan = code / "digan" / "src" / "scripts" / "fvd" / "fvd.py"
    if digan.is_file():
        d = _load("digan_fvd", digan)
        out.append(
            (
                "DIGAN preprocess vs shorter_crop_pm1",
                _rel(pixels.shorter_crop_pm1(ours_in, size), d.preprocess(videos, size)),
            )
        )
        out.append(
            (
                "DIGAN frechet_distance vs tfgan_float32",
                _rel(estimators.tfgan_float32(fake, real), float(d.frechet_distance(fake, real))),
            )
        )

    for folder, step in (("VideoGPT", pixels.shorter_crop_pm1), ("VideoGPT-3eee7ec", pixels.shorter_crop_pm05)):
        root = code / folder
        if not root.is_dir():
            continue
        _stub("pytorch_lightning", "h5py")
        for key in [k for k in sys.modules if k == "videogpt" or k.startswith("videogpt.")]:
            del sys.modules[key]
        _package("videogpt", root / "videogpt")
        _package("videogpt.fvd", root / "videogpt" / "fvd")
        v = importlib.import_module("videogpt.fvd.fvd")
        out.append((f"{folder} preprocess vs {step.__name__}", _rel(step(ours_in, size), v.preprocess(videos, size))))
        out.append(
            (
                f"{folder} frechet_distance vs tfgan_float32",
                _rel(estimators.tfgan_float32(fake, real), float(v.frechet_distance(fake, real))),
            )
        )

    cm = code / "common_metrics_on_video_quality"
    if cm.is_dir():
        _package("cm_fvd", cm / "fvd")
        _package("cm_fvd.videogpt", cm / "fvd" / "videogpt")
        sg = _load("cm_styleganv_fvd", cm / "fvd" / "styleganv" / "fvd.py")
        vg = importlib.import_module("cm_fvd.videogpt.fvd")
        # its get_feats stacks features onto a float64 np.empty: the distance sees float64
        unit = ours_in.float() / 255  # what a user passes: [0, 1] floats, B C T H W after its trans()
        theirs = torch.stack([sg.preprocess_single(video, resolution=size) for video in unit])
        out.append(
            (
                "common_metrics styleganv preprocess_single vs cm_styleganv",
                _rel(pixels.cm_styleganv(ours_in, size), theirs),
            )
        )
        f64, r64 = fake.numpy().astype(np.float64), real.numpy().astype(np.float64)
        out.append(
            (
                "common_metrics styleganv frechet_distance vs numpy_cov_sqrtm",
                _rel(estimators.numpy_cov_sqrtm(fake, real), sg.frechet_distance(f64, r64)),
            )
        )
        out.append(
            (
                "common_metrics videogpt preprocess vs shorter_crop_pm1",
                _rel(pixels.shorter_crop_pm1(ours_in, size), vg.preprocess(unit, size)),
            )
        )
        out.append(
            (
                "common_metrics videogpt frechet_distance vs tfgan_float32",
                _rel(estimators.tfgan_float32(fake, real), vg.frechet_distance(fake, real)),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed.parity_protocols",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--code", required=True, help="folder holding the checkouts named above")
    parser.add_argument("--i3d", action="store_true", help="also TATS's InceptionI3d vs ours at 224²")
    args = parser.parse_args(argv)
    found = rows(Path(args.code).expanduser(), i3d=args.i3d)
    if not found:
        print(f"no checkout found under {args.code} (see --help)", file=sys.stderr)
        return 2
    print("| published step vs protocol step | max abs. diff / max abs. |\n|---|---|")
    for name, rel in found:
        print(f"| {name} | {'0 (bit-identical)' if rel == 0 else f'{rel:.2g}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
