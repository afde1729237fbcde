"""Records you can trust (issues 10.2 and 12): counts, repeated draws, protocol ids, reference statistics,
detector kinds."""

import pickle

import numpy as np
import pytest

from metrics import build_metric, evaluate, sources
from metrics.base import CountError, DetectorMismatchError
from metrics.evaluation import reference_statistics
from metrics.fvd import FVD
from metrics.protocol import protocol_identity
from metrics.reference import ReferenceMismatchError, ReferenceStats
from metrics.testing import ArrayVideoDataset, TinyVideoGenerator, moving_blobs, save_tiny_torchscript_detector

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.*deprecated:FutureWarning",
    "ignore:.*skipped.*shorter:RuntimeWarning",
    "ignore:.*fewer than the:RuntimeWarning",
)


def _dataset(lengths, seed=0, res=16):
    return ArrayVideoDataset([moving_blobs(1, n, res, seed=seed * 1000 + i)[0] for i, n in enumerate(lengths)])


# ------------------------------------------------------------------------------------------ counts (issue 10.2)
def test_default_mode_refuses_fewer_items_than_the_name_states(tmp_path, video_detector):
    real, fake = _dataset([10] * 6, seed=1), _dataset([10] * 4, seed=2)
    kw = dict(fake=fake, real=real, detector_path=video_detector, cache_dir=tmp_path)
    with pytest.raises(CountError, match=r"found 4 fake videos, but the metric's name states 6.*allow_fewer=true"):
        evaluate("fvd6_8f", **kw)
    rec = evaluate("fvd6_8f", allow_fewer=True, **kw)
    p = rec["protocol"]
    assert p["counts"] == {"real videos": {"requested": 6, "used": 6}, "fake videos": {"requested": 6, "used": 4}}
    assert p["fewer_than_name"] is True and p["allow_fewer"] is True and p["protocol_id"].endswith("/fewer")
    full = evaluate("fvd4_8f", **kw)["protocol"]
    assert full["fewer_than_name"] is False and full["counts"]["fake videos"] == {"requested": 4, "used": 4}


def test_official_mode_keeps_min_n_and_records_and_prints_the_counts(tmp_path, video_detector, capsys):
    real, fake = _dataset([10] * 3, seed=1), _dataset([10] * 5, seed=2)
    with pytest.warns(RuntimeWarning, match="computed on 3 real videos, fewer than the 5"):
        rec = evaluate(
            "fvd5_8f", fake=fake, real=real, detector_path=video_detector, cache_dir=tmp_path, mode="official"
        )
    assert rec["protocol"]["counts"]["real videos"] == {"requested": 5, "used": 3} and rec["protocol"]["num_real"] == 3
    assert "used 3 of 5 real videos" in capsys.readouterr().err


def test_official_mode_refuses_too_short_fake_videos_naming_them(tmp_path, video_detector):
    real, fake = _dataset([10] * 3, seed=1), _dataset([10, 4, 10], seed=2)
    with pytest.raises(ValueError, match=r"1 video\(s\) .* shorter than the 8 frames .*'video_000001' \(4\)"):
        evaluate("fvd3_8f", fake=fake, real=real, detector_path=video_detector, cache_dir=tmp_path, mode="official")


def test_fid_counts_frames_of_a_folder(tmp_path, image_detector):
    real = _dataset([6, 6])
    with pytest.raises(CountError, match="found 12 fake frames, but the metric's name states 20"):
        evaluate("fid20_full", fake=real, real=real, detector_path=image_detector, cache_dir=tmp_path)


# ------------------------------------------------------------------------------------------ detectors (issue 10.2)
def test_a_detector_of_the_wrong_kind_is_refused_in_one_line(tmp_path, video_detector, image_detector):
    ds = _dataset([8] * 3)
    with pytest.raises(DetectorMismatchError) as info:
        evaluate("fid3", fake=ds, real=ds, detector_path=video_detector, cache_dir=tmp_path)
    assert "fid3: detector file" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DetectorMismatchError, match="fvd3_8f: .*does not fit"):
        evaluate("fvd3_8f", fake=ds, real=ds, detector_path=image_detector, cache_dir=tmp_path)
    # a per-metric detector_path in the spec wins over the shared one
    rec = evaluate(
        {"_name_": "fid3", "detector_path": image_detector},
        fake=ds,
        real=ds,
        detector_path=video_detector,
        cache_dir=tmp_path,
    )
    assert rec["protocol"]["detector"] == "torchscript:tiny_image"


# ------------------------------------------------------------------------------------------ repeated draws (issue 12.1)
def test_num_runs_repeats_the_real_draws_and_reuses_clip_features(tmp_path, video_detector, monkeypatch):
    real, fake = _dataset([30] * 5, seed=1), _dataset([8] * 5, seed=2)
    kw = dict(fake=fake, real=real, detector_path=video_detector, cache_dir=tmp_path)
    single = evaluate("fvd5_8f", **kw)
    read = []
    original = ArrayVideoDataset.read_frames
    monkeypatch.setattr(
        ArrayVideoDataset,
        "read_frames",
        lambda self, i, f: read.append((id(self), i, tuple(f))) or original(self, i, f),
    )
    rec = evaluate("fvd5_8f", num_runs=3, **kw)
    assert len(rec["runs"]) == 3 and rec["runs"][0]["value"] == pytest.approx(
        single["value"], rel=1e-12
    )  # run 0 = the plain evaluation
    values = [r["value"] for r in rec["runs"]]
    assert len(set(values)) == 3  # other offsets, other numbers
    assert rec["value"] == pytest.approx(np.mean(values)) and rec["value_std"] == pytest.approx(np.std(values))
    assert rec["protocol"]["num_runs"] == 3 and "runs3" in rec["protocol"]["protocol_id"]
    # every (video, frames) clip was read once: the fake folder clips once for all runs,
    # real clips once per distinct offset
    assert len(read) == len(set(read))
    assert sum(1 for r in read if r[0] == id(fake)) == 5


def test_num_runs_draws_new_generator_samples(tmp_path, video_detector):
    real = _dataset([8] * 4)
    rec = evaluate(
        "fvd4_8f",
        fake=TinyVideoGenerator(resolution=16),
        real=real,
        detector_path=video_detector,
        cache_dir=tmp_path,
        num_runs=2,
    )
    assert (
        rec["runs"][0]["value"] != rec["runs"][1]["value"]
        and rec["runs"][0]["seed"] == 0
        and rec["runs"][1]["seed"] != 0
    )


# ------------------------------------------------------------------------------------------ protocol ids (issue 12.2)
def test_protocol_id_and_hash_change_with_every_definition_but_not_with_the_seed(tmp_path, video_detector, monkeypatch):
    real = _dataset([12] * 4)
    kw = dict(fake=real, real=real, detector_path=video_detector, cache_dir=tmp_path)
    base = evaluate("fvd4_8f", **kw)["protocol"]
    assert base["protocol_id"].startswith(f"fvd4_8f/v{FVD.PROTOCOL_VERSION}/default/torchscript:tiny_video-") and base[
        "protocol_id"
    ].endswith("/16px")
    assert len(base["protocol_hash"]) == 16 and base["protocol_version"] == FVD.PROTOCOL_VERSION
    assert evaluate("fvd4_8f", seed=3, **kw)["protocol"]["protocol_hash"] == base["protocol_hash"]
    others = [
        evaluate("fvd4_8f", mode="official", **kw),
        evaluate("fvd4_8f_subsample1f", **kw),
        evaluate("fvd4_4f", **kw),
        evaluate("fvd4_8f", num_runs=2, **kw),
        evaluate("fvd4_8f_subsample2f", **kw),
    ]
    hashes = {base["protocol_hash"]} | {r["protocol"]["protocol_hash"] for r in others}
    assert len(hashes) == 5  # subsample1f is the same metric as fvd4_8f; the other four differ
    # another detector file (sha256) is another protocol
    other_det = save_tiny_torchscript_detector(tmp_path / "tiny_video2.pt", video=True, seed=1)
    assert (
        evaluate("fvd4_8f", fake=real, real=real, detector_path=other_det, cache_dir=tmp_path)["protocol"][
            "protocol_hash"
        ]
        != base["protocol_hash"]
    )
    # changing a metric's definition in code means bumping its version: the id and hash follow

    bump = FVD.PROTOCOL_VERSION + 1
    monkeypatch.setattr(FVD, "PROTOCOL_VERSION", bump)
    bumped = evaluate("fvd4_8f", **kw)["protocol"]
    assert (
        bumped["protocol_version"] == bump
        and f"/v{bump}/" in bumped["protocol_id"]
        and bumped["protocol_hash"] != base["protocol_hash"]
    )
    m = build_metric("fvd4_8f")
    assert (
        protocol_identity(m, {**base, "covariance": "biased"})["protocol_hash"]
        != protocol_identity(m, base)["protocol_hash"]
    )


# ------------------------------------------------------------------------------------ reference statistics (issue 12.5)
def test_reference_statistics_replace_the_dataset_and_refuse_another_protocol(tmp_path, video_detector):
    real, fake = _dataset([12] * 5, seed=1), _dataset([8] * 5, seed=2)
    kw = dict(detector_path=video_detector, cache_dir=tmp_path / "cache")
    ref = reference_statistics("fvd5_8f", real=real, **kw)
    path = ref.save(tmp_path / "ref.npz")
    loaded = ReferenceStats.load(path)
    assert (
        loaded.fingerprint() == real.fingerprint()
        and loaded.resolution == 16
        and loaded.counts["real videos"]["used"] == 5
    )
    direct = evaluate("fvd5_8f", fake=fake, real=real, **kw)
    via_file = evaluate("fvd5_8f", fake=fake, real=loaded, **kw)
    assert (
        via_file["value"] == pytest.approx(direct["value"], rel=1e-12)
        and via_file["protocol"]["real_cache_hit"] == "reference"
    )
    assert via_file["real_fingerprint"] == real.fingerprint()
    with pytest.raises(
        ReferenceMismatchError, match=r"differing fields: metric: file 'fvd5_8f' vs evaluation 'fvd5_4f'; definition"
    ):
        evaluate("fvd5_4f", fake=fake, real=loaded, **kw)
    with pytest.raises(ReferenceMismatchError, match="offset_rule"):
        evaluate("fvd5_8f", fake=fake, real=loaded, mode="official", **kw)
    with pytest.raises(ValueError, match="metric 'consistency4_16f' cannot use reference statistics"):
        evaluate("consistency4_16f", fake=fake, real=loaded, **kw)
    other_det = save_tiny_torchscript_detector(tmp_path / "other.pt", video=True, seed=3)
    with pytest.raises(ReferenceMismatchError, match="detector_identity"):
        evaluate("fvd5_8f", fake=fake, real=loaded, detector_path=other_det, cache_dir=tmp_path / "cache")


def _cdfvd_pickle(path, features):
    """A statistics file laid out as cd-fvd's FeatureStats.save writes it (a pickled __dict__ of float64 sums)."""
    x = features.astype(np.float64)
    state = {
        "capture_all": False,
        "capture_mean_cov": True,
        "max_items": None,
        "num_items": x.shape[0],
        "num_features": x.shape[1],
        "all_features": [],
        "raw_mean": x.sum(0),
        "raw_cov": x.T @ x,
    }
    path.write_bytes(pickle.dumps(state))
    return path


def test_cdfvd_statistics_files_are_read_and_matched_on_backbone_frames_and_resolution(tmp_path, video_detector):
    feats = np.random.default_rng(0).normal(size=(40, 32))
    good = _cdfvd_pickle(tmp_path / "i3d_sky_full_res16_len8_skip1_seed0.pkl", feats)
    ref = ReferenceStats.load(good)
    assert int(ref.arrays["n"]) == 40 and ref.protocol["detector"] == "i3d_videogpt" and ref.resolution == 16
    np.testing.assert_allclose(ref.arrays["sum"], feats.sum(0))
    fake = _dataset([8] * 4)
    with pytest.raises(
        ReferenceMismatchError, match=r"detector: file 'i3d_videogpt' vs evaluation 'torchscript:tiny_video'"
    ):
        evaluate("fvd4_8f", fake=fake, real=ref, detector_path=video_detector, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not named like cd-fvd"):
        ReferenceStats.load(_cdfvd_pickle(tmp_path / "stats.pkl", feats))
    evil = tmp_path / "i3d_evil_full_res16_len8_skip1_seed0.pkl"
    evil.write_bytes(pickle.dumps({"num_items": 2, "raw_mean": sources.Clip(0, (1,))}))
    with pytest.raises(ValueError, match="refusing to load metrics.sources.Clip"):
        ReferenceStats.load(evil)
