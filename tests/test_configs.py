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
GROUPS = ("generator", "discriminator", "dataset", "sampler", "loss", "augmentation", "trainer", "experiment", "model")
PRESETS = ("trainer=tiny", "trainer=small", "experiment=tiny")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.fixture(scope="module")
def hydra_train():
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        yield lambda overrides: compose("train", overrides=overrides)


def assert_holds_option(cfg, group: str, option: str) -> None:
    """Every value the option file sets (outside its defaults list) is in the composed config,
    where its package puts it."""
    path = CONF / group / f"{option}.yaml"
    values = OmegaConf.load(path)
    values.pop("defaults", None)
    composed = cfg if path.read_text().startswith("# @package _global_") else cfg[group]
    merged = OmegaConf.merge(composed, values)
    assert OmegaConf.to_container(merged) == OmegaConf.to_container(composed), (
        f"{group}={option}: its values did not reach the config"
    )


def test_every_option_of_every_group_composes(hydra_train):
    for group in GROUPS:
        for option in options(group):
            override = f"+{group}={option}" if group == "model" else f"{group}={option}"
            assert_holds_option(hydra_train([override]), group, option)
    for grid in options("grid"):
        hydra_train([f"+grid={grid}"])


@pytest.mark.parametrize("kind", ["generator", "discriminator", "sampler", "loss", "augmentation"])
def test_every_component_option_names_a_registered_component_that_builds(kind, hydra_train):
    registry = REGISTRIES[kind]
    for option in options(kind):
        spec = OmegaConf.to_container(
            hydra_train([f"{kind}={option}"])[kind], resolve=True
        )  # *_small options inherit their full size
        entries = spec["discriminators"] if "discriminators" in spec else [spec]  # a harness list of discriminators
        for entry in entries:
            entry = {
                k: v for k, v in entry.items() if k == "_name_" or not (k.startswith("_") and k.endswith("_"))
            }  # drop harness keys
            runtime = {"resolution": 32} if kind in ("generator", "discriminator") else {}
            with torch.device("meta"):  # official sizes cost nothing on the meta device
                built = registry.build(entry, **runtime)
            assert conformance_problems(built, CONTRACTS[kind]) == [], f"{kind}/{option}.yaml"
            assert registry.get(built._sgvb_spec["_name_"]) is registry.get(entry["_name_"]), f"{kind}/{option}.yaml"


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_with_every_dataset(hydra_train, preset):
    """A preset may choose a dataset, but never leaves keys in one the user picks (trainer=tiny dataset=frames)."""
    for dataset in options("dataset"):
        alone = hydra_train(
            [f"dataset={dataset}", "dataset.path=/data/x.zip"]
            if dataset in ("frames", "mp4")
            else [f"dataset={dataset}"]
        )
        combined = hydra_train(
            [preset, f"dataset={dataset}", *(["dataset.path=/data/x.zip"] if dataset in ("frames", "mp4") else [])]
        )
        assert combined.dataset == alone.dataset, (preset, dataset)


def test_small_presets_inherit_their_full_size_file():
    for group in ("generator", "discriminator", "trainer", "model"):
        for small in sorted((CONF / group).glob("*_small.yaml")) + sorted((CONF / group).glob("small.yaml")):
            text = small.read_text()
            full = small.stem.removesuffix("_small") if small.stem != "small" else "default"
            if "discriminators:" in text:
                continue  # a list of discriminators is replaced whole by a merge, so it is written out
            assert f"  - {full}\n" in text, f"{small} does not inherit {full} through its defaults list"


def test_option_types_are_checked_at_composition_with_one_line():
    from benchmarks.config.hydra_setup import check_composes

    assert (
        check_composes("train", ["trainer.batch_size=abc"])
        == "option trainer.batch_size=abc: Value 'abc' of type 'str' could not be converted to Integer"
    )
    assert "option trainer.total_kimg=[1, 2]" in check_composes("train", ["trainer.total_kimg=[1,2]"])
    assert "option seed=x" in check_composes("train", ["seed=x"])
    assert "Did you mean 'stylegan_v'?" in check_composes("train", ["generator=stylegan_vv"])
    assert check_composes("train", ["trainer.batch_size=8"]) is None


def test_built_in_components_are_options_without_a_yaml():
    from benchmarks.config.hydra_setup import check_composes, install
    from registry import LOSSES

    assert "ralsgan" in LOSSES.list() and not (CONF / "loss" / "ralsgan.yaml").exists()
    install()
    assert check_composes("train", ["loss=ralsgan"]) is None
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        assert compose("train", overrides=["loss=ralsgan"]).loss == {"_name_": "ralsgan"}
        assert compose("train", overrides=["loss=hinge"]).loss == {"_name_": "hinge"}  # a YAML option still wins


@pytest.fixture
def fresh_hydra():
    """Hydra initialised for this test alone (``check_composes`` clears the module-wide ``hydra_train`` set-up)."""
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    "command, override, key, expected",
    [
        ("sample", "num_frames=abc", "num_frames", "Integer"),
        ("sample", "seeds=x", "seeds", "list"),
        ("sample", "fps=fast", "fps", "Float"),
        ("eval", "num_runs=x", "num_runs", "Integer"),
        ("eval", "fake.ema=maybe", "fake.ema", "bool"),
        ("stats", "seed=x", "seed", "Integer"),
        ("stats", "allow_fewer=2x", "allow_fewer", "bool"),
    ],
)
def test_eval_sample_stats_types_are_checked_at_composition_with_one_line(command, override, key, expected):
    from benchmarks.config.hydra_setup import check_composes

    problem = check_composes(command, [override])
    assert problem.startswith(f"option {override}: ") and expected in problem and "\n" not in problem, problem
    assert key in problem


def test_a_mistyped_key_gets_the_closest_key():
    from benchmarks.config.hydra_setup import check_composes

    assert "unknown option 'num_frame'" in check_composes("sample", ["num_frame=3"])
    assert "Did you mean 'num_frames'?" in check_composes("sample", ["num_frame=3"])
    assert "Did you mean 'run_dir'?" in check_composes("eval", ["fake.run_dirr=x"])
    assert "Did you mean 'metric'?" in check_composes("stats", ["metrc=fid2k"])
    assert "Did you mean 'batch_size'?" in check_composes("train", ["trainer.batch_sise=8"])
    assert "Did you mean" not in check_composes("sample", ["zzz=3"])


def test_eval_sample_stats_defaults_come_from_their_schemas(fresh_hydra):
    """Each default is written once, in benchmarks/config/commands.py: the YAML holds no top-level value of its own."""
    import inspect
    from dataclasses import fields

    from benchmarks.commands.sample import sample_videos
    from benchmarks.config.commands import EvalConfig, SampleConfig, StatsConfig

    for name, schema in (("eval", EvalConfig), ("sample", SampleConfig), ("stats", StatsConfig)):
        assert f"- {name}_schema" in (CONF / f"{name}.yaml").read_text()
        own = set(OmegaConf.load(CONF / f"{name}.yaml")) - {"defaults", "hydra", "dataset"}
        assert own == set(), (name, own)
        cfg = compose(name, overrides=["dataset=synthetic"] if name != "sample" else [])
        assert OmegaConf.get_type(cfg) is schema and {f.name for f in fields(schema)} <= set(cfg), name
    assert (
        compose("eval").metrics == ["fvd2048_16f"] and compose("eval", overrides=["metrics=fid2k"]).metrics == "fid2k"
    )
    assert compose("eval", overrides=["dataset=synthetic"]).dataset.resolution is None  # the data's own frame size
    sample = compose("sample", overrides=["checkpoint=x"])
    assert list(sample.seeds) == [0, 1, 2, 3] and sample.num_frames == 128 and sample.fps == 25.0
    defaults = {
        k: p.default
        for k, p in inspect.signature(sample_videos).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert {k: tuple(v) if k == "seeds" else v for k, v in defaults.items()} == {
        k: tuple(v) if k == "seeds" else v for k, v in OmegaConf.to_container(sample).items() if k in defaults
    }


@pytest.mark.parametrize("model", sorted(p.stem.removesuffix("_small") for p in (CONF / "model").glob("*_small.yaml")))
def test_small_model_presets_differ_from_their_full_preset_only_where_they_say(fresh_hydra, model):
    """``model/<m>_small`` inherits ``model/<m>`` (loss, augmentation, sampler, trainer settings); it changes the
    generator and discriminator to their small options and only the trainer keys it writes itself."""
    own_trainer = set(OmegaConf.load(CONF / "model" / f"{model}_small.yaml").get("trainer", {}))
    small, full = (
        compose("train", overrides=[f"+model={name}"], return_hydra_config=True) for name in (f"{model}_small", model)
    )
    for group in ("generator", "discriminator"):
        assert small.hydra.runtime.choices[group] == f"{full.hydra.runtime.choices[group]}_small"
    for group in ("sampler", "loss", "augmentation", "dataset"):
        assert (
            small.hydra.runtime.choices[group] == full.hydra.runtime.choices[group] and small[group] == full[group]
        ), group
    differ = {key for key in full.trainer if small.trainer[key] != full.trainer[key]}
    assert differ <= own_trainer, differ


# ----------------------------------------------------------------------------------------- composed once, one line
def sgvb_in_process(capsys, *argv: str) -> tuple[int, str]:
    from benchmarks.cli import main as sgvb

    try:
        code = sgvb(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    "argv, says",
    [
        (["train", "-m", "trainer.batch_size=abc"], "sgvb train: configuration error: option trainer.batch_size=abc: "),
        (["train", "--cfg", "job", "generator=stylegan_vv"], "Did you mean 'stylegan_v'?"),
        (["train", "trainer.batch_sise=8"], "Did you mean 'batch_size'?"),
        (["sample", "checkpoint=x.pt", "num_frames=abc"], "sgvb sample: configuration error: option num_frames=abc: "),
        (["eval", "-m", "num_runs=x"], "sgvb eval: configuration error: option num_runs=x: "),
    ],
)
def test_hydra_commands_turn_their_own_composition_error_into_one_line(tmp_path, monkeypatch, capsys, argv, says):
    """Hydra composes once (no pre-check); its composition error, in a multirun or --cfg too, is one line, status 2."""
    monkeypatch.chdir(tmp_path)
    code, err = sgvb_in_process(capsys, *argv)
    assert code == 2 and says in err and "\n" not in err, err
    assert not list(tmp_path.iterdir())  # nothing was run, nothing written


def test_an_error_of_the_command_itself_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    """Only composition errors become the one line: an OmegaConf error raised while the command runs is a bug."""
    import sys

    import hydra

    from benchmarks.config.hydra_setup import run_command

    @hydra.main(version_base="1.3", config_path="pkg://benchmarks.conf", config_name="sample")
    def task(cfg):
        return cfg.no_such_key  # ConfigAttributeError inside the task

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["sgvb sample", "checkpoint=x.pt"])
    assert run_command("sample", task) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "no_such_key" in err and "configuration error" not in err


def test_the_config_is_converted_once_to_the_typed_settings(fresh_hydra):
    from benchmarks.config.training import (
        EvalSettings,
        RuntimeSettings,
        SampleSettings,
        TrainConfig,
        TrainerSettings,
        train_config,
    )

    overrides = ["experiment=tiny", "seed=4", "metrics=[fvd16_2f]", "cache_dir=/c", "trainer.batch_size=8"]
    cfg = compose("train", overrides=overrides)
    config = train_config(cfg)
    assert isinstance(config, TrainConfig) and isinstance(config.trainer, TrainerSettings)
    assert isinstance(config.samples, SampleSettings) and isinstance(config.generator, dict)
    assert config.trainer.batch_size == 8 and config.generator["_name_"] == "stylegan_v"
    assert config.runtime == RuntimeSettings(
        seed=4, precision="fp32", channels_last=False, compile=False, fused_adam=False, progress=True
    )
    options = {"allow_stand_in_detectors": False, "allow_fewer": False, "cache_dir": "/c"}
    assert config.evaluation == EvalSettings(metrics=("fvd16_2f",), options=options)
    # config.yaml and the run identity are what Hydra composed, to the character
    assert OmegaConf.to_yaml(config.as_dict()) == OmegaConf.to_yaml(cfg, resolve=True)
    assert config.as_dict() == OmegaConf.to_container(cfg, resolve=True)


def test_a_mistyped_key_is_not_told_to_add_itself():
    """``num_frame=3`` means ``num_frames``: the hint is the close key, not ``+num_frame=`` (which adds a useless
    key); a schema-typed node without a close key points at ``--cfg job``; a component's free-form arguments keep the
    ``+`` hint."""
    from benchmarks.config.hydra_setup import check_composes

    typo = check_composes("sample", ["num_frame=3"])
    assert typo.endswith("Did you mean 'num_frames'?") and "+num_frame" not in typo
    assert "+trainer.batch_sise" not in check_composes("train", ["trainer.batch_sise=8"])
    assert check_composes("train", ["zzz=8"]).endswith("(--cfg job prints every key)")
    assert check_composes("train", ["generator.zzz=8"]).endswith("To add a new key write +generator.zzz=...")
