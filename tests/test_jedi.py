"""JEDi: V-JEPA + SSv2 probe features and the biased polynomial MMD, pinned to the authors' code.

``tests/data/jedi_reference.json`` holds what ``videojedi`` 1.1.0 / ``vjepa`` 0.1.2 produced on the tiny config of
``benchmarks/speed/parity_jedi.py`` (``--config tiny --write-pins``): its checkpoint key layouts, its features of
seeded clips at the position table's size and at an odd size, and its JEDi values. Our network loads the same seeded
weights in that layout; a change to the preprocessing, the network or the estimator moves the numbers.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import polynomial_kernel

from benchmarks.speed.parity_jedi import CONFIGS, clips, input_shapes, random_state
from metrics import build_metric, detectors, evaluate, jedi, weights
from metrics.detectors import load_detector
from metrics.jedi import jedi_mmd2
from metrics.testing import ArrayVideoDataset, moving_blobs
from metrics.vjepa import VJEPADetector, VJEPAFeatures

PINS = json.loads((Path(__file__).parent / "data" / "jedi_reference.json").read_text())


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.delenv("SGVB_WEIGHTS_DIR", raising=False)
    detectors._LOADED.clear()
    yield
    detectors._LOADED.clear()


def _published_layout(model: VJEPAFeatures) -> tuple[dict, dict]:
    encoder = {f"module.backbone.{k}": list(v.shape) for k, v in model.encoder.state_dict().items()}
    probe = {f"module.{k}": list(v.shape) for k, v in model.probe.state_dict().items()}
    return encoder, probe


def _write_tiny_checkpoints(folder: Path) -> None:
    """The reference's seeded weights (parity_jedi.random_state over its layout) in the two published files."""
    layout = {**PINS["target_encoder_layout"], **PINS["classifier_layout"]}
    state = {k: torch.from_numpy(v) for k, v in random_state({k: tuple(s) for k, s in layout.items()}, 0).items()}
    enc = {k: v for k, v in state.items() if k.startswith("module.backbone.")}
    probe = {k: v for k, v in state.items() if k not in enc}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"target_encoder": enc, "epoch": 0}, folder / "vith16.pth.tar")
    torch.save({"classifier": probe, "epoch": 0}, folder / "ssv2-probe.pth.tar")


def _tiny_detector(folder: Path) -> VJEPADetector:
    model = VJEPAFeatures.build(**CONFIGS["tiny"])
    model.load_published(
        torch.load(folder / "vith16.pth.tar", weights_only=True),
        torch.load(folder / "ssv2-probe.pth.tar", weights_only=True),
    )
    return VJEPADetector(model, name="vjepa[tiny]", sha256=None)


def test_our_network_has_the_published_key_layouts():
    encoder, probe = _published_layout(VJEPAFeatures.build(**CONFIGS["tiny"]))
    assert encoder == PINS["target_encoder_layout"]
    assert probe == PINS["classifier_layout"]
    with torch.device("meta"):  # ViT-H/16: 32 blocks of width 1280, 1568 position rows, 174 SSv2 classes
        huge_encoder, huge_probe = _published_layout(VJEPAFeatures.huge())
    assert huge_encoder["module.backbone.pos_embed"] == [1, 1568, 1280]
    assert huge_encoder["module.backbone.patch_embed.proj.weight"] == [1280, 3, 2, 16, 16]
    assert (
        "module.backbone.blocks.31.mlp.fc2.weight" in huge_encoder
        and "module.backbone.blocks.32.norm1.weight" not in huge_encoder
    )
    assert huge_probe["module.linear.weight"] == [174, 1280]


@pytest.mark.parametrize("case", ["native", "resampled"])
def test_features_and_values_equal_the_reference_codes(tmp_path, case):
    """Features within 1e-5 of the reference's (measured: equal); JEDi in float32 (official mode) equal to its value,
    in float64 within its float32 rounding (measured 1.6e-5 and 9e-6: a difference of means 1e-4 of their size)."""
    _write_tiny_checkpoints(tmp_path)
    detector = _tiny_detector(tmp_path)
    pin = PINS[case]
    assert pin["shape"] == list(input_shapes(CONFIGS["tiny"])[case])
    feats = {}
    for side, seed in (("real", 1), ("fake", 2)):
        feats[side] = detector(torch.from_numpy(clips(seed, PINS["num_videos"], tuple(pin["shape"])))).numpy()
        want = np.asarray(pin[side], np.float32)
        assert feats[side].shape == want.shape == (3, 64)
        assert np.abs(feats[side] - want).max() <= 1e-5 * np.abs(want).max()
    assert jedi_mmd2(feats["fake"], feats["real"], dtype=np.float32) == pytest.approx(pin["jedi"], rel=1e-6)
    assert jedi_mmd2(feats["fake"], feats["real"]) == pytest.approx(pin["jedi"], rel=5e-5)


def test_the_estimator_is_100_times_the_biased_mmd_of_a_degree_2_kernel_without_constant(monkeypatch):
    # d = 2, gamma = 1/2: k(a, b) = (a.b / 2)^2. XX: diag 1/4, 1/4 -> mean 1/8; YY: (2/2)^2 = 1 once -> 1/4;
    # XY: x1.y1 = x2.y1 = 1 -> 1/4 each -> mean 1/8. 100 (1/8 + 1/4 - 2/8) = 12.5 (the unbiased one would be -25).
    x, y = [[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]
    assert jedi_mmd2(x, y) == pytest.approx(12.5, abs=1e-12)
    assert jedi_mmd2(x, y, dtype=np.float32) == pytest.approx(12.5, abs=1e-5)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 300)), rng.normal(0.2, 1.1, size=(30, 300))

    def sklearn_formula(p, q):  # videojedi's mmd_poly(X, Y, degree=2, coef0=0) * 100
        kw = dict(degree=2, coef0=0)
        return 100 * (
            polynomial_kernel(p, p, **kw).mean()
            + polynomial_kernel(q, q, **kw).mean()
            - 2 * polynomial_kernel(p, q, **kw).mean()
        )

    want = sklearn_formula(a, b)
    assert jedi_mmd2(a, b) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(jedi, "_FULL_MATRIX_ELEMENTS", 100)
    monkeypatch.setattr(jedi, "_BLOCK_ELEMENTS", 7 * 40)  # rows in blocks of 7 (xx), 9 (yy), 7 (xy): the same number
    assert jedi_mmd2(a, b) == pytest.approx(want, rel=1e-12)
    assert jedi_mmd2(a, b, dtype=np.float32) == pytest.approx(want, rel=1e-4)
    assert jedi_mmd2(a, a) == pytest.approx(0.0, abs=1e-12)  # biased: exactly 0 for one set against itself
    with pytest.raises(ValueError, match="one width"):
        jedi_mmd2(a, b[:, :10])


def test_names_direction_and_detector():
    m = build_metric("jedi2048_16f")
    assert (m.name, m.num_videos, m.num_frames, m.direction, m.detector_spec) == (
        "jedi2048_16f",
        2048,
        16,
        "lower",
        "vjepa_ssv2",
    )
    assert build_metric("jedi5000_32f").num_frames == 32
    assert build_metric({"_name_": "jedi", "num_videos": 64, "num_frames": 8}).name == "jedi64_8f"
    with pytest.raises(ValueError, match="num_frames >= 2"):
        build_metric({"_name_": "jedi", "num_frames": 1})


def test_the_metric_is_the_estimator_of_the_detectors_clip_features(tmp_path):
    real = ArrayVideoDataset(moving_blobs(5, 8, 24, seed=3))  # 8-frame videos: real offsets all 0
    fake = ArrayVideoDataset(moving_blobs(5, 8, 24, seed=4))
    spec = {"_name_": "jedi", "num_videos": 5, "num_frames": 8}
    kw = dict(real=real, cache_dir=tmp_path / "cache", batch_size=2, allow_stand_in_detectors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = evaluate(spec, fake=fake, **kw)
        det = load_detector("vjepa_ssv2", allow_stand_in=True)

    def feats(ds):
        return det(torch.stack([v.permute(3, 0, 1, 2) for v in ds.videos])).double().numpy()  # [B, 3, T, H, W]

    assert rec["value"] == pytest.approx(jedi_mmd2(feats(fake), feats(real)), rel=1e-5)
    assert rec["value"] > 0
    p = rec["protocol"]
    assert (p["direction"], p["stand_in"], p["num_real"], p["real_cache_hit"]) == ("lower", True, 5, False)
    assert p["protocol_id"].startswith("jedi5_8f/v1/default/vjepa_ssv2-stand-in/24px")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = evaluate(spec, fake=fake, **kw)
        same = evaluate(spec, fake=real, **kw)
    assert again["protocol"]["real_cache_hit"] is True and again["value"] == rec["value"]
    assert same["value"] == pytest.approx(0.0, abs=1e-9)


def test_the_stand_in_resizes_and_the_published_detector_does_not(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stand_in = load_detector("vjepa_ssv2", allow_stand_in=True, stand_in_resolution=16)
    assert stand_in.input_resolution == 16 and stand_in.feature_dim == 64 and stand_in.name == "vjepa_ssv2[stand-in]"
    video = torch.from_numpy(clips(5, 2, (4, 40, 40)))
    small = torch.nn.functional.interpolate(
        video.transpose(1, 2).reshape(8, 3, 40, 40).float(), size=(16, 16), mode="bilinear", align_corners=False
    )
    small = small.round().clamp(0, 255).to(torch.uint8).reshape(2, 4, 3, 16, 16).transpose(1, 2)
    assert torch.equal(stand_in(video), stand_in(small))
    _write_tiny_checkpoints(tmp_path)
    published_like = _tiny_detector(tmp_path)
    assert published_like.input_resolution is None  # frames at their own size, as JEDi feeds them
    at_table_size = torch.nn.functional.interpolate(video.float(), size=(4, 32, 32), mode="trilinear").to(torch.uint8)
    assert published_like(video).shape == published_like(at_table_size).shape == (2, 64)
    assert not torch.allclose(published_like(video), published_like(at_table_size), atol=1e-3)  # no resize inside


def test_weight_files_are_looked_up_refused_and_loaded_strictly(tmp_path):
    with pytest.raises(weights.MissingWeightsError, match=r"vith16\.pth\.tar"):
        load_detector("vjepa_ssv2")  # offline, no stand-in allowed: the one-line message naming the file
    file = tmp_path / "vith16.pth.tar"
    file.write_bytes(b"x")
    with pytest.raises(weights.WeightsError, match="not a folder; pass the folder that holds both"):
        load_detector("vjepa_ssv2", path=str(file))
    folder = tmp_path / "tiny"
    _write_tiny_checkpoints(folder)  # the published layout at tiny widths: ViT-H/16 refuses it (strict)
    with pytest.raises(
        weights.WeightsError,
        match=r"are not V-JEPA ViT-H/16 \+ SSv2 probe checkpoints.*"
        r"360 missing keys \(first: blocks\.2\.norm1\.weight\); "
        r"29 shape mismatches \(first: pos_embed \(1, 64, 64\) != \(1, 1568, 1280\)\)$",
    ):
        load_detector("vjepa_ssv2", path=str(folder))
    model = VJEPAFeatures.build(**CONFIGS["tiny"])
    enc = torch.load(folder / "vith16.pth.tar", weights_only=True)
    probe = torch.load(folder / "ssv2-probe.pth.tar", weights_only=True)
    enc["target_encoder"]["module.backbone.extra"] = torch.zeros(1)
    with pytest.raises(
        ValueError, match=r"'target_encoder' does not have this network's layout: 1 unexpected keys \(first: extra\)"
    ):
        model.load_published(enc, probe)
    with pytest.raises(KeyError, match="'target_encoder'"):
        model.load_published({"encoder": {}}, probe)


def test_jedi_is_the_distance_between_the_second_moment_matrices_of_the_features():
    """With (x.y/d)^2 the biased MMD² is ||M_x - M_y||_F² / d², M = mean of x xᵀ (uncentred second moments): JEDi
    compares those d x d matrices, so its steady value needs the samples that pin down fourth moments."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 20)), rng.normal(0.1, 1.2, size=(70, 20))
    mx, my = x.T @ x / len(x), y.T @ y / len(y)
    assert jedi_mmd2(x, y) == pytest.approx(100 * np.sum((mx - my) ** 2) / 20**2, rel=1e-10)


def test_jedi_joins_the_sample_size_study():
    from metrics.sample_size import STUDY_FEATURES, study_metric

    assert study_metric("jedi").estimator is jedi_mmd2
    assert STUDY_FEATURES[study_metric("jedi").features].detector == "vjepa_ssv2"
