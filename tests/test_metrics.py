"""Metric protocols, records and the real-statistics cache (tiny TorchScript detectors, CPU)."""

import json
import os

import numpy as np
import pytest
import torch

from metrics import build_metric, evaluate, sources
from metrics.stats import FeatureStats, frechet_distance_scipy
from metrics.testing import ArrayVideoDataset, TinyVideoGenerator, moving_blobs, save_tiny_torchscript_detector

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.*deprecated:FutureWarning", "ignore:.*skipped.*shorter:RuntimeWarning"
)


def _dataset(lengths, seed=0, res=16):
    return ArrayVideoDataset(
        [v for n, s in zip(lengths, range(len(lengths))) for v in moving_blobs(1, n, res, seed=seed * 1000 + s)]
    )


# ------------------------------------------------------------------------------------------ names
def test_metric_names_encode_the_protocol():
    m = build_metric("fvd2048_128f_subsample8f")
    assert (m.num_videos, m.num_frames, m.subsample, m.name) == (2048, 16, 8, "fvd2048_128f_subsample8f")
    m = build_metric("fvd64_16f")
    assert (m.num_videos, m.num_frames, m.subsample) == (64, 16, 1)
    assert (
        build_metric({"_name_": "fvd", "num_videos": 32, "num_frames": 8, "subsample": 2}).name
        == "fvd32_16f_subsample2f"
    )
    assert build_metric("fid2k").name == "fid2k" and not build_metric("fid2k").full
    assert build_metric("fid50k_full").full and build_metric("fid50k_full").num_fake == 50000
    assert build_metric("consistency128f").num_frames == 128
    assert build_metric("consistency64_1024f").num_videos == 64
    with pytest.raises(KeyError, match="fvd<N>_<T>f"):
        build_metric("fvx64_16f")
    with pytest.raises(ValueError, match="multiple of the subsample"):
        build_metric("fvd64_20f_subsample8f")


# ------------------------------------------------------------------------------------------ selection
def test_real_clips_take_the_first_long_enough_videos_in_order_at_valid_offsets():
    ds = _dataset([20, 5, 16, 40, 30, 17])
    clips = sources.select_real_clips(ds, num_videos=3, num_frames=8, subsample=2, seed=0)
    assert [c.video for c in clips] == [0, 2, 3]  # video 1 is shorter than 8*2 = 16 frames; video 2 has exactly 16
    clips = sources.select_real_clips(ds, num_videos=10, num_frames=8, subsample=2, seed=0)
    assert [c.video for c in clips] == [0, 2, 3, 4, 5]  # fewer than asked when too few are eligible
    for c in clips:
        assert len(c.frames) == 8 and np.all(np.diff(c.frames) == 2)
        assert 0 <= c.frames[0] and c.frames[-1] < ds.video_length(c.video)
    assert (
        sources.select_real_clips(ds, num_videos=10, num_frames=8, subsample=2, seed=0)[2].frames[0]
        == clips[2].frames[0]
    )
    assert sources.select_real_clips(ds, num_videos=3, num_frames=8, subsample=2, seed=0) == clips[:3]  # N is a prefix
    # official mode: python RNG in selection order, reproducible for a seed, different across seeds
    off = [c.frames[0] for c in sources.select_real_clips(ds, num_videos=10, num_frames=4, seed=1, mode="official")]
    assert off == [
        c.frames[0] for c in sources.select_real_clips(ds, num_videos=10, num_frames=4, seed=1, mode="official")
    ]
    offsets = {
        tuple(c.frames[0] for c in sources.select_real_clips(ds, num_videos=10, num_frames=4, seed=s, mode="official"))
        for s in range(5)
    }
    assert len(offsets) > 1
    with pytest.raises(ValueError, match="no video .* has the 64 frames"):
        sources.select_real_clips(ds, num_videos=4, num_frames=64)
    with pytest.raises(ValueError, match="mode"):
        sources.select_real_clips(ds, num_videos=4, num_frames=4, mode="fast")


def test_folder_clips_start_at_zero_and_fid_frames():
    ds = _dataset([10, 3, 12])
    clips = sources.select_folder_clips(ds, num_videos=2, num_frames=5, subsample=2)
    assert [(c.video, c.frames) for c in clips] == [(0, (0, 2, 4, 6, 8)), (2, (0, 2, 4, 6, 8))]
    full = sources.select_all_frames(ds)
    assert sum(len(c.frames) for c in full) == 25
    some = sources.select_all_frames(ds, max_frames=6)
    assert sum(len(c.frames) for c in some) == 6 and {c.video for c in some} == {0, 1, 2}  # spread over all videos


def test_shards_and_quotas_partition_the_work():
    items = list(range(11))
    assert sorted(sum((sources.shard(items, r, 3) for r in range(3)), [])) == items
    assert sources.shard(items, 1, 3) == [1, 4, 7, 10]
    assert [sources.quota(11, r, 3) for r in range(3)] == [4, 4, 3]


def test_quantisation_is_the_official_round_half_up():
    x = torch.tensor([-1.5, -1.0, -0.99, 0.0, 0.5, 1.0, 1.2, 1 / 255, -1 / 255])
    expected = torch.tensor([0, 0, 1, 128, 191, 255, 255, 128, 127], dtype=torch.uint8)
    assert torch.equal(sources.quantize(x), expected)
    for v in (-1.0, -0.5, 0.0, 0.25, 1.0):  # equals floor(x*127.5 + 128) on the valid range: never truncates towards 0
        assert int(sources.quantize(torch.tensor(v))) == int(np.floor(np.clip(v * 127.5 + 128, 0, 255)))


class SpyGenerator(TinyVideoGenerator):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []

    def forward(self, z, t, motion_noise=None, truncation_psi=1.0):
        self.calls.append((z.shape[0], t.clone()))
        return super().forward(z, t, motion_noise, truncation_psi)


def test_generated_clips_start_at_t0_with_the_subsample_stride_and_render_in_chunks():
    G = SpyGenerator(resolution=16)
    gen = torch.Generator().manual_seed(0)
    clips = list(
        sources.generated_clips(
            G,
            num_videos=5,
            times=[0, 8, 16, 24, 32, 40],
            batch_size=2,
            generator=gen,
            device=torch.device("cpu"),
            chunk_size=4,
        )
    )
    assert [c.shape for c in clips] == [(2, 3, 6, 16, 16), (2, 3, 6, 16, 16), (1, 3, 6, 16, 16)] and clips[
        0
    ].dtype == torch.uint8
    assert sum(b for b, _ in G.calls) == 10  # 3 batches x 2 chunks, per-video counts 2+2+1, each rendered in 2 chunks
    assert max(t.shape[1] for _, t in G.calls) == 4
    times = torch.cat([t[:1] for _, t in G.calls[:2]], dim=1)
    assert times.tolist() == [[0, 8, 16, 24, 32, 40]]


# ------------------------------------------------------------------------------------------ FVD / FID end to end
def test_fvd_of_identical_clips_is_zero_and_record_has_the_contract_fields(tmp_path, video_detector):
    ds = _dataset([8] * 6)  # every video exactly 8 frames: real offsets are all 0, folder clips are the same clips
    rec = evaluate(
        "fvd6_8f",
        fake=ds,
        real=ds,
        run_dir=tmp_path,
        detector_path=video_detector,
        cache_dir=tmp_path / "cache",
        kimg=12.5,
        checkpoint="ckpt.pt",
    )
    assert abs(rec["value"]) < 1e-6
    for key in ("metric", "value", "results", "protocol", "kimg", "checkpoint", "wall_time_s", "versions", "timestamp"):
        assert key in rec
    p = rec["protocol"]
    assert {
        k: p[k] for k in ("num_real", "num_fake", "frames", "subsample", "resolution", "mode", "seed", "stand_in")
    } == dict(num_real=6, num_fake=6, frames=8, subsample=1, resolution=16, mode="default", seed=0, stand_in=False)
    assert p["detector"] == "torchscript:tiny_video" and len(p["detector_sha256"]) == 64
    lines = (tmp_path / "metric-fvd6_8f.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["kimg"] == 12.5


def test_fvd_official_mode_uses_the_biased_covariance(tmp_path, video_detector):
    real, fake = _dataset([12] * 5, seed=1), _dataset([12] * 5, seed=2)
    kw = dict(fake=fake, real=real, detector_path=video_detector, cache_dir=tmp_path)
    default, official = evaluate("fvd5_8f", **kw), evaluate("fvd5_8f", mode="official", **kw)
    assert official["protocol"]["covariance"] == "biased" and default["protocol"]["covariance"] == "unbiased"
    # recompute the official number by hand from features
    from metrics.detectors import load_detector

    det = load_detector("i3d", path=video_detector)

    def feats(ds, clips):
        return (
            torch.cat(
                [det(b) for b in sources.iter_dataset_batches(ds, clips, batch_size=2, device=torch.device("cpu"))]
            )
            .double()
            .numpy()
        )

    fr = feats(real, sources.select_real_clips(real, num_videos=5, num_frames=8, seed=0, mode="official"))
    ff = feats(fake, sources.select_folder_clips(fake, num_videos=5, num_frames=8))
    # the official formula: biased covariance, scipy.linalg.sqrtm of the product, real part
    by_hand = frechet_distance_scipy(
        ff.mean(0), np.cov(ff, rowvar=False, bias=True), fr.mean(0), np.cov(fr, rowvar=False, bias=True)
    )
    assert official["value"] == pytest.approx(by_hand, rel=1e-5)
    assert default["value"] != pytest.approx(official["value"], rel=1e-9)


def test_fvd_from_a_generator(tmp_path, video_detector):
    real = _dataset([20] * 6)
    G = TinyVideoGenerator(resolution=16)
    rec = evaluate(
        "fvd6_16f_subsample2f", fake=G, real=real, detector_path=video_detector, cache_dir=tmp_path, batch_size=4
    )
    assert rec["protocol"]["num_fake"] == 6 and rec["protocol"]["fake_source"] == "generator" and rec["value"] > 0
    again = evaluate(
        "fvd6_16f_subsample2f", fake=G, real=real, detector_path=video_detector, cache_dir=tmp_path, batch_size=4
    )
    assert again["value"] == pytest.approx(rec["value"], rel=1e-9)  # seeded
    other = evaluate(
        "fvd6_16f_subsample2f",
        fake=G,
        real=real,
        detector_path=video_detector,
        cache_dir=tmp_path,
        batch_size=4,
        seed=1,
    )
    assert other["value"] != rec["value"]
    with pytest.raises(ValueError, match="resolution 32 != dataset resolution 16"):
        evaluate(
            "fvd6_16f",
            fake=TinyVideoGenerator(resolution=32),
            real=real,
            detector_path=video_detector,
            cache_dir=tmp_path,
        )


def test_real_statistics_cache_hit_miss_and_invalidation(tmp_path, video_detector):
    videos = moving_blobs(4, 10, 16, seed=3)
    real = ArrayVideoDataset(videos)
    kw = dict(fake=real, detector_path=video_detector, cache_dir=tmp_path)
    first = evaluate("fvd4_8f", real=real, **kw)
    assert first["protocol"]["real_cache_hit"] is False and len(list(tmp_path.glob("fvd4_8f-real-*.npz"))) == 1
    second = evaluate("fvd4_8f", real=real, **kw)
    assert second["protocol"]["real_cache_hit"] is True and second["value"] == first["value"]
    assert evaluate("fvd4_8f", real=real, seed=1, **kw)["protocol"]["real_cache_hit"] is False  # other offsets
    assert evaluate("fvd4_8f", real=real, mode="official", **kw)["protocol"]["real_cache_hit"] is False
    changed = [v.clone() for v in videos]
    changed[2][5] = 255 - changed[2][5]  # same path/shape, different content
    rec = evaluate("fvd4_8f", real=ArrayVideoDataset(changed), **kw)
    assert rec["protocol"]["real_cache_hit"] is False
    assert len(list(tmp_path.glob("fvd4_8f-real-*.npz"))) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic writes leave no temp files


def test_fid_counts_and_frames(tmp_path, image_detector):
    real = _dataset([6, 9, 5])
    G = TinyVideoGenerator(resolution=16)
    rec = evaluate(
        {"_name_": "fid", "num_fake": 40, "full": True},
        fake=G,
        real=real,
        detector_path=image_detector,
        cache_dir=tmp_path,
        batch_size=7,
    )
    assert rec["metric"] == "fid40_full"
    assert (
        rec["protocol"]["num_real"] == 20
        and rec["protocol"]["num_fake"] == 40
        and rec["protocol"]["fake_clip_length"] == 16
    )
    rec = evaluate("fid12", fake=real, real=real, detector_path=image_detector, cache_dir=tmp_path)
    assert rec["protocol"]["num_real"] == 12 and rec["protocol"]["num_fake"] == 12


def test_bad_inputs_are_clear_errors(tmp_path, video_detector):
    real = _dataset([8] * 3)
    with pytest.raises(TypeError, match="'fake' must be"):
        evaluate("fvd3_8f", fake=object(), real=real, detector_path=video_detector)
    with pytest.raises(TypeError, match="'real' must be"):
        evaluate("fvd3_8f", fake=real, real=[1, 2], detector_path=video_detector)
    with pytest.raises(ValueError, match="metric mode"):
        evaluate("fvd3_8f", fake=real, real=real, mode="fastest", detector_path=video_detector)
    with pytest.raises(Exception, match="does not accept the official call"):
        evaluate(
            "fvd3_8f",
            fake=real,
            real=real,
            detector_path=save_tiny_torchscript_detector(tmp_path / "img.pt", video=False),
            cache_dir=tmp_path,
        )


# ------------------------------------------------------------------------------------------ processes
KID_SPEC = {"_name_": "kid", "num_fake": 6, "max_real": 7, "num_subsets": 3, "max_subset_size": 5, "clip_length": 4}


def _eval_worker(rank, world, init_file, detector, cache_dir, out_dir, image_detector):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        real, fake = _dataset([12] * 7, seed=1), _dataset([12] * 7, seed=2)
        rec = evaluate(
            "fvd7_8f", fake=fake, real=real, detector_path=detector, cache_dir=cache_dir, run_dir=out_dir, batch_size=2
        )
        kid = evaluate(KID_SPEC, fake=fake, real=real, detector_path=image_detector, cache_dir=cache_dir, batch_size=2)
        with open(os.path.join(out_dir, f"value{rank}.json"), "w") as f:
            json.dump({**rec, "kid": kid["value"]}, f)
    finally:
        torch.distributed.destroy_process_group()


def test_two_processes_give_the_same_fvd_and_statistics_as_one(tmp_path, video_detector, image_detector):
    torch.multiprocessing.spawn(
        _eval_worker,
        args=(2, str(tmp_path / "init"), video_detector, str(tmp_path / "c2"), str(tmp_path), image_detector),
        nprocs=2,
        join=True,
    )
    real, fake = _dataset([12] * 7, seed=1), _dataset([12] * 7, seed=2)
    single = evaluate(
        "fvd7_8f", fake=fake, real=real, detector_path=video_detector, cache_dir=tmp_path / "c1", batch_size=3
    )
    single_kid = evaluate(
        KID_SPEC, fake=fake, real=real, detector_path=image_detector, cache_dir=tmp_path / "c1", batch_size=3
    )
    for rank in range(2):
        rec = json.loads((tmp_path / f"value{rank}.json").read_text())
        # KID's real features are gathered once across processes (not summed twice by the cache)
        assert rec["kid"] == pytest.approx(single_kid["value"], rel=1e-4, abs=1e-6)
        # equal up to float32 detector rounding (batches are composed differently); the float64 sums add exactly
        assert rec["value"] == pytest.approx(single["value"], rel=1e-5) and rec["protocol"]["world_size"] == 2
        assert rec["protocol"]["num_real"] == 7 and rec["protocol"]["num_fake"] == 7
    assert len((tmp_path / "metric-fvd7_8f.jsonl").read_text().splitlines()) == 1  # only rank 0 writes
    (two,), (one,) = list((tmp_path / "c2").glob("fvd*.npz")), list((tmp_path / "c1").glob("fvd*.npz"))
    a, b = FeatureStats.load(two), FeatureStats.load(one)
    assert a.count == b.count == 7
    torch.testing.assert_close(a.sum_outer, b.sum_outer, rtol=1e-6, atol=1e-8)


def test_no_autograd_graph_is_built_while_sampling(tmp_path, video_detector):
    class GradSpy(TinyVideoGenerator):
        grad_seen = False

        def forward(self, z, t, motion_noise=None, truncation_psi=1.0):
            GradSpy.grad_seen |= torch.is_grad_enabled()
            return super().forward(z, t, motion_noise, truncation_psi)

    G = GradSpy(resolution=16).train()
    evaluate("fvd2_8f", fake=G, real=_dataset([8] * 2), detector_path=video_detector, cache_dir=tmp_path)
    assert not GradSpy.grad_seen and G.training  # no graph, and the module's mode is restored
