"""JEDi parity: the authors' code (``videojedi`` 1.1.0 + ``vjepa`` 0.1.2) against ours on the same weights and videos.

    python -m benchmarks.speed.parity_jedi                    # ViT-H widths, 2 blocks (~2 min on 2 CPU cores)
    python -m benchmarks.speed.parity_jedi --config tiny --write-pins tests/data/jedi_reference.json

``--reference-python`` (default ``/work/refenvs/jedi/venv/bin/python``) runs the reference role.

The reference cannot share our environment (``videojedi`` pins pandas 2.2.2 and torchvision < 0.20), so it runs in
its own: ``python -m venv /work/refenvs/jedi/venv``, ``pip install --no-deps videojedi==1.1.0 vjepa==0.1.2 decord
opencv-python-headless`` and a ``.pth`` line that appends our venv's site-packages (same torch, numpy, scikit-learn).

The reference role builds V-JEPA's own ``VisionTransformer`` (the ViT-H widths, ``--depth`` blocks: ``vit_huge``
fixes 32, the class does not) wrapped in its ``ClipAggregation`` and the ``AttentiveClassifier`` probe, fills every
parameter with seeded random values (``random_state``: LayerNorm scales near 1, the rest small), writes them in the
published layouts (``vith16.pth.tar``: ``target_encoder`` / ``module.backbone.*``; ``ssv2-probe.pth.tar``:
``classifier`` / ``module.*``), loads them back through videojedi's ``load_pretrained`` / ``load_checkpoint``, and
computes ``VJEPA.get_feats`` on clips /255 in (B, T, C, H, W) and ``JEDiMetric.compute_metric``. Our role loads the
same files with ``VJEPAFeatures.load_published`` (strict) and runs ``VJEPADetector`` on the same uint8 clips and
``jedi_mmd2`` in float64 and float32. Two input sizes: the table's own (no resampling) and an odd one (resampled
position table, token grid floored).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = {
    # ViT-H/16 widths (1280, 16 heads) at reduced depth; inputs: 224 x 224 x 16 (the table's) and 8 x 160 x 200
    "huge": dict(embed_dim=1280, depth=2, num_heads=16, patch_size=16, img_size=224, num_frames=16),
    # the CI pins: tiny widths, the same code paths
    "tiny": dict(embed_dim=64, depth=2, num_heads=4, patch_size=8, img_size=32, num_frames=8),
}
NUM_VIDEOS = {"huge": 3, "tiny": 3}  # per side


def input_shapes(cfg: dict) -> dict[str, tuple[int, int, int]]:
    """(T, H, W) of the two cases: the position table's own size, and an odd size that resamples it."""
    img, t, p = cfg["img_size"], cfg["num_frames"], cfg["patch_size"]
    return {"native": (t, img, img), "resampled": (t // 2 + 2, img * 5 // 4 + p // 2, img * 3 // 4 + 3)}


def random_state(layout: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Seeded float32 values for every key (sorted order): ``*norm*.weight`` 1 + 0.1 N(0, 1), the rest 0.05 N(0, 1)."""
    rng = np.random.default_rng(seed)
    state = {}
    for key in sorted(layout):
        values = rng.standard_normal(layout[key])
        is_norm_scale = key.endswith(".weight") and "norm" in key.rsplit(".", 2)[-2]
        state[key] = (1.0 + 0.1 * values if is_norm_scale else 0.05 * values).astype(np.float32)
    return state


def clips(seed: int, n: int, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 ``[n, 3, T, H, W]``: smooth moving gradients plus noise, so features differ across clips."""
    rng = np.random.default_rng(seed)
    t, h, w = shape
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    out = np.empty((n, 3, t, h, w), np.uint8)
    for i in range(n):
        phase, speed = rng.uniform(0, 6.28, 3), rng.uniform(0.1, 0.5)
        for f in range(t):
            for c in range(3):
                base = 0.5 + 0.4 * np.sin(6 * (xx + yy * (c + 1) / 3) + phase[c] + speed * f)
                out[i, c, f] = np.clip(255 * base + rng.normal(0, 12, (h, w)), 0, 255).astype(np.uint8)
    return out


# ----------------------------------------------------------------------------------------- reference role
def reference_role(config: str, seed: int, folder: Path) -> None:
    """Runs in the reference environment: writes the checkpoints and ``reference.npz`` into ``folder``."""
    from functools import partial

    import torch
    import videojedi.V_JEPA as VJ
    import vjepa.datasets.utils.video.transforms as video_transforms  # exactly as videojedi imports it
    from torch import nn
    from videojedi import JEDiMetric
    from videojedi.V_JEPA_utils import ClipAggregation
    from vjepa.models.attentive_pooler import AttentiveClassifier
    from vjepa.models.vision_transformer import VisionTransformer

    cfg = CONFIGS[config]
    encoder = VisionTransformer(
        img_size=cfg["img_size"],
        patch_size=cfg["patch_size"],
        num_frames=cfg["num_frames"],
        tubelet_size=2,
        embed_dim=cfg["embed_dim"],
        depth=cfg["depth"],
        num_heads=cfg["num_heads"],
        mlp_ratio=4,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        uniform_power=True,  # configs/vith16_ssv2_16x2x3.yaml
        use_sdpa=True,
        use_SiLU=False,
        tight_SiLU=False,
    )
    classifier = AttentiveClassifier(embed_dim=cfg["embed_dim"], num_heads=cfg["num_heads"], depth=1, num_classes=174)

    class DDPLike(nn.Module):  # load_checkpoint loads into the DistributedDataParallel wrapper: keys 'module.*'
        def __init__(self, module):
            super().__init__()
            self.module = module

    holder = DDPLike(classifier)
    layout = {f"module.backbone.{k}": tuple(v.shape) for k, v in encoder.state_dict().items()}
    layout.update({k: tuple(v.shape) for k, v in holder.state_dict().items()})
    state = {k: torch.from_numpy(v) for k, v in random_state(layout, seed).items()}
    enc_state = {k: v for k, v in state.items() if k.startswith("module.backbone.")}
    probe_state = {k: v for k, v in state.items() if not k.startswith("module.backbone.")}
    torch.save({"target_encoder": enc_state, "epoch": 0}, folder / "vith16.pth.tar")
    torch.save({"classifier": probe_state, "epoch": 0}, folder / "ssv2-probe.pth.tar")

    with contextlib.redirect_stdout(io.StringIO()):  # load_pretrained prints the whole model
        VJ.load_pretrained(encoder=encoder, pretrained=str(folder / "vith16.pth.tar"), checkpoint_key="target_encoder")
    holder = VJ.load_checkpoint(device="cpu", r_path=str(folder / "ssv2-probe.pth.tar"), classifier=holder)
    for k, v in encoder.state_dict().items():  # the reference loaders swallow errors: check they loaded
        assert torch.equal(v, enc_state[f"module.backbone.{k}"]), f"reference did not load {k}"
    for k, v in holder.state_dict().items():
        assert torch.equal(v, probe_state[k]), f"reference did not load {k}"

    vjepa = VJ.VJEPA.__new__(VJ.VJEPA)  # VJEPA.__init__ downloads the published files; set what get_feats uses
    vjepa.encoder = ClipAggregation(encoder, tubelet_size=2, attend_across_segments=True).eval()
    vjepa.classifier = holder.eval()
    vjepa.transforms = video_transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    vjepa.finetuned = True

    out = {"normalize": f"{type(vjepa.transforms).__module__}.{type(vjepa.transforms).__name__}"}
    for case, shape in input_shapes(cfg).items():
        feats = {}
        for side, side_seed in (("real", seed + 1), ("fake", seed + 2)):
            video = torch.from_numpy(clips(side_seed, NUM_VIDEOS[config], shape))  # [B, 3, T, H, W] uint8
            t0 = time.perf_counter()
            feats[side] = vjepa.get_feats(video.permute(0, 2, 1, 3, 4).float() / 255.0)  # (B, T, C, H, W) in [0, 1]
            out[f"{case}_{side}_seconds"] = time.perf_counter() - t0
            out[f"{case}_{side}"] = feats[side]
        metric = JEDiMetric()
        metric.train_features, metric.test_features = feats["real"], feats["fake"]
        out[f"{case}_jedi"] = np.float64(metric.compute_metric())
    np.savez(folder / "reference.npz", **out)


# ----------------------------------------------------------------------------------------- our role
def our_role(config: str, seed: int, folder: Path) -> dict:
    import torch

    from metrics.jedi import jedi_mmd2
    from metrics.vjepa import VJEPADetector, VJEPAFeatures

    cfg = CONFIGS[config]
    model = VJEPAFeatures.build(**cfg)
    model.load_published(
        torch.load(folder / "vith16.pth.tar", weights_only=True),
        torch.load(folder / "ssv2-probe.pth.tar", weights_only=True),
    )
    detector = VJEPADetector(model, name=f"vjepa[{config}]", sha256=None)
    ref = np.load(folder / "reference.npz")
    report = {"config": config, **cfg, "reference_normalize": str(ref["normalize"])}
    for case, shape in input_shapes(cfg).items():
        feats = {}
        for side, side_seed in (("real", seed + 1), ("fake", seed + 2)):
            video = torch.from_numpy(clips(side_seed, NUM_VIDEOS[config], shape))
            t0 = time.perf_counter()
            feats[side] = detector(video).numpy()
            report[f"{case}_{side}_seconds_ours"] = round(time.perf_counter() - t0, 2)
            report[f"{case}_{side}_seconds_reference"] = round(float(ref[f"{case}_{side}_seconds"]), 2)
            want = ref[f"{case}_{side}"]
            report[f"{case}_{side}_features_rel"] = float(np.abs(feats[side] - want).max() / np.abs(want).max())
        want = float(ref[f"{case}_jedi"])
        for dtype in (np.float64, np.float32):
            got = jedi_mmd2(feats["fake"], feats["real"], dtype=dtype)
            report[f"{case}_jedi_rel_{np.dtype(dtype).name}"] = abs(got - want) / abs(want)
        report[f"{case}_jedi_reference"] = want
        report[f"{case}_shape_TxHxW"] = "x".join(map(str, shape))
    return report


def pins(config: str, seed: int, folder: Path) -> dict:
    """What tests/test_jedi.py pins: the reference's features and values on the tiny config."""
    import torch

    ref = np.load(folder / "reference.npz")
    cfg = CONFIGS[config]
    out = {
        "config": config,
        "seed": seed,
        "num_videos": NUM_VIDEOS[config],
        "reference": "videojedi 1.1.0, vjepa 0.1.2",
    }
    for file, entry in (("vith16.pth.tar", "target_encoder"), ("ssv2-probe.pth.tar", "classifier")):
        state = torch.load(folder / file, weights_only=True)[entry]
        out[f"{entry}_layout"] = {k: list(v.shape) for k, v in state.items()}  # the reference's key names
    for case, shape in input_shapes(cfg).items():
        out[case] = {
            "shape": list(shape),
            "real": ref[f"{case}_real"].astype(float).tolist(),
            "fake": ref[f"{case}_fake"].astype(float).tolist(),
            "jedi": float(ref[f"{case}_jedi"]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-python", default="/work/refenvs/jedi/venv/bin/python")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="huge")
    parser.add_argument("--depth", type=int, default=None, help="encoder blocks (default: the config's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-pins", default=None, help="write the tiny config's reference values to this JSON")
    parser.add_argument("--role", choices=["driver", "reference"], default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.depth is not None:
        CONFIGS[args.config]["depth"] = args.depth
    if args.role == "reference":
        reference_role(args.config, args.seed, Path(args.folder))
        return
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [args.reference_python, "-m", "benchmarks.speed.parity_jedi", "--role", "reference"]
        cmd += ["--config", args.config, "--seed", str(args.seed), "--folder", tmp]
        cmd += [] if args.depth is None else ["--depth", str(args.depth)]
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(root)}
        subprocess.run(cmd, check=True, cwd=root, env=env)
        report = our_role(args.config, args.seed, Path(tmp))
        if args.write_pins:
            Path(args.write_pins).write_text(json.dumps(pins(args.config, args.seed, Path(tmp)), indent=1) + "\n")
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
