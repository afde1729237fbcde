"""Checkpoint files: atomic writes, weights_only loading, RNG round trip, corrupt-file skipping, pruning."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch

from benchmarks.records import checkpoint as ckpt
from registry import GENERATORS

SMALL_G = {
    "_name_": "stylegan_v",
    "z_dim": 16,
    "w_dim": 16,
    "motion_z_dim": 16,
    "motion_dim": 16,
    "channel_base": 256,
    "channel_max": 16,
}


def tiny_generator():
    torch.manual_seed(0)
    return GENERATORS.build(SMALL_G, resolution=16)


def write_generator_checkpoint(path, kimg=1.0):
    G = tiny_generator()
    state = {"kimg": kimg, "components": {"generator": ckpt.spec_of(G)}, "G": G.state_dict(), "G_ema": G.state_dict()}
    return ckpt.save_checkpoint(path, state), G


def test_checkpoint_loads_with_weights_only_and_rebuilds_the_generator(tmp_path):
    path, G = write_generator_checkpoint(tmp_path / "checkpoints" / ckpt.checkpoint_name(1.2))
    assert path.name == "ckpt-000001.200.pt"
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == ckpt.FORMAT and raw["components"]["generator"]["_name_"] == "stylegan_v"
    loaded = ckpt.load_generator(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    z, t = G.sample_z(2, generator=torch.Generator().manual_seed(1)), torch.tensor([[0.0, 3.5], [10.0, 700.0]])
    noise = G.sample_motion_noise(2, 700.0, generator=torch.Generator().manual_seed(2))
    G.eval()
    torch.testing.assert_close(loaded(z, t, motion_noise=noise), G(z, t, motion_noise=noise))
    assert ckpt.load_generator(tmp_path).resolution == 16  # a run folder works too


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    state = ckpt.capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.save_checkpoint(tmp_path / "c.pt", {"rng": state})
    loaded = ckpt.load_checkpoint(tmp_path / "c.pt")
    torch.rand(5), np.random.rand(5), random.random()  # move every stream on
    ckpt.restore_rng_state(loaded["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_atomic_write_leaves_the_old_file_when_saving_fails(tmp_path):
    path = tmp_path / "ckpt-000001.pt"
    ckpt.save_checkpoint(path, {"kimg": 1.0})

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ckpt.save_checkpoint(path, {"kimg": 2.0, "bad": Unsaveable()})
    assert ckpt.load_checkpoint(path)["kimg"] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-000001.pt"]  # no temp file left behind


def test_corrupt_latest_checkpoint_is_skipped_with_a_warning(tmp_path, caplog):
    write_generator_checkpoint(tmp_path / "checkpoints" / "ckpt-000001.pt", kimg=1.0)
    good = (tmp_path / "checkpoints" / "ckpt-000001.pt").read_bytes()
    (tmp_path / "checkpoints" / "ckpt-000002.pt").write_bytes(good[: len(good) // 2])  # truncated
    (tmp_path / "checkpoints" / "ckpt-000003.pt").write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING, logger="sgvb"):
        path, state = ckpt.latest_checkpoint(tmp_path)
    assert path.name == "ckpt-000001.pt" and state["kimg"] == 1.0
    assert caplog.text.count("skipping unreadable checkpoint") == 2
    with pytest.raises(ValueError, match="ckpt-000003.pt.*cannot be read"):
        ckpt.load_checkpoint(tmp_path / "checkpoints" / "ckpt-000003.pt")


def test_non_sgvb_files_and_missing_files_get_clear_errors(tmp_path):
    torch.save({"G": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an sgvb checkpoint"):
        ckpt.load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no-such.pt"):
        ckpt.load_generator(tmp_path / "no-such.pt")
    with pytest.raises(FileNotFoundError, match="no readable checkpoint"):
        ckpt.load_generator(tmp_path)


def test_pruning_keeps_the_newest_and_the_protected_best(tmp_path):
    for kimg in (1, 2, 3, 4, 5):
        ckpt.save_checkpoint(tmp_path / "checkpoints" / ckpt.checkpoint_name(kimg), {"kimg": float(kimg)})
    ckpt.prune_checkpoints(tmp_path, keep=2, protected={"ckpt-000002.000.pt"})
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "ckpt-000002.000.pt",
        "ckpt-000004.000.pt",
        "ckpt-000005.000.pt",
    ]


def test_checkpoint_names_are_unique_per_training_state(tmp_path):
    """Snapshots less than 1 kimg apart used to overwrite one file
    (``snapshot_kimg=0.25``: three writes to ckpt-000000.pt)."""
    names = [ckpt.checkpoint_name(kimg) for kimg in (0.25, 0.5, 0.75, 1.0, 1.848)]
    assert len(set(names)) == 5 and names[-1] == "ckpt-000001.848.pt"
    for kimg in (0.25, 0.5):
        ckpt.save_checkpoint(tmp_path / "checkpoints" / ckpt.checkpoint_name(kimg), {"kimg": kimg})
    ckpt.save_checkpoint(tmp_path / "checkpoints" / "ckpt-000001.pt", {"kimg": 1.0})  # an older run's name still sorts
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "ckpt-000000.250.pt",
        "ckpt-000000.500.pt",
        "ckpt-000001.pt",
    ]
    assert [ckpt.checkpoint_kimg(p) for p in ckpt.list_checkpoints(tmp_path)] == [0.25, 0.5, 1.0]


def test_evaluated_kimg_comes_from_the_stored_image_count_and_survives_renaming(tmp_path):
    G = tiny_generator()
    state = {
        "nimg": 1848,
        "kimg": 1.848,
        "components": {"generator": ckpt.spec_of(G)},
        "G": G.state_dict(),
        "G_ema": G.state_dict(),
    }
    renamed = ckpt.save_checkpoint(tmp_path / "best_so_far.pt", state)
    assert ckpt.load_generator_and_kimg(renamed)[1] == 1.848  # was None: the kimg was read from the file name only
    del state["nimg"]  # a state without the counter: the name says it, or nothing does
    assert ckpt.load_generator_and_kimg(ckpt.save_checkpoint(tmp_path / "ckpt-000002.500.pt", state))[1] == 2.5
    assert ckpt.load_generator_and_kimg(ckpt.save_checkpoint(tmp_path / "other.pt", state))[1] is None


def test_the_checkpoint_dict_is_built_in_one_place(tmp_path):
    """``checkpoint_state`` builds the dict for the training loop and for ``sgvb convert-checkpoint``: what is not given
    is left out (a generator-only file says so), and the count it writes is what readers take the kimg from."""
    G = tiny_generator()
    spec = {"generator": ckpt.spec_of(G)}
    plain = ckpt.checkpoint_state(nimg=None, components=spec, G=G, G_ema=G, D=[])
    assert plain["kimg"] is None and "nimg" not in plain and plain["D"] == []
    assert not {"opt_G", "opt_D", "augment", "rng", "best", "config", "world_size", "official"} & set(plain)
    full = ckpt.checkpoint_state(
        nimg=1848,
        components=spec,
        G=G,
        G_ema=G,
        D=[],
        step=7,
        tick=2,
        opt_G=torch.optim.Adam(G.parameters()),
        opt_D=[],
        rng=[ckpt.capture_rng_state()],
        schedule={"stage_index": 0, "last_eval_kimg": 1.0},
        world_size=1,
        config="seed: 0\n",
        best={},
    )
    assert (full["kimg"], full["nimg"], full["step"], full["tick"]) == (1.848, 1848, 7, 2)
    assert full["stage_index"] == 0 and full["last_eval_kimg"] == 1.0 and full["best"] == {} and full["opt_D"] == []
    path = ckpt.save_checkpoint(tmp_path / "renamed.pt", full)
    assert ckpt.load_generator_and_kimg(path)[1] == 1.848 and ckpt.state_kimg(ckpt.load_checkpoint(path)) == 1.848
