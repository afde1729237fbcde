"""The generic registry: names, aliases, lookup errors, building, listing, provenance."""

from __future__ import annotations

import pytest

from registry import (
    ComponentBuildError,
    DuplicateComponentError,
    Registry,
    UnknownComponentError,
    canonical,
    registry_for,
)
from registry.core import split_spec


@pytest.fixture()
def reg(monkeypatch):
    monkeypatch.setenv("SGVB_DISABLE_PLUGIN_AUTOLOAD", "1")
    r = Registry("generator", entry_point_group="sgvb.test_generators")

    @r.register("stylegan_v", aliases=["stylegan-v", "sgv"])
    class StyleGANV:
        def __init__(self, resolution: int, width: int = 8):
            self.resolution, self.width = resolution, width

    @r.register()
    class MoCoGANHD:
        def __init__(self, resolution: int = 32):
            self.resolution = resolution

    @r.register("broken_inside")
    def broken_inside(resolution: int = 32):
        raise TypeError("an internal bug, not a signature problem")

    return r


def test_canonical_names():
    assert canonical("StyleGAN-V") == "stylegan_v"
    assert canonical("  Mo-Co_GAN ") == "mo_co_gan"


def test_lookup_is_case_and_dash_insensitive(reg):
    cls = reg.get("stylegan_v")
    assert reg.get("StyleGAN-V") is cls
    assert reg.get("SGV") is cls
    assert "STYLEGAN_V" in reg
    assert "nothing" not in reg


def test_default_name_is_snake_case_of_class(reg):
    assert "mo_co_ganhd" in reg.list()


def test_unknown_name_suggests_closest_and_lists_available(reg):
    with pytest.raises(UnknownComponentError) as err:
        reg.get("stylgan_v")
    msg = str(err.value)
    assert "unknown generator 'stylgan_v'" in msg
    assert "Did you mean 'stylegan_v'?" in msg
    assert "available (3)" in msg and "stylegan_v" in msg
    assert isinstance(err.value, KeyError)


def test_duplicate_name_names_both_definitions(reg):
    with pytest.raises(DuplicateComponentError) as err:

        @reg.register("sgv")
        class Other:
            pass

    msg = str(err.value)
    assert "StyleGANV" in msg and "Other" in msg and "'sgv'" in msg


def test_same_definition_registered_twice_is_not_a_duplicate(reg):
    cls = reg.get("stylegan_v")
    reg.add(cls, name="stylegan_v")  # e.g. a module imported once as __main__ and once by name
    assert reg.get("stylegan_v") is cls


def test_build_from_name_and_spec_with_runtime_kwargs(reg):
    obj = reg.build("stylegan_v", resolution=64)
    assert (obj.resolution, obj.width) == (64, 8)
    obj = reg.build({"_name_": "StyleGAN-V", "width": 16}, resolution=32, width=4)
    assert (obj.resolution, obj.width) == (32, 16), "spec kwargs win over runtime kwargs"
    assert obj._sgvb_spec["_name_"] == "stylegan_v"
    assert obj._sgvb_spec["kwargs"] == {"resolution": 32, "width": 16}


def test_build_accepts_omegaconf_nodes(reg):
    from omegaconf import OmegaConf

    obj = reg.build(OmegaConf.create({"_name_": "stylegan_v", "width": 3}), resolution=16)
    assert obj.width == 3


def test_rejected_arguments_name_component_and_signature(reg):
    with pytest.raises(ComponentBuildError) as err:
        reg.build({"_name_": "stylegan_v", "widht": 3}, resolution=16)
    msg = str(err.value)
    assert "generator 'stylegan_v'" in msg and "widht" in msg
    assert "accepted: stylegan_v(resolution:" in msg and "width: 'int' = 8" in msg


def test_type_error_inside_constructor_is_not_masked(reg):
    with pytest.raises(TypeError, match="internal bug"):
        reg.build("broken_inside")


def test_spec_errors_are_clear():
    with pytest.raises(KeyError, match="_name_"):
        split_spec({"width": 3}, "generator")
    with pytest.raises(TypeError, match="must be a name or a mapping"):
        split_spec(3, "generator")


def test_list_with_wildcards_and_suggestions(reg):
    assert reg.list() == sorted(reg.list())
    assert reg.list("style*") == ["stylegan_v"]
    assert reg.list("STYLE-*") == []  # canonicalised pattern: 'style_*'
    assert reg.list("*gan*") == ["mo_co_ganhd", "stylegan_v"]
    assert reg.list("stylgan*") == []
    assert reg.suggest("stylgan*") == "stylegan_v"


def test_info_reports_provenance(reg):
    info = reg.info("sgv")
    assert info.name == "stylegan_v"
    assert info.obj.endswith("StyleGANV")
    assert "sgv" in info.aliases and "stylegan_v" not in info.aliases
    assert not info.plugin


def test_registry_for_accepts_singular_plural_and_suggests():
    assert registry_for("generators").kind == "generator"
    assert registry_for("positional-encoding").kind == "positional_encoding"
    assert registry_for("losses").kind == "loss"
    with pytest.raises(KeyError, match="Did you mean 'generators?'"):
        registry_for("generatorz")


def test_remove_unregisters_a_name_and_its_aliases(reg):
    reg.remove("sgv")
    assert "stylegan_v" not in reg and "stylegan-v" not in reg and "sgv" not in reg
    assert reg.list() == ["broken_inside", "mo_co_ganhd"]
    with pytest.raises(UnknownComponentError, match="unknown generator 'stylegan_v'"):
        reg.remove("stylegan_v")


def test_register_fixture_unregisters_after_the_test(register):
    from registry import LOSSES
    from registry.interfaces import GANLoss

    class Probe(GANLoss):
        pass

    register(LOSSES, Probe, "test_probe_loss", aliases=["test_probe"])
    assert LOSSES.get("test_probe") is Probe


def test_no_test_registration_leaks_into_the_next_test():
    from registry import DISCRIMINATORS, LOSSES, METRICS

    assert "test_probe_loss" not in LOSSES and "test_probe" not in LOSSES
    assert not {"test_nan_after", "test_mean_frame", "test_dense_d", "test_plain_d", "test_flat"} & (
        set(LOSSES) | set(METRICS) | set(DISCRIMINATORS)
    )
