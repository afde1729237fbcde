"""Long-video consistency score: definition pieces, ranking of pathological videos, saved curves."""

import json
import math

import numpy as np
import pytest
import torch

from metrics import evaluate
from metrics.consistency import lag_profiles, loop_rebound
from metrics.testing import ArrayVideoDataset, moving_blobs, save_tiny_torchscript_detector

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")

T = 32


def test_lag_profile_is_the_mean_cosine_at_each_lag():
    f = torch.nn.functional.normalize(torch.randn(3, 10, 5, dtype=torch.float64), dim=-1)
    prof = lag_profiles(f)
    for d in range(10):
        brute = (f[:, : 10 - d] * f[:, d:]).sum(-1).mean(-1)
        torch.testing.assert_close(prof[:, d], brute)
    assert torch.allclose(prof[:, 0], torch.ones(3, dtype=torch.float64))


def test_loop_rebound_is_zero_for_monotone_and_positive_for_returning_profiles():
    decaying = torch.linspace(1, 0.2, 16).unsqueeze(0)
    looping = torch.tensor([[1.0, 0.8, 0.5, 0.8, 1.0, 0.8, 0.5, 0.8, 1.0, 0.8, 0.5, 0.8, 1.0, 0.8, 0.5, 0.8]])
    assert loop_rebound(decaying).item() == pytest.approx(0.0)
    assert loop_rebound(looping).item() == pytest.approx(0.5)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """LVC of real-like, frozen, looping and too-fast videos against real videos of the same process."""
    tmp = tmp_path_factory.mktemp("lvc")
    detector = save_tiny_torchscript_detector(tmp / "frames.pt", video=False)
    real = ArrayVideoDataset(moving_blobs(8, T, 16, seed=1))
    like = moving_blobs(8, T, 16, seed=2)
    fakes = {
        "like": like,
        "frozen": [v[:1].expand(T, -1, -1, -1).clone() for v in like],
        "loop": [
            torch.cat([v[:6], v[:6].flip(0)]).repeat(3, 1, 1, 1)[:T].clone() for v in like
        ],  # ping-pong, period 12
        "drift": moving_blobs(8, T, 16, seed=2, speed=4),
    }
    out = {}
    for name, videos in fakes.items():
        out[name] = evaluate(
            f"consistency8_{T}f",
            fake=ArrayVideoDataset(videos),
            real=real,
            detector_path=detector,
            cache_dir=tmp / "cache",
            run_dir=tmp / name if name == "loop" else None,
            kimg=1,
        )
    return out, tmp


def test_frozen_looping_and_drifting_videos_score_worse_than_real_like_ones(scored):
    out, _ = scored
    values = {k: r["value"] for k, r in out.items()}
    assert values["frozen"] == pytest.approx(1.0, abs=1e-6)  # by construction: misses all the data's change
    for bad in ("frozen", "loop", "drift"):
        assert values[bad] > 2 * values["like"], values
    res = {k: r["results"] for k, r in out.items()}
    name = f"consistency8_{T}f"
    assert res["frozen"][f"{name}_short"] == pytest.approx(-1.0) and res["frozen"][f"{name}_long"] == pytest.approx(
        -1.0
    )
    assert res["drift"][f"{name}_long"] > 0.2 and res["drift"][f"{name}_short"] > 1.0
    assert res["loop"][f"{name}_loop"] > res["like"][f"{name}_loop"]
    assert out["like"]["protocol"]["real_cache_hit"] is False and out["frozen"]["protocol"]["real_cache_hit"] is True


def test_curves_and_plot_are_saved_next_to_the_jsonl(scored):
    out, tmp = scored
    rec = out["loop"]
    run = tmp / "loop"
    assert json.loads((run / f"metric-consistency8_{T}f.jsonl").read_text())["artifacts"] == rec["artifacts"]
    curves = np.load(run / rec["artifacts"]["curves"])
    assert (
        curves["lag_gen"].shape == (T,)
        and curves["anchor_real"].shape == (T,)
        and curves["fd_window_gen"].shape == (8,)
    )
    assert (run / rec["artifacts"]["plot"]).read_bytes()[:4] == b"\x89PNG"
    assert rec["artifacts"]["curves"] == f"metric-consistency8_{T}f/kimg000001.000.npz"


def test_long_generated_videos_are_rendered_in_chunks(tmp_path):
    """A 64-frame score from a generator: G only ever sees chunk_size frames at once, times 0..T-1."""
    from metrics.testing import TinyVideoGenerator

    class Spy(TinyVideoGenerator):
        seen = []

        def forward(self, z, t, motion_noise=None, truncation_psi=1.0):
            self.seen.append(t[0].tolist())
            return super().forward(z, t, motion_noise, truncation_psi)

    G = Spy(resolution=16)
    real = ArrayVideoDataset(moving_blobs(3, 64, 16, seed=4))
    detector = save_tiny_torchscript_detector(tmp_path / "frames.pt", video=False)
    rec = evaluate(
        {"_name_": "consistency", "num_videos": 3, "num_frames": 64, "chunk_size": 8},
        fake=G,
        real=real,
        detector_path=detector,
        cache_dir=tmp_path,
        batch_size=2,
    )
    assert rec["metric"] == "consistency3_64f" and rec["protocol"]["num_fake"] == 3 and np.isfinite(rec["value"])
    assert max(len(t) for t in Spy.seen) == 8
    assert sum(Spy.seen[:8], []) == list(range(64))  # first batch: frames 0..63 in order


# ------------------------------------------------------------------ properties on feature sequences (no detector)
from metrics.consistency import ConsistencyAccumulator, summarize  # noqa: E402
from registry import DISTORTIONS  # noqa: E402

FEAT_T, FEAT_D = 32, 24


def feature_videos(n: int, frames: int, seed: int) -> torch.Tensor:
    """``[n, frames, d]`` per-frame features of smooth real-like videos: a content vector plus slow random sinusoids."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames, dtype=torch.float64)[None, :, None, None]  # [1, T, 1, 1]
    periods = 20 + 100 * torch.rand(n, 1, FEAT_D, 3, generator=g, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(n, 1, FEAT_D, 3, generator=g, dtype=torch.float64)
    motion = torch.sin(2 * math.pi * t / periods + phase).sum(-1)  # [n, T, d]
    content = 1.5 * torch.randn(n, 1, FEAT_D, generator=g, dtype=torch.float64)
    return content + motion


def lvc(gen: torch.Tensor, real: torch.Tensor) -> tuple[float, dict]:
    sides = []
    for f in (gen, real):
        acc = ConsistencyAccumulator(f.shape[1], 4, f.shape[2], torch.device("cpu"))
        acc.update(f)
        sides.append({k: v.numpy() for k, v in acc.sums.items()})
    value, sub, _ = summarize(*sides)
    return value, sub


@pytest.fixture(scope="module")
def feature_halves():
    real = feature_videos(96, FEAT_T, seed=1)
    test = feature_videos(96, 4 * FEAT_T, seed=2)  # 4x longer: room for speed changes
    return real, test, lvc(test[:, :FEAT_T], real)[0]


def test_lvc_frozen_is_exactly_one_and_worse_than_any_coherent_over_motion(feature_halves):
    real, test, floor = feature_halves
    frozen, sub = lvc(test[:, :1].expand(-1, FEAT_T, -1), real)
    assert frozen == pytest.approx(1.0) and sub["under"] == pytest.approx(1.0) and sub["over"] == 0
    assert floor < 0.1
    pool = test[:, :FEAT_T].reshape(-1, FEAT_D)
    unrelated = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(3))].reshape(96, FEAT_T, FEAT_D)
    incoherent, sub = lvc(unrelated, real)  # every frame from a random video and time: no temporal coherence at all
    assert sub["under"] == 0 and incoherent >= sub["over"] > 0.5
    fast = [
        lvc(DISTORTIONS.build("speed_change").apply(test, s, FEAT_T, None), real)[0] for s in (0.5, 1.0)
    ]  # 2x and 4x
    assert floor < fast[0] < fast[1] <= frozen and incoherent <= frozen  # nothing scores worse than no change at all


@pytest.mark.parametrize(
    "name",
    ["frame_freeze", "window_shuffle", "segment_reversal", "speed_change", "loop", "frame_drops", "content_switch"],
)
def test_lvc_rises_with_the_strength_of_every_frame_order_distortion(feature_halves, name):
    real, test, floor = feature_halves
    d = DISTORTIONS.build(name)
    g = torch.Generator().manual_seed(0)
    values = [floor] + [lvc(d.apply(test, s, FEAT_T, g), real)[0] for s in (0.25, 0.5, 1.0)]
    if (
        name == "loop"
    ):  # LVC is capped at 1, the frozen video's score (strength 1 is frozen); shorter loops may reach it earlier
        assert (
            values[1] > values[0]
            and all(b >= a - 1e-9 for a, b in zip(values, values[1:]))
            and values[-1] == pytest.approx(1.0)
        ), values
    else:
        assert all(b > a for a, b in zip(values, values[1:])), values


def test_lvc_ignores_what_keeps_feature_distances_and_barely_moves_for_small_per_frame_noise(feature_halves):
    """A per-frame change the detector answers with a fixed rotation (a colour shift, ideally)
    leaves LVC exactly at its floor;
    small independent per-frame noise moves it a little (it is a little temporal change)."""
    real, test, floor = feature_halves
    rotation, _ = torch.linalg.qr(
        torch.randn(FEAT_D, FEAT_D, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    )
    assert lvc(test[:, :FEAT_T] @ rotation, real)[0] == pytest.approx(floor, abs=1e-9)
    noisy = test[:, :FEAT_T] + 0.1 * torch.randn(
        96, FEAT_T, FEAT_D, generator=torch.Generator().manual_seed(6), dtype=torch.float64
    )
    value = lvc(noisy, real)[0]
    assert floor < value < floor + 0.2
