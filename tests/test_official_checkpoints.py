"""Official network pickles (StyleGAN-V, StyleGAN2-ADA): safe reading, name map, loaded = directly set, refusals.

Fixtures are written here in the official persistence format (stylegan_v/official_fixtures.py); their
embedded module source and reconstruct hook write a marker file if anything ever executes them.
"""

from __future__ import annotations

import builtins
import importlib
import json
import math
import os
import pickle
import subprocess

import pytest
import torch

import stylegan_v  # noqa: F401  (registers components)
from registry import DISCRIMINATORS, GENERATORS
from stylegan_v import official
from stylegan_v.legacy_pickle import PersistentRecord, UnsafePickleError, load_pickle
from stylegan_v.official_fixtures import (
    official_discriminator_shapes,
    official_generator_shapes,
    write_image_generator,
    write_snapshot,
)
from stylegan_v.official_noise import OfficialNoiseGenerator, motion_trajectory_length, official_sample_plan

TINY = dict(channel_base=256, channel_max=32, z_dim=32, w_dim=32, motion_dim=32, time_dim=8, kernel=3)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("official")
    marker = folder / "EXECUTED"
    out = {}
    for res in (32, 64):
        path = folder / f"network-snapshot-{res:06d}.pkl"
        out[res] = (path, write_snapshot(path, res=res, marker=marker, seed=res, **TINY))
    return out, marker


# ----------------------------------------------------------------------------------------- names and shapes
@pytest.mark.parametrize("res, n_g, n_d", [(64, 68, 35), (128, 80, 40), (256, 92, 45)])
def test_fixture_names_are_the_official_ones(res, n_g, n_d):
    """The fixture's naming rules give the reference counts and shapes (official_checkpoints.md)."""
    g, _ = official_generator_shapes(res)
    d, _ = official_discriminator_shapes(res)
    assert (len(g), len(d)) == (n_g, n_d)
    assert g["synthesis.b4.input.input.const"] == [1, 512, 4, 4]
    assert g["synthesis.b4.conv1.weight"] == [512, 1024, 3, 3]
    assert (
        d["b16.conv0.weight"] == [512, 768, 3, 3]
        and d["mapping.embed.weight"] == [512, 552]
        and d["b4.fc.weight"] == [512, 8192]
    )


def _assert_map_covers_both_ways(ours: dict, params: dict, buffers: dict, rename) -> None:
    """Every official parameter and (non-fixed) buffer maps to one of ours, shapes agree,
    and every one of ours is hit."""
    mapped = {n: rename(n) for n in [*params, *buffers]}
    targets = [m for m in mapped.values() if m is not None]
    assert len(targets) == len(set(targets)), "two official tensors map to one of ours"
    assert set(targets) == set(ours), set(targets) ^ set(ours)
    shapes = {**params, **buffers}
    for name, key in mapped.items():
        if key is not None:
            assert torch.Size(shapes[name]).numel() == ours[key].numel(), name
    assert all(rename(n) is not None for n in params), "every official parameter is copied"


@pytest.mark.parametrize("res", [64, 256])
def test_weight_map_covers_every_parameter_both_ways(res):
    """Official names map one to one onto our state dict at full size; every one of ours is covered."""
    with torch.device("meta"):
        G = GENERATORS.build({"_name_": "stylegan_v", "resolution": res})
        D = DISCRIMINATORS.build({"_name_": "stylegan_v", "resolution": res, "num_frames": 3})
    _assert_map_covers_both_ways(G.state_dict(), *official_generator_shapes(res), official.map_generator_names)
    _assert_map_covers_both_ways(
        D.state_dict(), *official_discriminator_shapes(res), lambda n: official.map_discriminator_names(n, D)
    )


@pytest.mark.parametrize("res, noise", [(64, True), (256, True), (256, False)])
def test_image_weight_map_covers_every_parameter_and_buffer_both_ways(res, noise):
    """StyleGAN2-ADA config-f image generators (8 mapping layers, with or without noise inputs) onto
    MoCoGAN-HD's image generator, at full size: every noise_strength/noise_const included."""
    with torch.device("meta"):
        G = GENERATORS.build({"_name_": "mocogan_hd", "resolution": res, "image_noise": noise})
    ours = {k: v for k, v in G.state_dict().items() if k.startswith(("mapping.", "synthesis."))}
    params, buffers = official_generator_shapes(
        res, channel_base=32768, mapping_layers=8, stylegan_v=False, noise=noise
    )
    assert sum(n.endswith("noise_const") for n in buffers) == (2 * int(math.log2(res)) - 3 if noise else 0)
    _assert_map_covers_both_ways(ours, params, buffers, official.map_generator_names)
    assert all(
        ours[official.map_generator_names(n)].shape == torch.Size(s)
        for n, s in {**params, **buffers}.items()
        if n.endswith(("noise_strength", "noise_const"))
    )


# ----------------------------------------------------------------------------------------- loaded == set directly
def _set_generator_directly(G, T: dict) -> None:
    """Our generator's weights assigned by hand from official names (independent of the loader's map)."""
    with torch.no_grad():
        for i, layer in enumerate(G.mapping.layers):
            layer.weight.copy_(T[f"mapping.fc{i}.weight"]), layer.bias.copy_(T[f"mapping.fc{i}.bias"])
        G.mapping.w_avg.copy_(T["mapping.w_avg"])
        te = "synthesis.motion_encoder.time_encoder."
        G.time_encoder.frequency_predictor.weight.copy_(T[te + "periods_predictor.weight"])
        G.time_encoder.phase_predictor.weight.copy_(T[te + "phase_predictor.weight"])
        G.time_encoder.aligner.weight.copy_(T[te + "aligners_predictor.weight"])
        G.time_encoder.omega.copy_(T[te + "freqs"][0]), G.time_encoder.phase_scales.copy_(T[te + "phase_scales"][0])
        for j, conv in enumerate((G.motion.conv0, G.motion.conv1)):
            (
                conv.weight.copy_(T[f"synthesis.motion_encoder.conv.{j}.weight"]),
                conv.bias.copy_(T[f"synthesis.motion_encoder.conv.{j}.bias"]),
            )
        for block, res in zip(G.synthesis.blocks, G.synthesis.block_resolutions):
            pre = f"synthesis.b{res}."
            if res == 4:
                block.const.copy_(T[pre + "input.input.const"][0])
            for layer_name in ("conv0", "conv1", "torgb"):
                layer = getattr(block, layer_name)
                if layer is None:
                    continue
                for p in ("weight", "bias", "affine.weight", "affine.bias"):
                    dict(layer.named_parameters())[p].copy_(T[f"{pre}{layer_name}.{p}"])


def _set_discriminator_directly(D, T: dict) -> None:
    with torch.no_grad():
        D.time_encoder.embedding.weight.copy_(T["time_encoder.const_embed.weight"])
        (
            D.time_mapping.embed.weight.copy_(T["mapping.embed.weight"]),
            D.time_mapping.embed.bias.copy_(T["mapping.embed.bias"]),
        )
        for i, layer in enumerate(D.time_mapping.layers):
            layer.weight.copy_(T[f"mapping.fc{i}.weight"]), layer.bias.copy_(T[f"mapping.fc{i}.bias"])
        for block in [*D.frame_blocks, *D.clip_blocks]:
            for name, p in block.named_parameters():
                p.copy_(T[f"b{block.resolution}.{name}"])
        for name, p in D.epilogue.named_parameters():
            p.copy_(T[f"b4.{name}"])


@pytest.mark.parametrize("res", [32, 64])
def test_loaded_forward_equals_forward_with_weights_set_directly(snapshots, res):
    (path, written), marker = snapshots[0][res], snapshots[1]
    loaded = official.load_network_pkl(path, verbose=False)
    G_ref = GENERATORS.build({"_name_": "stylegan_v", **loaded["G_ema"]._sgvb_spec["kwargs"]}).eval()
    _set_generator_directly(G_ref, written["G_ema"])
    z = torch.randn(2, TINY["z_dim"], generator=torch.Generator().manual_seed(0))
    t = torch.tensor([[0.0, 5.5, 40.0], [3.0, 17.0, 33.25]])
    noise = torch.randn(2, 12, TINY["motion_dim"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded["G_ema"](z, t, motion_noise=noise), G_ref(z, t, motion_noise=noise))
        assert torch.equal(
            loaded["G_ema"](z, t, motion_noise=noise, truncation_psi=0.7),
            G_ref(z, t, motion_noise=noise, truncation_psi=0.7),
        )
    D_ref = DISCRIMINATORS.build({"_name_": "stylegan_v", **loaded["D"]._sgvb_spec["kwargs"]}).eval()
    _set_discriminator_directly(D_ref, written["D"])
    frames = torch.randn(4, 3, 3, res, res)
    times = torch.tensor([[0.0, 1.0, 3.0], [2.0, 6.0, 10.0], [0.0, 16.0, 32.0], [5.0, 6.0, 7.0]])
    with torch.no_grad():
        assert torch.equal(loaded["D"](frames, times), D_ref(frames, times))
    assert not marker.exists()


def test_snapshot_extras_adam_states_augment_and_kimg(snapshots):
    (path, _written), marker = snapshots[0][32], snapshots[1]
    loaded = official.load_network_pkl(path, verbose=False)
    assert loaded["augment_p"] == pytest.approx(0.375)
    assert loaded["stats"] == {"cur_nimg": 123_000, "cur_tick": 7, "batch_idx": 41}
    assert official.snapshot_kimg(loaded) == 123.0
    assert loaded["training_set_kwargs"]["path"] == "/data/sky_timelapse_256.zip"
    assert set(loaded["G_opt"]) == {n for n, _ in loaded["G"].named_parameters()}
    assert set(loaded["D_opt"]) == {n for n, _ in loaded["D"].named_parameters()}
    moment = loaded["G_opt"]["synthesis.blocks.0.const"]
    assert moment["exp_avg"].shape == loaded["G"].synthesis.blocks[0].const.shape and float(moment["step"]) == 1.0
    assert float(moment["exp_avg"].abs().sum()) > 0
    assert not marker.exists()


# ----------------------------------------------------------------------------------------- safety
def test_embedded_source_is_kept_as_text_and_never_runs(snapshots):
    (path, _), marker = snapshots[0][32], snapshots[1]
    data = load_pickle(path)
    assert isinstance(data["G"], PersistentRecord) and data["G"].class_name == "Generator"
    assert str(marker) in data["G"].module_src  # the payload is there, as inert text
    assert not marker.exists()


class _Payload:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize(
    "make",
    [
        lambda m: (os.system, (f"touch {m}",)),
        lambda m: (builtins.eval, (f"open({str(m)!r}, 'w')",)),
        lambda m: (builtins.exec, (f"open({str(m)!r}, 'w')",)),
        lambda m: (subprocess.check_call, (["touch", str(m)],)),
        lambda m: (importlib.import_module, ("this",)),
        lambda m: (builtins.getattr, ("text", "upper")),
    ],
)
def test_reduce_payload_is_refused_and_never_runs(tmp_path, make):
    marker = tmp_path / "PWNED"
    fn, args = make(marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G": _Payload(fn, *args)}))
    with pytest.raises(UnsafePickleError) as info:
        load_pickle(path)
    message = str(info.value)
    assert str(path) in message and f"{fn.__module__}.{fn.__name__}" in message
    assert "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (dict(c_dim=5), "c_dim"),
        (dict(cfg_overrides={"time_enc__cond_type": "concat_w"}), "cfg.time_enc.cond_type"),
        (dict(cfg_overrides={"motion__gen_strategy": "autoregressive"}), "cfg.motion.gen_strategy"),
        (dict(cfg_overrides={"concat_res": 8}), "cfg.concat_res"),
    ],
)
def test_unsupported_setting_gives_one_line_error_naming_the_key(tmp_path, kwargs, key, capsys):
    path = tmp_path / "unsupported.pkl"
    write_snapshot(path, res=32, marker=tmp_path / "EXECUTED", with_optimizers=False, **TINY, **kwargs)
    with pytest.raises(official.OfficialCheckpointError) as info:
        official.load_network_pkl(path, verbose=False)
    assert f"{key}=" in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
    from benchmarks.commands.convert_checkpoint import main

    assert main([str(path), str(tmp_path / "out.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert key in err and len(err.splitlines()) == 1
    assert not (tmp_path / "EXECUTED").exists()


# ----------------------------------------------------------------------------------------- harness integration
def test_convert_sample_and_official_noise(snapshots, tmp_path):
    from benchmarks.commands.convert_checkpoint import main
    from benchmarks.commands.sample import sample_videos
    from benchmarks.records.checkpoint import load_generator

    path, _ = snapshots[0][32]
    out = tmp_path / "converted.pt"
    assert main([str(path), str(out)]) == 0
    state = torch.load(out, weights_only=True)
    G_pkl, G_pt = load_generator(path, device="cpu"), load_generator(out, device="cpu")
    z, t = torch.randn(1, TINY["z_dim"]), torch.tensor([[0.0, 9.0]])
    noise = torch.randn(1, 8, TINY["motion_dim"])
    assert state["kimg"] == 123.0 and torch.equal(G_pkl(z, t, motion_noise=noise), G_pt(z, t, motion_noise=noise))

    # generate.py's draws: seed, all z at once, then [B, L, 512]-style motion per batch
    L = motion_trajectory_length(G_pkl, max_t=5.0)
    assert L == -(-1023 // 16) + 2 + 2 * (TINY["kernel"] - 1)
    plan = list(
        official_sample_plan(G_pkl, noise="official", seeds=[42], num_videos=3, batch_size=2, max_t=5.0, device="cpu")
    )
    torch.manual_seed(42)
    z_all = torch.randn(3, TINY["z_dim"])
    m1, m2 = torch.randn(2, L, TINY["motion_dim"]), torch.randn(1, L, TINY["motion_dim"])
    assert [i for i, _, _ in plan] == [0, 1, 2]
    assert torch.equal(torch.cat([p[1] for p in plan]), z_all)
    assert torch.equal(torch.cat([p[2] for p in plan]), torch.cat([m1, m2]))
    files = sample_videos(
        path,
        out_dir=tmp_path / "s",
        format="frames",
        seeds=[42],
        num_frames=3,
        noise="official",
        num_videos=2,
        batch_size=2,
        device="cpu",
        preview=False,
    )
    assert len(files) == 2

    # the metric code's draws: per batch z, then its motion noise
    wrapped = OfficialNoiseGenerator(G_pkl, seed=7)
    z1, n1 = wrapped.sample_z(2), wrapped.sample_motion_noise(2, max_t=15.0)
    torch.manual_seed(7)
    assert torch.equal(z1, torch.randn(2, TINY["z_dim"])) and torch.equal(n1, torch.randn(2, L, TINY["motion_dim"]))


def test_train_init_from_official_pickle(snapshots, tmp_path):
    from benchmarks.training.job import train
    from tests.test_train import tiny_config

    (path, _written), marker = snapshots[0][32], snapshots[1]
    cfg = tiny_config(
        f"init_from={path}", f"run_dir={tmp_path / 'run'}", "trainer.total_kimg=123.006", "trainer.snapshot_kimg=1000"
    )
    run = train(cfg)
    record = json.loads((run / "run.json").read_text())["init_from"]
    assert record["source"] == str(path) and record["kimg"] == 123.0 and record["augment_p"] == pytest.approx(0.375)
    assert record["G_opt"] > 0 and record["D_opt"] > 0 and record["training_set_path"].endswith("sky_timelapse_256.zip")
    from benchmarks.records.checkpoint import latest_checkpoint

    ckpt_path, state = latest_checkpoint(run)
    assert state["kimg"] == pytest.approx(123.006) and state["step"] == 42
    assert state["components"]["generator"]["kwargs"]["motion_kernel_size"] == TINY["kernel"]
    step = next(iter(state["opt_G"]["state"].values()))["step"]
    assert float(step) == 2.0  # the official Adam step plus ours
    # the same command again continues the run: the pickle's architecture is no config drift, and
    # run.json still says where the run started
    again = tiny_config(
        f"init_from={path}",
        f"run_dir={run}",
        f"resume={run}",
        "trainer.total_kimg=123.012",
        "trainer.snapshot_kimg=1000",
        "allow_change=[trainer.total_kimg]",
    )
    train(again)
    info = json.loads((run / "run.json").read_text())
    assert info["init_from"]["source"] == str(path), info
    assert "resumed" in info, info
    assert latest_checkpoint(run)[1]["kimg"] == pytest.approx(123.012)
    assert not marker.exists()


def test_init_from_a_pickle_that_reached_total_kimg_is_refused_before_anything_is_created(snapshots, tmp_path):
    """It used to end at once, `done` with nothing trained and no checkpoint."""
    from benchmarks.config.training import ConfigError
    from benchmarks.training.job import train
    from tests.test_train import tiny_config

    path = snapshots[0][32][0]  # stats.cur_nimg: 123 kimg
    for total in ("0.024", "123"):
        cfg = tiny_config(f"init_from={path}", f"run_dir={tmp_path / 'run'}", f"trainer.total_kimg={total}")
        with pytest.raises(ConfigError, match=rf"has trained 123 kimg, and trainer.total_kimg={total} is not more"):
            train(cfg)
        assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------- StyleGAN2-ADA image generators
def _image_generator(**kwargs):
    from baselines.mocogan_hd import MoCoGANHDGenerator

    settings = dict(resolution=16, z_dim=32, w_dim=32, mapping_layers=3, channel_base=512, channel_max=32, n_pca=4)
    return MoCoGANHDGenerator(**{**settings, **kwargs})


def _set_image_generator_directly(G, T: dict) -> None:
    """Mapping and synthesis parameters and buffers assigned by hand from the official names."""
    with torch.no_grad():
        for i, layer in enumerate(G.mapping.layers):
            layer.weight.copy_(T[f"mapping.fc{i}.weight"]), layer.bias.copy_(T[f"mapping.fc{i}.bias"])
        G.mapping.w_avg.copy_(T["mapping.w_avg"])
        for block, res in zip(G.synthesis.blocks, G.synthesis.block_resolutions):
            for name, tensor in [*block.named_parameters(), *block.named_buffers()]:
                if not name.endswith("resample_filter"):
                    tensor.copy_(T[f"synthesis.b{res}.{name}"])


def test_stylegan2_ada_image_pickle_as_mocogan_hd_image_generator(tmp_path):
    marker = tmp_path / "EXECUTED"
    path = tmp_path / "sg2ada.pkl"
    T = write_image_generator(path, res=16, marker=marker)
    G = _image_generator(pretrained_image_generator=str(path))
    G.load_image_generator(str(path))
    ref = _image_generator()
    _set_image_generator_directly(ref, T)
    z = torch.randn(3, 32)
    with torch.no_grad():
        assert torch.equal(G.synthesis(G.mapping(z)), ref.synthesis(ref.mapping(z)))
    wrong = _image_generator(mapping_layers=2)
    with pytest.raises(official.OfficialCheckpointError, match="mapping_kwargs.num_layers=3"):
        wrong.load_image_generator(str(path))
    with pytest.raises(official.OfficialCheckpointError, match="synthesis_kwargs.use_noise=False.*image_noise=false"):
        _image_generator(image_noise=True).load_image_generator(str(path))
    noisy = tmp_path / "noisy.pkl"
    write_image_generator(noisy, res=16, marker=marker, noise=True)
    with pytest.raises(official.OfficialCheckpointError, match="synthesis_kwargs.use_noise=True.*image_noise=true"):
        G.load_image_generator(str(noisy))
    with pytest.raises(official.OfficialCheckpointError, match="image generator"):
        official.load_network_pkl(path, verbose=False)
    assert not marker.exists()


def test_stylegan2_ada_image_pickle_with_noise_loads_and_applies_its_noise(tmp_path):
    """Every standard StyleGAN2-ADA pickle has noise inputs: they load (image_noise=true), the frozen
    generator renders them from noise_const (deterministic), and the noise really changes the frames."""
    marker = tmp_path / "EXECUTED"
    path = tmp_path / "sg2ada_noise.pkl"
    T = write_image_generator(path, res=16, marker=marker, noise=True, seed=3)
    assert any(n.endswith("noise_const") for n in T) and all(
        float(T[n]) != 0 for n in T if n.endswith("noise_strength")
    )
    G = _image_generator(image_noise=True, pretrained_image_generator=str(path), pca_num_samples=64)
    G.begin_stage("pca")  # loads the pickle, freezes the image generator
    ref = _image_generator(image_noise=True)
    _set_image_generator_directly(ref, T)
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w = G.mapping(z)
        loaded = G.synthesis(w, noise_mode="const")
        assert torch.equal(loaded, ref.synthesis(ref.mapping(z), noise_mode="const"))
        assert not torch.allclose(loaded, G.synthesis(w, noise_mode="none"))  # non-zero noise_strength is applied
        for layer in [m for m in ref.modules() if getattr(m, "use_noise", False)]:
            layer.noise_strength.zero_()
        assert torch.equal(ref.synthesis(ref.mapping(z), noise_mode="const"), G.synthesis(w, noise_mode="none"))
        # the frozen generator (pca/motion stages) renders with noise_const: one video per latent and motion noise
        assert G.noise_mode == "const"
        motion = torch.randn(2, 3, G.motion_noise_dim)
        t = torch.arange(3)[None].expand(2, -1)
        torch.testing.assert_close(G(z[:2], t, motion_noise=motion), G(z[:2], t, motion_noise=motion), rtol=0, atol=0)
    assert not marker.exists()


class _LegacyStorage:
    """A storage pickled as torch 1.7 did: ``_load_from_bytes(<legacy-format torch.save bytes>)``."""

    def __init__(self, tensor: torch.Tensor):
        import io

        buf = io.BytesIO()
        torch.save(tensor.storage(), buf, _use_new_zipfile_serialization=False)
        self.data = buf.getvalue()

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.data,)


class _LegacyTensor:
    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __reduce__(self):
        from collections import OrderedDict

        t = self.tensor
        return torch._utils._rebuild_tensor_v2, (_LegacyStorage(t), 0, tuple(t.shape), t.stride(), False, OrderedDict())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_legacy_format_storages_as_torch_1_7_wrote_them(tmp_path):
    tensors = {"w": torch.randn(3, 4), "h": torch.randn(5).half(), "i": torch.arange(7)}
    path = tmp_path / "legacy.pkl"
    path.write_bytes(pickle.dumps({k: _LegacyTensor(v) for k, v in tensors.items()}, protocol=2))
    loaded = load_pickle(path)
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)


@pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")
def test_eval_official_pickle_with_official_noise(snapshots, tmp_path):
    """``sgvb eval fake.checkpoint=x.pkl noise=official``: G_ema of the pickle, the official metric draws,
    repeatable."""
    from benchmarks.commands.evaluate import run
    from metrics.testing import save_tiny_torchscript_detector
    from tests.test_metrics_cli import compose_eval

    path, _ = snapshots[0][32]
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    args = [
        f"fake.checkpoint={path}",
        "metrics=[fvd4_8f]",
        "dataset=synthetic",
        "dataset.num_videos=5",
        "dataset.num_frames=12",
        f"detector_path={detector}",
        f"cache_dir={tmp_path / 'cache'}",
        "device=cpu",
    ]
    official_runs = [run(compose_eval(*args, "noise=official", "seed=3"))[0] for _ in range(2)]
    default = run(compose_eval(*args))[0]["value"]
    assert official_runs[0]["value"] == official_runs[1]["value"] and official_runs[0]["value"] != default
    assert official_runs[0]["kimg"] == 123.0  # the snapshot's stats.cur_nimg (was null for every pickle)


def test_snapshot_kimg_from_stats_else_official_name_else_none(tmp_path):
    """kimg of a pickle: ``stats.cur_nimg``, else the official ``network-snapshot-<kimg>.pkl`` name,
    else None (never a guess)."""
    from benchmarks.records.checkpoint import load_generator_and_kimg

    named = tmp_path / "network-snapshot-000456.pkl"
    write_snapshot(
        named, res=32, marker=tmp_path / "EXECUTED", with_optimizers=False, **TINY
    )  # no stats, like StyleGAN2-ADA
    renamed = tmp_path / "sky_256.pkl"
    renamed.write_bytes(named.read_bytes())
    with_stats = tmp_path / "network-snapshot-000999.pkl"
    write_snapshot(with_stats, res=32, marker=tmp_path / "EXECUTED", **TINY)
    assert official.snapshot_kimg(official.load_network_pkl(named, verbose=False)) == 456.0
    assert official.snapshot_kimg(official.load_network_pkl(renamed, verbose=False)) is None
    assert (
        official.snapshot_kimg(official.load_network_pkl(with_stats, verbose=False)) == 123.0
    )  # cur_nimg is exact, the name whole kimg
    G, kimg = load_generator_and_kimg(named, device="cpu")
    assert kimg == 456.0 and G.resolution == 32


def test_converting_a_pickle_that_states_no_kimg_writes_no_count(tmp_path):
    """``snapshot_kimg`` may say None (a renamed file without ``stats``): the conversion used to crash on it."""
    from benchmarks.commands.convert_checkpoint import main
    from benchmarks.records.checkpoint import load_generator_and_kimg

    renamed = tmp_path / "sky_256.pkl"
    write_snapshot(renamed, res=32, marker=tmp_path / "EXECUTED", with_optimizers=False, **TINY)
    assert main([str(renamed), str(tmp_path / "out.pt")]) == 0
    state = torch.load(tmp_path / "out.pt", weights_only=True)
    assert state["kimg"] is None and "nimg" not in state
    assert load_generator_and_kimg(tmp_path / "out.pt")[1] is None
