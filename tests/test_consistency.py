"""Long-video consistency score: definition pieces, ranking of pathological videos, saved curves."""
import json

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
        "loop": [torch.cat([v[:6], v[:6].flip(0)]).repeat(3, 1, 1, 1)[:T].clone() for v in like],  # ping-pong, period 12
        "drift": moving_blobs(8, T, 16, seed=2, speed=4),
    }
    out = {}
    for name, videos in fakes.items():
        out[name] = evaluate(f"consistency8_{T}f", fake=ArrayVideoDataset(videos), real=real, detector_path=detector,
                             cache_dir=tmp / "cache", run_dir=tmp / name if name == "loop" else None, kimg=1)
    return out, tmp


def test_frozen_looping_and_drifting_videos_score_worse_than_real_like_ones(scored):
    out, _ = scored
    values = {k: r["value"] for k, r in out.items()}
    assert values["frozen"] == pytest.approx(1.0, abs=1e-6)  # by construction: misses all the data's change
    for bad in ("frozen", "loop", "drift"):
        assert values[bad] > 2 * values["like"], values
    res = {k: r["results"] for k, r in out.items()}
    name = f"consistency8_{T}f"
    assert res["frozen"][f"{name}_short"] == pytest.approx(-1.0) and res["frozen"][f"{name}_long"] == pytest.approx(-1.0)
    assert res["drift"][f"{name}_long"] > 0.2 and res["drift"][f"{name}_short"] > 1.0
    assert res["loop"][f"{name}_loop"] > res["like"][f"{name}_loop"]
    assert out["like"]["protocol"]["real_cache_hit"] is False and out["frozen"]["protocol"]["real_cache_hit"] is True


def test_curves_and_plot_are_saved_next_to_the_jsonl(scored):
    out, tmp = scored
    rec = out["loop"]
    run = tmp / "loop"
    assert json.loads((run / f"metric-consistency8_{T}f.jsonl").read_text())["artifacts"] == rec["artifacts"]
    curves = np.load(run / rec["artifacts"]["curves"])
    assert curves["lag_gen"].shape == (T,) and curves["anchor_real"].shape == (T,) and curves["fd_window_gen"].shape == (8,)
    assert (run / rec["artifacts"]["plot"]).read_bytes()[:4] == b"\x89PNG"
    assert rec["artifacts"]["curves"] == f"metric-consistency8_{T}f/kimg000001.npz"


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
    rec = evaluate({"_name_": "consistency", "num_videos": 3, "num_frames": 64, "chunk_size": 8}, fake=G, real=real,
                   detector_path=detector, cache_dir=tmp_path, batch_size=2)
    assert rec["metric"] == "consistency3_64f" and rec["protocol"]["num_fake"] == 3 and np.isfinite(rec["value"])
    assert max(len(t) for t in Spy.seen) == 8
    assert sum(Spy.seen[:8], []) == list(range(64))  # first batch: frames 0..63 in order
