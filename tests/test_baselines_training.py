"""The baselines under the training harness: a few steps of each paper preset, MoCoGAN-HD's stages,
cross-pairings of generators and discriminators, and a pairing that must be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from benchmarks.config.training import train_config
from benchmarks.records import checkpoint as ckpt
from benchmarks.training.components import ConfigError, build_discriminators, check_compatibility, smoke_test
from benchmarks.training.job import train
from registry import DATASETS, GENERATORS

# Tiny everything: 32x32 synthetic videos, narrow networks, a handful of steps.
TINY = [
    "trainer=tiny",
    "dataset.num_videos=6",
    "dataset.num_frames=16",
    "trainer.batch_size=2",
    "trainer.batch_gpu=2",
    "trainer.kimg_per_tick=0.004",
    "trainer.snapshot_kimg=100",
    "trainer.eval_kimg=100",
    "trainer.r1_interval=2",
    "samples.videos=2",
    "samples.frames=4",
    "samples.long_frames=6",
    "progress=false",
    "augmentation=none",
]
NARROW = {"channel_base": 128, "channel_max": 16, "ndf": 4}
NARROW_G = {
    "digan": {
        "z_dim": 16,
        "w_dim": 16,
        "motion_dim": 16,
        "fourier_dim": 8,
        "fmm_rank": 2,
        **{k: NARROW[k] for k in ("channel_base", "channel_max")},
    },
    "mocogan": {"ngf": 4, "channel_max": 16},
    "mocogan_hd": {
        "z_dim": 16,
        "w_dim": 16,
        "hidden_dim": 8,
        "n_pca": 8,
        "mapping_layers": 2,
        "pca_num_samples": 200,
        **{k: NARROW[k] for k in ("channel_base", "channel_max")},
    },
    "stylegan_v": {
        "z_dim": 16,
        "w_dim": 16,
        "motion_z_dim": 16,
        "motion_dim": 16,
        "channel_base": 128,
        "channel_max": 16,
    },
}


def make_config(*overrides: str):
    with initialize_config_module("benchmarks.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, *overrides])
    OmegaConf.set_struct(cfg, False)
    name = cfg.generator["_name_"]
    for key, value in NARROW_G.get(name, {}).items():
        cfg.generator[key] = value
    entries = cfg.discriminator.get("discriminators") or [cfg.discriminator]
    for entry in entries:
        for key, value in NARROW.items():
            if key in entry:
                entry[key] = value
        sampler = entry.get("_sampler_")
        if OmegaConf.is_dict(sampler) and sampler.get("_name_") == "consecutive":
            sampler["num_frames"] = 4  # short dense clips
    return cfg


def final_checkpoint(run_dir):
    path = ckpt.list_checkpoints(run_dir)[-1]
    return ckpt.load_checkpoint(path)


@pytest.mark.parametrize("model,kimg", [("digan", 0.008), ("mocogan", 0.016)])
def test_paper_preset_trains_a_few_steps(tmp_path, model, kimg):
    cfg = make_config(f"+model={model}_small", f"trainer.total_kimg={kimg}")
    train(train_config(cfg), tmp_path)
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "done", status
    stats = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert stats and all(k in stats[-1] for k in ("loss/G/D0", "loss/G/D1", "loss/D/D0", "loss/D/D1"))
    G = ckpt.load_generator(tmp_path)
    z = G.sample_z(1)
    t = torch.tensor([[0.0, 2.5, 7.0]]) if G.continuous_time else torch.tensor([[0.0, 3.0, 7.0]])
    video = G.generate_long(z, t, chunk_size=2)
    assert video.shape == (1, 3, 3, 32, 32) and torch.isfinite(video).all()


def test_mocogan_hd_runs_its_stages_and_keeps_the_image_generator_frozen(tmp_path):
    # Run 1: the image stage only (its budget equals the total), so the run stops before PCA.
    first = make_config("+model=mocogan_hd_small", "trainer.stage_kimg.image=0.004", "trainer.total_kimg=0.004")
    train(train_config(first), tmp_path / "image")
    image_state = final_checkpoint(tmp_path / "image")
    assert image_state["stage_index"] == 0
    # Run 2 continues it: PCA on the EMA image generator, then motion steps with 4-frame clips.
    second = make_config(
        "+model=mocogan_hd_small",
        "trainer.stage_kimg.image=0.004",
        "trainer.total_kimg=0.012",
        "trainer.stage_optim.motion.g_steps=2",
        f"resume={ckpt.list_checkpoints(tmp_path / 'image')[-1]}",
    )
    train(train_config(second), tmp_path / "motion")
    state = final_checkpoint(tmp_path / "motion")
    assert state["stage_index"] == 2 and int(state["G"]["stage_index"]) == 2
    # The motion stage's own optimiser settings (trainer.stage_optim.motion): Adam 1e-4, betas (0.5, 0.999).
    for opt in (state["opt_G"], *state["opt_D"][1:]):  # G and the motion stage's discriminators
        group = opt["param_groups"][0]
        assert group["lr"] == pytest.approx(1e-4) and tuple(group["betas"]) == pytest.approx((0.5, 0.999))
    image_keys = [k for k in state["G"] if k.startswith(("mapping.", "synthesis.")) and "w_avg" not in k]
    for key in image_keys:  # frozen from the image stage's G_ema on, in G and G_ema alike
        torch.testing.assert_close(state["G"][key], image_state["G_ema"][key], msg=key)
        torch.testing.assert_close(state["G_ema"][key], image_state["G_ema"][key], msg=key)
    motion_keys = [k for k in state["G"] if k.startswith("motion.")]
    assert any(not torch.equal(state["G"][k], image_state["G"][k]) for k in motion_keys)
    stats = [json.loads(line) for line in (tmp_path / "motion" / "stats.jsonl").read_text().splitlines()]
    motion = [s for s in stats if s["stage"] == "motion"]
    assert motion and all(k in motion[-1] for k in ("loss/G/D1", "loss/G/D2", "loss/gp/D2", "loss/G_mutual_info"))
    assert "loss/G/D0" not in motion[-1]  # the image D is off in the motion stage
    G = ckpt.load_generator(tmp_path / "motion")
    assert G.stage == "motion" and (G.pca_std > 0).all()
    video = G.generate_long(G.sample_z(1), torch.arange(12.0)[None], chunk_size=5)
    assert (video[:, 1:] - video[:, :1]).abs().max() > 0


# The cross-pairings listed in benchmarks/conf/grid/models.yaml: a generator with another family's discriminators.
PAIRINGS = [
    ("stylegan_v_small", "video3d_small"),
    ("mocogan_small", "video3d_small"),
    ("stylegan_v_small", "digan_small"),
    ("digan_small", "stylegan_v_small"),
    ("mocogan_small", "stylegan_v_small"),
    ("mocogan_hd_small", "stylegan_v_small"),
    ("digan_small", "mocogan_hd_video_small"),
]


def build_and_check(cfg):
    dataset = DATASETS.build(cfg.dataset)
    G = GENERATORS.build(cfg.generator, resolution=dataset.resolution)
    slots = build_discriminators(
        cfg.discriminator,
        resolution=dataset.resolution,
        default_sampler=cfg.sampler,
        default_loss=cfg.loss,
        r1_gamma=0.1,
    )
    stage_kimg = OmegaConf.to_container(cfg.trainer.stage_kimg)
    stages = G.training_stages
    if len(stages) > 1 and not stage_kimg:
        stage_kimg = {s: 0 for s in stages[:-1]}
    check_compatibility(
        G, slots, dataset, stages=stages, stage_kimg=stage_kimg, max_num_frames=cfg.trainer.max_num_frames
    )
    smoke_test(G.eval(), slots, dataset, torch.device("cpu"))
    return G, slots


def test_grid_lists_the_paper_models_and_its_cross_pairings():
    text = (Path(__file__).resolve().parents[1] / "benchmarks" / "conf" / "grid" / "models.yaml").read_text()
    assert "model: stylegan_v_small,digan_small,mocogan_hd_small,mocogan_small" in text
    for model, discriminator in PAIRINGS:
        line = next(
            line for line in text.splitlines() if line.endswith(f" discriminator={discriminator}") and model in line
        )
        assert line.startswith("#   sgvb grid models")


@pytest.mark.parametrize("model,discriminator", PAIRINGS)
def test_cross_pairings_build(model, discriminator):
    cfg = make_config("+grid=models", f"model={model}", f"discriminator={discriminator}")
    G, slots = build_and_check(cfg)
    assert G._sgvb_spec["_name_"] == model.removesuffix("_small")
    assert slots


def test_incompatible_pairing_fails_before_training_with_its_reason(tmp_path):
    cfg = make_config(
        "generator=mocogan_small",
        "discriminator=video3d",
        "discriminator._sampler_=sparse_random",
        "trainer.total_kimg=1",
    )
    with pytest.raises(ConfigError, match="needs dense clips"):
        train(train_config(cfg), tmp_path)
    cfg = make_config("generator=digan_small", "discriminator=digan_motion", "discriminator._sampler_=sparse_random")
    with pytest.raises(ConfigError, match="num_frames must be 2"):
        build_and_check(cfg)
    # MoCoGAN's preset trains on 8-frame windows: DIGAN's 16-frame pair window cannot fit.
    with pytest.raises(ConfigError, match="needs videos of at least 16 frames.*max_num_frames=8"):
        build_and_check(make_config("+grid=models", "model=mocogan_small", "discriminator=digan_small"))
    cfg = make_config("+model=mocogan_hd_small", "trainer.stage_kimg={image: 1}")
    with pytest.raises(ConfigError, match="stages are"):
        build_and_check(
            OmegaConf.merge(
                cfg,
                {
                    "discriminator": {
                        "discriminators": [
                            {**OmegaConf.to_container(cfg.discriminator.discriminators[0]), "_stages_": ["video"]}
                        ]
                    }
                },
            )
        )
