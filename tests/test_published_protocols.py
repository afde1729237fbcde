"""The published FVD protocols (metrics.published): cd-fvd's own code run against ours; the other implementations'
steps pinned on numbers derived by hand from reading their code (docs/protocols.md)."""

import numpy as np
import pytest
import torch

from metrics import detectors
from metrics.published import PROTOCOLS, compare_protocols, differences, estimators, get_protocol, pixels
from metrics.published import clips as rules
from metrics.published.compare import comparable
from metrics.sources import Clip
from metrics.testing import ArrayVideoDataset


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.delenv("SGVB_WEIGHTS_DIR", raising=False)
    detectors._LOADED.clear()
    yield
    detectors._LOADED.clear()


def _ramp(h: int, w: int, t: int = 1) -> torch.Tensor:
    """uint8 [1, 3, t, h, w] whose column j holds 10 * j."""
    row = (torch.arange(w) * 10).to(torch.uint8)
    return row.expand(1, 3, t, h, w).clone()


# ------------------------------------------------------------------------------------ cd-fvd's own code
def test_stretch_equals_cd_fvds_preprocess_i3d_bit_for_bit():
    from cdfvd.third_party.i3d.utils import preprocess_i3d

    videos = np.random.default_rng(0).integers(0, 256, (2, 3, 12, 20, 3), dtype=np.uint8)  # B T H W C, non-square
    theirs = preprocess_i3d(videos, target_resolution=(16, 16))
    ours = pixels.stretch_pm1(torch.from_numpy(videos).permute(0, 4, 1, 2, 3), 16)
    assert torch.equal(ours, theirs)


def test_cdfvd_loader_step_equals_cd_fvds_video_preprocess_and_byte_cast():
    from cdfvd.utils.data_utils import preprocess

    video = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (4, 18, 30, 3), dtype=np.uint8))  # T H W C
    theirs = (preprocess(video, 12)["video"] * 255).byte()  # [C, T, 12, 12], as compute_real_stats casts it
    ours = pixels.cdfvd_resize_crop(video.permute(3, 0, 1, 2)[None], 12)[0]
    assert torch.equal(ours, theirs)


def test_cdfvd_estimator_equals_cd_fvds_compute_fvd_from_stats():
    from cdfvd.fvd import cdfvd as cdfvd_class
    from cdfvd.utils.metric_utils import FeatureStats as TheirStats

    g = torch.Generator().manual_seed(0)
    fake, real = torch.randn(40, 12, generator=g), torch.randn(50, 12, generator=g) * 1.3 + 0.2
    s_fake, s_real = TheirStats(capture_mean_cov=True), TheirStats(capture_mean_cov=True)
    s_fake.append_torch(fake, rank=0, num_gpus=1)
    s_real.append_torch(real, rank=0, num_gpus=1)
    theirs = float(cdfvd_class.compute_fvd_from_stats(None, s_fake, s_real))
    assert estimators.cdfvd(fake, real) == theirs
    assert estimators.stylegan_v(fake, real) == pytest.approx(theirs, rel=1e-9)  # the other product order


def test_tfgan_estimator_equals_the_tats_code_cd_fvd_ships():
    from cdfvd.third_party.i3d.utils import frechet_distance

    g = torch.Generator().manual_seed(2)
    fake, real = torch.randn(64, 16, generator=g), torch.randn(64, 16, generator=g) + 0.3
    assert estimators.tfgan_float32(fake, real) == float(frechet_distance(fake, real))  # bit for bit


# ------------------------------------------------------------------------------------ hand-derived numbers
def test_tats_videogpt_real_round_trip_lowers_values_1_to_63_by_one():
    """(x/255 - 0.5 + 0.5) * 255 in float32, truncated: the subtraction drops low bits of small values."""
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 1, 16, 16).expand(1, 3, 1, 16, 16).contiguous()
    out = pixels.pm05_roundtrip(x, 16)[0, 0, 0].flatten()
    lowered = (x[0, 0, 0].flatten() - out).nonzero().flatten().tolist()
    assert lowered == list(range(1, 64))
    assert int((x[0, 0, 0].flatten().int() - out.int()).max()) == 1


def test_tats_stretches_where_digan_and_videogpt_crop():
    """A 2x4 frame with columns 0, 10, 20, 30 to 2x2. Stretch (half-pixel bilinear): columns sample 0.5 and 2.5
    -> 5, 25. Shorter side (already 2) + centre crop from column (4 - 2) // 2 = 1 -> 10, 20. TF1 legacy: columns
    sample 0 and 2 -> 0, 20."""
    x = _ramp(2, 4)
    to_255 = lambda v: torch.round((v[0, 0, 0, 0] + 1) * 255 / 2)  # noqa: E731
    assert to_255(pixels.stretch_pm1(x, 2)).tolist() == [5, 25]
    assert to_255(pixels.shorter_crop_pm1(x, 2)).tolist() == [10, 20]
    assert to_255(pixels.cm_styleganv(x, 2)).tolist() == [10, 20]
    assert torch.round((pixels.shorter_crop_pm05(x, 2)[0, 0, 0, 0] + 0.5) * 255).tolist() == [10, 20]
    assert to_255(pixels.tf1_stretch_pm1(x, 2)).tolist() == [0, 20]
    assert pixels.digan_resize_crop(x, 2)[0, 0, 0, 0].tolist() == [10, 20]  # square crop first, then resize


def test_loader_resizes_are_the_identity_on_square_frames_at_the_loaders_resolution():
    """Bilinear at scale 1 samples the pixels themselves and uint8 of an exact integer is that integer: on our
    datasets (square frames at their resolution) DIGAN's and cd-fvd's loaders change nothing, so the comparison
    skips them (``IDENTITY_AT_RESOLUTION``) and shares their features; TATS's [-0.5, 0.5] round trip is no identity."""
    x = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (2, 3, 4, 12, 12), dtype=np.uint8))
    for name in pixels.IDENTITY_AT_RESOLUTION:
        assert torch.equal(pixels.LOADERS[name](x, 12), x), name
    assert not torch.equal(pixels.pm05_roundtrip(x, 12), x)


def test_tf1_legacy_upsampling_has_no_half_pixel_centres():
    """[0, 10] to 4 samples: src = 0, 0.5, 1, 1.5 (the last clamped to the edge) -> 0, 5, 10, 10."""
    frames = torch.tensor([[0.0, 10.0]]).expand(1, 1, 2, 2)
    assert pixels.tf1_resize_bilinear(frames, 4)[0, 0, 0].tolist() == [0, 5, 10, 10]


def test_quantisation_rules_of_generated_frames():
    x = torch.tensor([0.0, 0.999, -1.0])
    assert pixels.quantize_generated(x, "round").tolist() == [128, 255, 0]  # 128, 255.37 clamped, 0.5
    assert pixels.quantize_generated(x, "truncate").tolist() == [127, 254, 0]  # 127.5, 254.87, 0
    assert pixels.quantize_generated(x, "half_truncate").tolist() == [127, 254, 0]
    assert pixels.quantize_generated(x, "float").tolist() == pytest.approx([0.5, 0.9995, 0.0])
    with pytest.raises(ValueError, match="unknown quantisation"):
        pixels.quantize_generated(x, "nearest")


def _lengths_dataset(lengths, res=4):
    return ArrayVideoDataset([torch.zeros(n, res, res, 3, dtype=torch.uint8) for n in lengths])


def test_clip_rules_by_hand():
    ds = _lengths_dataset([300, 130, 100])
    picked = rules.k_per_video(ds, num_videos=10, num_frames=16, k=4, chunk=128)
    assert [(c.video, c.frames[0], len(c.frames)) for c in picked] == [(0, 0, 16), (0, 128, 16), (1, 0, 16)]
    ds = _lengths_dataset([40, 16, 15])
    assert sorted((c.video, c.frames[0]) for c in rules.chunks(ds, num_videos=10, num_frames=16)) == [
        (0, 0),
        (0, 16),
        (1, 0),
    ]
    windows = rules.all_windows(ds, num_videos=100, num_frames=16)  # 25 + 1 windows, each once
    assert len(windows) == 26 and len(set(windows)) == 26
    full = rules.cdfvd_loader(ds, num_videos=None, num_frames=16)  # n_real='full': one clip per long-enough video
    assert sorted(c.video for c in full) == [0, 1]
    cycled = rules.cdfvd_loader(ds, num_videos=5, num_frames=16)  # n_fake > videos: passes repeat
    assert len(cycled) == 5 and all(sum(c.video == v for c in cycled) >= 2 for v in (0, 1))  # 2 passes + 1
    assert all(c.frames[-1] < 40 for c in cycled)


def test_protocols_state_what_differs_and_when_they_cannot_be_compared():
    tats, digan = get_protocol("tats"), get_protocol("digan")
    assert set(differences(tats, digan)) == {"clip rule", "resize", "quantisation", "draws"}
    assert differences(get_protocol("videogpt"), get_protocol("videogpt_pm05")) == ["resize", "range"]
    assert "not comparable" in comparable(get_protocol("stylegan_v"), get_protocol("cdfvd_videomae"))
    assert get_protocol("cdfvd_videomae").describe()["range"].startswith("[0,1]")  # cd-fvd feeds ViT-g /255 only
    assert comparable(get_protocol("stylegan_v"), get_protocol("stylegan_v_4clips")) is None
    assert len({p.protocol_id for p in PROTOCOLS.values()}) == len(PROTOCOLS)
    with pytest.raises(ValueError, match="Did you mean 'digan'"):
        get_protocol("digam")


def test_covariance_conventions_by_hand():
    """Features fake {0, 2}, real {0, 4} (a second, constant feature: np.cov of one feature is 0-d): means 1 and 2;
    variances 1/N: 1 and 4, 1/(N-1): 2 and 8.
    FD = (1 - 2)^2 + vf + vr - 2 sqrt(vf vr): 1/N (StyleGAN-V, cd-fvd) 1 + 1 + 4 - 4 = 2; 1/(N-1) (TF-GAN, np.cov)
    1 + 2 + 8 - 8 = 3."""
    fake, real = torch.tensor([[0.0, 1.0], [2.0, 1.0]]), torch.tensor([[0.0, 1.0], [4.0, 1.0]])
    for name, expected in (
        ("stylegan_v", 2.0),
        ("cdfvd", 2.0),
        ("numpy_cov_sqrtm", 3.0),
        ("tfgan_float32", 3.0),
        ("tfgan_float64", 3.0),
    ):
        assert estimators.estimate(name, fake, real) == pytest.approx(expected, abs=1e-6), name


def test_every_protocols_quantisation_is_a_rule_or_the_callers():
    x = torch.linspace(-1, 1, 11)
    for p in PROTOCOLS.values():
        rule = p.quantisation.split(":")[0]
        if rule != "given":
            assert pixels.quantize_generated(x, rule).shape == x.shape, p.name


def test_trace_sqrt_estimators_agree_with_the_reference_distance():
    from metrics.stats import FeatureStats, frechet_distance_from_stats

    g = torch.Generator().manual_seed(3)
    fake, real = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g) * 0.8 + 0.1
    sf, sr = FeatureStats(8), FeatureStats(8)
    sf.update(fake)
    sr.update(real)
    reference = frechet_distance_from_stats(sf, sr, unbiased=True)
    assert estimators.tfgan_float64(fake, real) == pytest.approx(reference, rel=1e-9)
    assert estimators.numpy_cov_sqrtm(fake, real) == pytest.approx(reference, rel=1e-9)
    assert estimators.tfgan_float32(fake, real) == pytest.approx(reference, rel=1e-4)


# ------------------------------------------------------------------------------------ end to end
def _synthetic(seed, n=6, res=16):
    import benchmarks  # noqa: F401  (registers the synthetic dataset)
    from registry import DATASETS

    return DATASETS.build({"_name_": "synthetic", "resolution": res, "num_videos": n, "num_frames": 128, "seed": seed})


def test_stylegan_v_protocol_equals_sgvb_official_fvd():
    """The named protocol and `sgvb eval mode=official` on the same folders: one pipeline, one number. Its clips and
    features give the official number bit for bit under the caller's threads; the comparison runs its estimators on a
    fixed thread count (speed under load), which moves sqrtm by ~1e-8 when N is far below d."""
    import warnings

    from threadpoolctl import threadpool_limits

    from metrics.evaluation import evaluate
    from metrics.published.compare import FeatureStore, load_networks

    real, fake = _synthetic(0), _synthetic(1)
    p = get_protocol("stylegan_v")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = compare_protocols(
            real,
            fake,
            protocols=["stylegan_v", "stylegan_v_4clips"],
            num_videos=6,
            allow_stand_in=True,
            stand_in_resolution=16,
        )
        metric = {"_name_": "fvd6_16f", "stand_in_resolution": 16}
        with threadpool_limits(limits=1, user_api="blas"):  # sqrtm on a loaded 2-core machine: seconds otherwise
            official = evaluate(metric, fake=fake, real=real, mode="official", allow_stand_in_detectors=True)
        net = load_networks(["i3d"], device="cpu", allow_stand_in=True, stand_in_resolution=16)["i3d"]
    store = FeatureStore(device=torch.device("cpu"), batch_size=8)
    pick = dict(num_videos=6, num_frames=16)
    rf = store.features(net, real, rules.stylegan_v(real, **pick), loader="none", step="official")
    ff = store.features(net, fake, rules.first_frames(fake, **pick), loader="none", step="official")
    with threadpool_limits(limits=1, user_api="blas"):
        assert estimators.stylegan_v(ff, rf) == official["value"]  # bit for bit
    got = ours.by_name()
    assert got["stylegan_v"].value == pytest.approx(official["value"], rel=1e-6)
    assert got["stylegan_v_4clips"].value != got["stylegan_v"].value  # other real clips (offset 0 of each video)
    assert ours.clips_computed == 6 + 6 + 6  # the fake clips are shared between the two
    assert ours.clips_requested == 6 + 6 + 6 + 6
    record = got["stylegan_v"].record(seed=0).to_json()
    assert record["metric"] == "fvd_stylegan_v" and record["protocol"]["stand_in"] is True
    assert record["protocol"]["protocol_id"] != p.protocol_id  # N = 6, not 2048: another protocol id


def test_latte_subsamples_the_real_clips_only():
    """Latte's copy of StyleGAN-V's FVD: real clips every 3rd frame (span 48 for 16 frames), generated ones
    consecutive; nothing else differs from ``stylegan_v``."""
    from metrics.published.compare import FeatureStore, Network, run_protocol, with_overrides

    class Mean(torch.nn.Module):
        video, stand_in, input_resolution, identity, name = True, True, 4, "mean", "mean"

        def forward(self, x):
            return x.float().mean(dim=(3, 4)).flatten(1)  # [B, 3 * T]

    p = get_protocol("latte")
    assert differences(get_protocol("stylegan_v"), p) == ["clip rule"]
    ds = _lengths_dataset([60, 60, 60])
    store = FeatureStore(device=torch.device("cpu"))
    result = run_protocol(
        with_overrides(p, num_videos=3, trials=None), store, {"i3d": Network(Mean())}, real=ds, fake=ds, num_frames=16
    )
    assert result.num_real == 3 and result.num_fake == 3
    spacings = {key[-1].frames[1] - key[-1].frames[0] for key in store.memo}
    assert spacings == {1, 3}  # fakes consecutive, reals every third frame
    assert all(c.frames[-1] - c.frames[0] == 45 for *_, c in store.memo if c.frames[1] - c.frames[0] == 3)


def test_repeated_draws_report_mean_and_population_std():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare_protocols(
            _synthetic(0),
            _synthetic(1),
            protocols=["digan"],
            num_videos=4,
            trials=3,
            allow_stand_in=True,
            stand_in_resolution=16,
        ).results[0]
    assert len(res.values) == 3 and res.value == pytest.approx(np.mean(res.values))
    assert res.std == pytest.approx(np.std(res.values)) and res.std > 0
    assert res.record(seed=0).to_json()["value_std"] == pytest.approx(res.std)


def test_features_are_shared_per_clip_and_pixels():
    from metrics.published.compare import FeatureStore, Network

    class Counting(torch.nn.Module):
        video, stand_in, input_resolution, identity, name = True, True, 4, "count", "count"

        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += x.shape[0]
            return x.float().mean(dim=(2, 3, 4))

    det = Counting()
    ds = _lengths_dataset([20, 20])
    store = FeatureStore(device=torch.device("cpu"), batch_size=4)
    a = [Clip(0, tuple(range(16))), Clip(1, tuple(range(16)))]
    store.features(Network(det), ds, a, loader="none", step="official")
    store.features(Network(det), ds, a[:1] + [Clip(1, tuple(range(2, 18)))], loader="none", step="official")
    assert det.calls == 3 and store.computed == 3
    # DIGAN's and cd-fvd's loaders at the data's own resolution change nothing: shared with "none"
    store.features(Network(det), ds, a, loader="digan_resize_crop", step="official")
    assert det.calls == 3
    # DIGAN's loader at its fixed 128 px (here 8) resizes: other pixels, other features
    store.features(Network(det), ds, a, loader="digan_resize_crop", step="official", loader_resolution=8)
    assert det.calls == 5 and store.requested == 8
    assert "(R=128)" in get_protocol("digan").describe()["resize"]


@pytest.mark.slow
def test_cdfvd_i3d_protocol_equals_cd_fvds_compute_fvd(tmp_path):
    """cd-fvd's ``cdfvd(model='i3d').compute_fvd`` (its model, preprocessing, statistics and sqrtm) against the
    protocol's steps (``stretch_pm1`` -> bare ``InceptionI3d`` -> ``cdfvd`` estimator) on the same random
    ``i3d_pretrained_400.pt``-layout file and the same uint8 videos (non-square, stretched to 224)."""
    import warnings

    from cdfvd import fvd as cdfvd_fvd

    from metrics.detectors import load_detector
    from metrics.published.compare import Network
    from metrics.testing import random_i3d_state_dict

    path = tmp_path / "i3d_random_400.pt"
    torch.save(random_i3d_state_dict(0), path)
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (2, 10, 24, 40, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (2, 10, 24, 40, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cdfvd_fvd.cdfvd(model="i3d", ckpt_path=str(path), device="cpu", n_real="full", n_fake="full")
        expected = float(theirs.compute_fvd(real, fake))
        net = Network(load_detector("i3d_pytorch", path=path))

        def feats(videos):
            return net(pixels.stretch_pm1(torch.from_numpy(videos).permute(0, 4, 1, 2, 3), net.size), "stretch_pm1")

        got = estimators.cdfvd(feats(fake), feats(real))
    assert got == expected  # bit for bit
