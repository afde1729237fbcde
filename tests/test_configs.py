"""Every shipped config option composes, and every component option builds, so a broken YAML fails here,
not hours into a cluster job."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from registry import REGISTRIES
from registry.interfaces import CONTRACTS, conformance_problems

CONF = Path(__file__).resolve().parents[1] / "benchmarks" / "conf"
GROUPS = ("generator", "discriminator", "dataset", "sampler", "loss", "augmentation", "trainer", "model")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.fixture(scope="module")
def hydra_train():
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        yield lambda overrides: compose("train", overrides=overrides)


def assert_holds_option(cfg, group: str, option: str) -> None:
    """Every value the option file sets (outside its defaults list) is in the composed config, where its package puts it."""
    path = CONF / group / f"{option}.yaml"
    values = OmegaConf.load(path)
    values.pop("defaults", None)
    composed = cfg if path.read_text().startswith("# @package _global_") else cfg[group]
    merged = OmegaConf.merge(composed, values)
    assert OmegaConf.to_container(merged) == OmegaConf.to_container(composed), f"{group}={option}: its values did not reach the config"


def test_every_option_of_every_group_composes(hydra_train):
    for group in GROUPS:
        for option in options(group):
            override = f"+{group}={option}" if group == "model" else f"{group}={option}"
            assert_holds_option(hydra_train([override]), group, option)
    for grid in options("grid"):
        hydra_train([f"+grid={grid}"])


@pytest.mark.parametrize("kind", ["generator", "discriminator", "sampler", "loss", "augmentation"])
def test_every_component_option_names_a_registered_component_that_builds(kind):
    registry = REGISTRIES[kind]
    for option in options(kind):
        spec = OmegaConf.to_container(OmegaConf.load(CONF / kind / f"{option}.yaml"), resolve=True)
        entries = spec["discriminators"] if "discriminators" in spec else [spec]  # a harness list of discriminators
        for entry in entries:
            entry = {k: v for k, v in entry.items() if k == "_name_" or not (k.startswith("_") and k.endswith("_"))}  # drop harness keys
            runtime = {"resolution": 32} if kind in ("generator", "discriminator") else {}
            with torch.device("meta"):  # official sizes cost nothing on the meta device
                built = registry.build(entry, **runtime)
            assert conformance_problems(built, CONTRACTS[kind]) == [], f"{kind}/{option}.yaml"
            assert registry.get(built._sgvb_spec["_name_"]) is registry.get(entry["_name_"]), f"{kind}/{option}.yaml"
