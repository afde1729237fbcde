"""FVMD parity: ``metrics.fvmd`` against the reference package ``fvmd`` 1.0.0, run in its own environment.

    python -m benchmarks.speed.parity_fvmd                  # the small case (seconds) and the full definition
    python -m benchmarks.speed.parity_fvmd --case small     # only the small case; --write-fixture re-pins CI

Both sides load the same random weights written in the published PIPs++ layout (``{'model_state_dict': ...}``,
loaded strictly by both) and see the same uint8 videos (``metrics.testing.moving_blobs``, saved as ``.npy``):

* ``full``: the definition (16-frame clips resized to 256, 400 points, 16 steps), 2 real + 2 generated videos;
  the reference runs end to end through ``fvmd.fvmd.fvmd`` (its own files, resize, tracker, histograms,
  estimator); its histograms are read back from the velocity/acceleration files it writes.
* ``medium`` / ``small``: the same code at 128 px, 8 / 4 frames, 10 x 10 / 5 x 5 points, 5 steps (the last one
  halved, as the last quarter of the definition's 16), through the reference's ``track_keypoints``, ``calc_hist``
  and ``calculate_fd_given_vectors`` with those arguments (what ``fvmd.fvmd.fvmd`` calls). ``medium`` has several
  time cubes and cells (the histogram layout); ``small`` is cheap enough for CI: ``--write-fixture`` stores its
  reference features and value in ``tests/data/fvmd_reference_small.npz`` (pinned by ``tests/test_fvmd.py``).

Cost: ``full`` tracks 400 points x 16 frames x 16 steps through 1-d convolutions of up to 1024 channels, about
3 TFLOP a clip: 16 min for its 8 clip runs on a shared 2-core CPU (``PARITY_THREADS=1``); ``medium`` 3 min.

The reference environment (``--env``, default ``/work/refenvs/fvmd``) is created when missing: a Python 3.11
venv with ``fvmd==1.0.0`` and its pinned requirements (scipy 1.10.1, scikit-learn 1.3.0, einops 0.6.1,
opencv 4.8.0.76, ...; numpy < 1.27 for that scipy). torch and torchvision are not pinned by ``fvmd``; the venv
takes this project's (a ``.pth`` line), so both sides run the same torch build. The reference code calls
``.cuda()`` throughout: on the CPU it runs with ``.cuda()`` made a no-op and its grid built on the CPU, nothing
else changed. Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "fvmd_reference_small.npz"
DEFAULT_ENV = Path("/work/refenvs/fvmd")
CASES = {
    # size: frames resized to; frames: clip length; side: points per grid side; iters: refinement steps
    "full": dict(size=256, frames=16, side=20, iters=16, videos=2, resolution=32),
    "medium": dict(size=128, frames=8, side=10, iters=5, videos=2, resolution=32),
    "small": dict(size=128, frames=4, side=5, iters=5, videos=2, resolution=32),
}
WEIGHT_SEED = 0


# ----------------------------------------------------------------------------------------- shared inputs
def threads() -> int:
    """Torch threads on both sides (``PARITY_THREADS``, default 2): equal settings give equal kernels."""
    return int(os.environ.get("PARITY_THREADS", "2"))


def random_pips_checkpoint(seed: int = WEIGHT_SEED) -> dict:
    """Random weights in the published ``pips2_weights.pth`` layout, drawn from numpy's PCG64 in key order
    (reproducible on any machine): N(0, 1/fan_in) weights, N(0, 0.01) biases; the update head (``dense``) with
    weights 100x smaller and N(0, 1) biases. Why: with a full-gain head a random tracker is chaotic (a
    rounding-level change in one convolution moves points by pixels after a few steps), so no two float
    implementations could agree; a trained tracker is contractive, and so is this one (points drift by up to
    tens of pixels, rounding differences stay at rounding level)."""
    import torch

    from metrics.pips import PUBLISHED, PIPsPlusPlus

    rng = np.random.default_rng(seed)
    state = {}
    for key, value in PIPsPlusPlus(**PUBLISHED).state_dict().items():
        shape = tuple(value.shape)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = 1 / np.sqrt(fan_in) if len(shape) > 1 else 0.1
        if key == "delta_block.dense.weight":
            scale *= 0.01
        elif key == "delta_block.dense.bias":
            scale = 1.0
        state[key] = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))
    return {"model_state_dict": state}


def case_videos(case: dict) -> tuple[np.ndarray, np.ndarray]:
    """(real, generated) uint8 ``[V, T, H, W, 3]``: moving blobs, the generated ones drifting 3x faster."""
    from metrics.testing import moving_blobs

    n, t, r = case["videos"], case["frames"], case["resolution"]
    real = np.stack([v.numpy() for v in moving_blobs(n, t, r, seed=1)])
    fake = np.stack([v.numpy() for v in moving_blobs(n, t, r, seed=2, speed=3.0)])
    return real, fake


# ----------------------------------------------------------------------------------------- our side
def ours(case: dict, checkpoint: dict, real: np.ndarray, fake: np.ndarray) -> dict:
    """Our features (rows in video order) and value, the definition's constants set to the case's."""
    import torch

    from metrics import fvmd
    from metrics.pips import PUBLISHED, PIPsPlusPlus, load_published

    model = load_published(PIPsPlusPlus(**PUBLISHED), checkpoint)
    saved = fvmd.INPUT_SIZE, fvmd.GRID_SIDE, fvmd.TRACK_ITERS, torch.get_num_threads()
    fvmd.INPUT_SIZE, fvmd.GRID_SIDE, fvmd.TRACK_ITERS = case["size"], case["side"], case["iters"]
    torch.set_num_threads(threads())  # as the reference side: the thread count can change convolution rounding
    try:
        det = fvmd.MotionHistogramDetector(
            model, name="pips2", sha256=None, num_frames=case["frames"], resolution=case["size"]
        )

        def features(videos: np.ndarray) -> np.ndarray:
            clips = torch.from_numpy(videos).permute(0, 4, 1, 2, 3)  # [V, 3, T, H, W]
            return torch.cat([det(clip[None]) for clip in clips]).double().numpy()

        start = time.perf_counter()
        f_real, f_fake = features(real), features(fake)
        seconds = time.perf_counter() - start
    finally:
        fvmd.INPUT_SIZE, fvmd.GRID_SIDE, fvmd.TRACK_ITERS = saved[:3]
        torch.set_num_threads(saved[3])
    values = {
        official: fvmd.fvmd_distance(
            f_fake.mean(0),
            np.cov(f_fake, rowvar=False),
            f_real.mean(0),
            np.cov(f_real, rowvar=False),
            official=official,
        )
        for official in (False, True)
    }
    return {"real": f_real, "fake": f_fake, "value": values[False], "value_official": values[True], "s": seconds}


# ----------------------------------------------------------------------------------------- reference side
def reference_side(work: Path, case_name: str) -> None:
    """Runs INSIDE the reference environment: the reference code on ``work``'s files -> ``work/reference.npz``."""
    import torch

    torch.Tensor.cuda = lambda self, *a, **k: self  # the reference calls .cuda() throughout
    module_to = torch.nn.Module.to
    torch.nn.Module.to = lambda self, *a, **k: module_to(self, *[("cpu" if "cuda" in str(x) else x) for x in a])
    import fvmd.keypoint_tracking as kt
    import fvmd.utils.basic as basic
    from fvmd.datasets.video_datasets import VideoDatasetNP
    from fvmd.extract_motion_features import calc_hist
    from fvmd.frechet_distance import calculate_fd_given_vectors

    grid = basic.meshgrid2d
    basic.meshgrid2d = lambda *a, **k: grid(*a, **{**k, "device": "cpu"})
    kt.load_state_dict_from_url = lambda *a, **k: torch.load(work / "weights.pth", map_location="cpu")
    torch.set_num_threads(threads())

    case = CASES[case_name]
    start = time.perf_counter()
    if case_name == "full":  # the package's own entry point, end to end (gen/gt swapped inside, as published)
        from fvmd import fvmd as entry_point  # the package re-exports fvmd.fvmd.fvmd under this name

        value = entry_point(log_dir=str(work / "log"), gen_path=str(work / "fake.npy"), gt_path=str(work / "real.npy"))
    else:
        kw = dict(img_size=case["size"], seq_len=case["frames"])
        real, fake = VideoDatasetNP(np.load(work / "real.npy"), **kw), VideoDatasetNP(np.load(work / "fake.npy"), **kw)
        (work / "log").mkdir(exist_ok=True)
        velo_gen, velo_gt, acc_gen, acc_gt = kt.track_keypoints(
            log_dir=str(work / "log"),
            gen_dataset=real,  # the order fvmd.fvmd.fvmd passes them in (its build_dataset returns gt first)
            gt_dataset=fake,
            S=case["frames"],
            N=case["side"] ** 2,
            iters=case["iters"],
            image_size=(256, 256),
        )
        b = velo_gen.shape[0]
        gt = np.concatenate([calc_hist(velo_gt).reshape(b, -1), calc_hist(acc_gt).reshape(b, -1)], axis=1)
        gen = np.concatenate([calc_hist(velo_gen).reshape(b, -1), calc_hist(acc_gen).reshape(b, -1)], axis=1)
        value = calculate_fd_given_vectors(gt, gen)
    seconds = time.perf_counter() - start
    # track_keypoints files: "*_gen" hold its gen_dataset = the real videos (fvmd.fvmd.fvmd passes gt there)
    hist = {}
    for side, tag in (("real", "gen"), ("fake", "gt")):
        v, a = np.load(work / "log" / f"velocity_{tag}.npy"), np.load(work / "log" / f"acceleration_{tag}.npy")
        b = v.shape[0]
        hist[side] = np.concatenate([calc_hist(v).reshape(b, -1), calc_hist(a).reshape(b, -1)], axis=1)
    np.savez(work / "reference.npz", real=hist["real"], fake=hist["fake"], value=float(value), s=seconds)


def ensure_reference_env(env: Path) -> Path:
    """The reference venv's python, created with fvmd 1.0.0's pins when missing (module doc)."""
    python = env / "venv" / "bin" / "python"
    if python.exists():
        return python
    base = next(
        (p for p in ("python3.11", os.path.expanduser("~/.pyenv/versions/3.11.7/bin/python")) if _runs(p)), None
    )
    if base is None:
        raise SystemExit("parity_fvmd: needs a Python 3.11 interpreter for the reference environment (fvmd's pins)")
    env.mkdir(parents=True, exist_ok=True)
    subprocess.run([base, "-m", "venv", str(env / "venv")], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--no-deps", "fvmd==1.0.0"], check=True)
    requires = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print('\\n'.join(m.requires('fvmd')))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    pins = [r for r in requires if r.split("=")[0].strip() not in ("torch", "torchvision")]
    subprocess.run([*pip, *pins, "numpy<1.27"], check=True)
    import torch

    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "zz_torch_from_project.pth").write_text(str(Path(torch.__file__).parents[1]) + "\n")
    return python


def _runs(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import sys; assert sys.version_info[:2] == (3, 11)"]).returncode == 0
    except OSError:
        return False


# ----------------------------------------------------------------------------------------- driver
def run_case(case_name: str, python: Path, write_fixture: bool = False) -> dict:
    import torch

    case = CASES[case_name]
    checkpoint = random_pips_checkpoint()
    real, fake = case_videos(case)
    with tempfile.TemporaryDirectory(prefix="parity_fvmd_") as tmp:
        work = Path(tmp)
        torch.save(checkpoint, work / "weights.pth")
        np.save(work / "real.npy", real)
        np.save(work / "fake.npy", fake)
        # by path, not as a package module: the reference environment must not import this project
        subprocess.run(
            [str(python), __file__, "--reference-side", str(work), "--case", case_name],
            check=True,
            cwd=work,
            stdout=subprocess.DEVNULL,
        )
        with np.load(work / "reference.npz") as ref:
            ref = {k: ref[k] for k in ref.files}
    mine = ours(case, checkpoint, real, fake)
    feats_ref = np.concatenate([ref["real"], ref["fake"]])
    feats_ours = np.concatenate([mine["real"], mine["fake"]])
    value_ref = float(ref["value"])
    row = {
        "case": case_name,
        **{k: case[k] for k in ("size", "frames", "side", "iters")},
        "videos_per_side": case["videos"],
        "feature_dim": int(feats_ref.shape[1]),
        "histograms_equal": bool(np.array_equal(feats_ref, feats_ours)),
        "histogram_max_abs_diff": float(np.abs(feats_ref - feats_ours).max()),
        "value_reference": value_ref,
        "value_ours": mine["value"],
        "rel_diff": abs(mine["value"] - value_ref) / abs(value_ref),
        "value_ours_official": mine["value_official"],
        "rel_diff_official": abs(mine["value_official"] - value_ref) / abs(value_ref),
        "s_reference": round(float(ref["s"]), 1),
        "s_ours": round(mine["s"], 1),
        "torch": torch.__version__,
    }
    if write_fixture:
        if case_name != "small":
            raise SystemExit("--write-fixture pins the small case only")
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            FIXTURE,
            real=ref["real"].astype(np.float32),
            fake=ref["fake"].astype(np.float32),
            value=np.float64(value_ref),
            videos_sha256=np.array(_sha(real, fake)),
        )
    return row


def _sha(*arrays: np.ndarray) -> str:
    import hashlib

    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--env", type=Path, default=DEFAULT_ENV, help="reference environment folder")
    parser.add_argument("--write-fixture", action="store_true", help="re-pin tests/data (small case)")
    parser.add_argument("--reference-side", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_side is not None:
        reference_side(args.reference_side, args.case)
        return
    python = ensure_reference_env(args.env)
    for name in ["small", "medium", "full"] if args.case == "all" else [args.case]:
        print(json.dumps(run_case(name, python, write_fixture=args.write_fixture and name == "small")), flush=True)


if __name__ == "__main__":
    sys.exit(main())
