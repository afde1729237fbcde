"""Other FVD backbones: i3d_videogpt (TATS/DIGAN preprocessing and quantisation)
and videomae_v2 (cd-fvd's VideoMAE-v2 ViT-g)."""

import warnings

import pytest
import torch

from metrics import detectors, sources, weights
from metrics.detectors import load_detector
from metrics.videomae import GIANT, VideoMAEv2, num_parameters, preprocess, published_layout


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.delenv("SGVB_WEIGHTS_DIR", raising=False)
    detectors._LOADED.clear()
    yield
    detectors._LOADED.clear()


def _stand_in(name, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_detector(name, allow_stand_in=True, **kw)


def test_i3d_videogpt_feeds_minus_one_to_one_and_truncates_fakes():
    det = _stand_in("i3d_videogpt", stand_in_resolution=32)
    assert det.name == "i3d_videogpt[stand-in]" and det.fake_quantization == "truncate"
    assert _stand_in("i3d_pytorch").fake_quantization == "round"
    seen = []
    det.model.Conv3d_1a_7x7.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = torch.zeros(1, 3, 16, 32, 32, dtype=torch.uint8)
    x[..., 16:] = 255
    det(x)
    assert seen[0].min().item() == -1.0 and seen[0].max().item() == 1.0  # TATS/DIGAN range, not VideoGPT's [-0.5, 0.5]
    v = torch.tensor([-1.0, -0.999, 0.0, 0.999, 1.0, 1.5])
    assert sources.quantize(v, "truncate").tolist() == [0, 0, 127, 254, 255, 255]  # ((x+1)/2*255) truncated
    assert sources.quantize(v).tolist() == [0, 0, 128, 255, 255, 255]  # official rounding


def test_tiny_videomae_runs_and_loads_its_published_layout():
    cfg = dict(
        embed_dim=32,
        depth=2,
        num_heads=4,
        mlp_ratio=48 / 11,
        patch_size=8,
        tubelet_size=2,
        img_size=16,
        num_frames=4,
        num_classes=5,
    )
    layout = published_layout(**cfg)
    gen = torch.Generator().manual_seed(0)
    state = {
        "module": {k: torch.randn(shape, generator=gen) for k, shape in layout.items()}
    }  # the checkpoint's wrapper key
    model = VideoMAEv2(**cfg).from_published(state).eval()
    inner = state["module"]
    q, v = inner["blocks.1.attn.q_bias"], inner["blocks.1.attn.v_bias"]
    torch.testing.assert_close(model.blocks[1].attn.qkv.bias, torch.cat([q, torch.zeros_like(q), v]))
    x = torch.rand(2, 3, 4, 16, 16)
    with torch.no_grad():
        feats = model(x)
        # by hand: tubelet tokens + fixed table -> blocks -> mean -> fc_norm
        tokens = torch.nn.functional.conv3d(
            x, inner["patch_embed.proj.weight"], inner["patch_embed.proj.bias"], stride=(2, 8, 8)
        )
        tokens = tokens.flatten(2).transpose(1, 2) + model.pos_embed
        for block in model.blocks:
            tokens = block(tokens)
        expect = torch.nn.functional.layer_norm(
            tokens.mean(1), (32,), inner["fc_norm.weight"], inner["fc_norm.bias"], eps=1e-6
        )
    assert feats.shape == (2, 32)
    torch.testing.assert_close(feats, expect)
    bad = dict(inner)
    bad.pop("blocks.0.mlp.fc1.bias")
    with pytest.raises(RuntimeError, match="fc1.bias"):
        VideoMAEv2(**cfg).from_published(bad)


def test_the_real_vit_g_key_layout_loads_strictly():
    """The published vit_g_hybrid_pt_1200e_ssv2_ft.pth layout (VideoMAE names),
    generated on the meta device (no 4 GB allocation)."""
    layout = published_layout(**GIANT)
    assert layout["patch_embed.proj.weight"] == (1408, 3, 2, 14, 14) and layout["blocks.39.mlp.fc1.weight"] == (
        6144,
        1408,
    )
    assert layout["head.weight"] == (174, 1408) and "blocks.40.norm1.weight" not in layout
    assert 1.0e9 < num_parameters(layout) < 1.02e9  # ViT-g: ~1.01B parameters
    state = {k: torch.empty(shape, device="meta") for k, shape in layout.items()}
    with torch.device("meta"):
        model = VideoMAEv2.giant()
    model.from_published({"model": state}, assign=True)
    assert model.pos_embed.shape == (1, 8 * 16 * 16, 1408) and VideoMAEv2.giant_position_table().shape == (
        1,
        2048,
        1408,
    )


def test_cd_fvd_preprocessing_has_no_normalisation():
    x = torch.zeros(1, 3, 2, 8, 8, dtype=torch.uint8)
    x[:, :, 1] = 255
    y = preprocess(x, 16)
    assert y.shape == (1, 3, 2, 16, 16) and y[:, :, 0].max() == 0 and y[:, :, 1].min() == 1.0


def test_videomae_detector_stand_in_and_bad_checkpoint(tmp_path):
    det = _stand_in("videomae_v2", stand_in_resolution=32)
    clips = torch.randint(0, 256, (3, 3, 16, 24, 24), dtype=torch.uint8)
    feats = det(clips)
    assert det.stand_in and feats.shape == (3, 64) and torch.isfinite(feats).all()
    torch.save({"nope": torch.zeros(1)}, tmp_path / "vit_g_hybrid_pt_1200e_ssv2_ft.pth")
    with pytest.raises(weights.WeightsError, match="not a VideoMAE-v2 ViT-g checkpoint"):
        load_detector("videomae_v2", path=tmp_path / "vit_g_hybrid_pt_1200e_ssv2_ft.pth")
