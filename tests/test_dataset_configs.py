"""Hydra configs of the standard benchmarks: `dataset=<name>` and the paper presets `experiment=<name>`."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from benchmarks.data.prepare import PREPARERS
from registry import GENERATORS


@pytest.fixture(scope="module")
def train_cfg():
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        yield lambda overrides: compose("train", overrides=overrides)


@pytest.mark.parametrize("name", sorted(PREPARERS))
def test_dataset_config_points_at_what_prepare_writes(train_cfg, name):
    cfg = train_cfg([f"dataset={name}"])
    resolution = PREPARERS.get(name).resolution
    assert cfg.dataset._name_ == "frames" and cfg.dataset.resolution == resolution
    assert cfg.dataset.path == f"data/{name}_{resolution}.zip"


@pytest.mark.parametrize("name", sorted(PREPARERS))
def test_experiment_preset_is_stylegan_v_on_the_dataset(train_cfg, name):
    cfg = train_cfg([f"experiment={name}", "dataset.path=elsewhere.zip"])
    assert cfg.dataset.path == "elsewhere.zip" and cfg.dataset.resolution == PREPARERS.get(name).resolution
    assert (
        cfg.generator._name_ == "stylegan_v"
        and cfg.discriminator._name_ == "stylegan_v"
        and cfg.sampler._name_ == "sparse_random"
    )
    assert cfg.samples.fps == PREPARERS.get(name).fps
    spec = OmegaConf.to_container(cfg.generator, resolve=True)
    with torch.device("meta"):
        assert GENERATORS.build(spec, resolution=cfg.dataset.resolution) is not None
    sky = name == "sky_timelapse"  # the official README's min_period_len=256 (motion code spacing tied to it)
    assert cfg.generator.motion_spacing == (256 if sky else 16)
    assert (OmegaConf.select(cfg, "generator.positional_encoding.min_period") == 256) == sky
