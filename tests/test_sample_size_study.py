"""`sgvb sample-size`: features once per side, N_stable per metric, rank deficiency said (study and metric record),
a plugged-in metric, the JSON a table reads, and the Fréchet distance of features equal to the covariance route."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest

from metrics import sample_size
from metrics.stats import frechet_distance, frechet_distance_features, frechet_distance_scipy
from metrics.testing import ArrayVideoDataset, moving_blobs, save_tiny_torchscript_detector


@pytest.fixture
def tiny_study(tmp_path):
    """Tiny TorchScript detectors registered as study feature sets, with three metrics reading them (removed after)."""
    clips = save_tiny_torchscript_detector(tmp_path / "clips.pt", video=True)
    frames = save_tiny_torchscript_detector(tmp_path / "frames.pt", video=False)
    added_features = {
        "tiny_clips": sample_size.FeatureSpec({"_name_": "torchscript", "path": clips, "video": True}, 8),
        "tiny_frames": sample_size.FeatureSpec({"_name_": "torchscript", "path": frames, "video": False}, None),
    }
    for name, spec in added_features.items():
        sample_size.register_study_features(name, spec)
    calls = []

    def counted_fd(fake, real):  # a plugged-in metric: its estimator on two feature sets
        calls.append(len(fake))
        return sample_size.fd(fake, real)

    added = {
        "tfvd": dict(features="tiny_clips", estimator=counted_fd, gaussian=True, results=r"tfvd\d+_\d+f"),
        "tkid": dict(features="tiny_frames", estimator=sample_size.kid_estimate, results=r"tkid\d+"),
        "tprdc": dict(features="tiny_clips", estimator=sample_size.prdc_scores, results=r"tprdc\d+_\d+f"),
    }
    for name, kw in added.items():
        sample_size.register_study_metric(name, **kw)
    yield calls
    for name in added:
        sample_size.STUDY_METRICS.pop(name)
    for name in added_features:
        sample_size.STUDY_FEATURES.pop(name)


def _run(tmp_path, **kw):
    from benchmarks.audit.sample_size import run_sample_size

    dataset = ArrayVideoDataset(moving_blobs(128, 8, 32, seed=3))
    settings = dict(
        metrics=["tfvd", "tkid", "tprdc"],
        distortions=["gaussian_noise"],
        strengths=[0.5, 1.0],
        num_videos=64,
        out_dir=tmp_path / "out",
        repeats=3,
        clip_frames=8,
        frames_per_clip=2,
        device="cpu",
        cache_dir=tmp_path / "cache",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_sample_size(dataset, **{**settings, **kw})


def test_study_computes_features_once_per_side_and_writes_n_stable(tmp_path, tiny_study, capsys):
    report = _run(tmp_path)
    computed = [ln for ln in capsys.readouterr().err.splitlines() if " rows in " in ln]
    # one computation per (feature set, side): 2 feature sets x (reference + 3 configurations)
    assert len(computed) == 8
    assert any("tiny_frames of none@0: 128 rows" in ln for ln in computed)  # 64 clips x 2 frames
    out = tmp_path / "out"
    rows = list(csv.DictReader((out / "sample_size.csv").open()))
    metrics = {r["metric"] for r in rows}
    assert metrics == {"tfvd", "tkid", "tprdc_precision", "tprdc_recall", "tprdc_density", "tprdc_coverage"}
    assert sorted({int(r["n"]) for r in rows if r["metric"] == "tfvd"}) == [16, 32]  # up to half of 64 clips
    assert sorted({int(r["n"]) for r in rows if r["metric"] == "tkid"}) == [16, 32, 64]  # 128 frames per side
    assert {"mean[none@0]", "mean[gaussian_noise@0.5]", "mean[gaussian_noise@1]"} <= set(rows[0])
    # tiny clip features are 32-d: N = 16 and 32 leave the covariance rank-deficient, and the study says so
    fvd_rows = [r for r in rows if r["metric"] == "tfvd"]
    assert all(r["rank_deficient"] == "1" and float(r["rank"]) <= int(r["n"]) - 1 for r in fvd_rows)
    assert all(r["rank_deficient"] == "0" and r["rank"] == "" for r in rows if r["metric"] == "tkid")
    assert report == json.loads((out / "n_stable.json").read_text())
    tfvd = report["metrics"]["tfvd"]
    assert tfvd["rank_deficient_up_to"] == 32 and tfvd["dim"] == 32 and "degenerate subspace" in report["rank_note"]
    assert set(tfvd["rel_std"]) == {"16", "32"} and report["configurations"][0] == "none@0"
    assert report["metrics"]["tprdc_coverage"]["result_keys"] == r"^tprdc\d+_\d+f_coverage$"
    # N_stable is the library's rule on the written curves
    by = {m: [r for r in rows if r["metric"] == m] for m in metrics}
    for m, entry in report["metrics"].items():
        curve = [{"metric": m, "n": int(r["n"]), "rel_std": float(r["rel_std"]), "tau": float(r["tau"])} for r in by[m]]
        assert entry["n_stable"] == sample_size.n_stable(curve)[m]
    assert (out / "sample_size.png").stat().st_size > 5000 and "| tfvd |" in (out / "summary.md").read_text()


def test_a_second_run_reads_every_feature_from_the_cache(tmp_path, tiny_study, capsys):
    first = _run(tmp_path)
    capsys.readouterr()
    second = _run(tmp_path, out_dir=tmp_path / "again")
    assert " rows in " not in capsys.readouterr().err  # nothing recomputed
    assert second["metrics"] == first["metrics"]


def test_plugged_in_estimator_sees_every_draw_of_every_configuration(tmp_path, tiny_study):
    _run(tmp_path, sizes=[16, 32], repeats=2)
    assert sorted(tiny_study) == [16] * 6 + [32] * 6  # 2 sizes x 2 draws x 3 configurations, N rows each


def test_unknown_metric_and_feature_set_are_one_line_errors(tmp_path):
    from benchmarks.audit.sample_size import run_sample_size

    with pytest.raises(ValueError, match="unknown study metric 'fvd2048'; choose among fvd, fid"):
        run_sample_size(None, metrics=["fvd2048"], distortions=[], strengths=[1.0], num_videos=8, out_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown feature set 'nope'"):
        sample_size.register_study_metric("x", features="nope", estimator=sample_size.fd)


@pytest.mark.parametrize("m,n,d", [(20, 30, 64), (64, 64, 64), (200, 150, 24)])  # N < d, N = d, N > d
def test_frechet_distance_of_features_equals_the_covariance_route(m, n, d):
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=(m, d)) @ rng.normal(size=(d, d)), 0)
    y = np.maximum(rng.normal(0.3, 1, size=(n, d)) @ rng.normal(size=(d, d)), 0)
    ours = frechet_distance_features(x, y)
    args = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a singular covariance's square root carries rounding noise of order sqrt(eps) in its null space: the d×d
        # route is only that close; the small-matrix route has no null space to get wrong
        tol = 1e-10 if min(m, n) > d else 1e-6
        assert ours == pytest.approx(frechet_distance(*args), rel=tol)
        assert ours == pytest.approx(frechet_distance_scipy(*args), rel=tol)
    assert abs(frechet_distance_features(x, x.copy())) < 1e-9 * np.trace(args[1])  # a set against itself: 0


def test_a_rank_deficient_fvd_says_so_in_its_record_outside_the_protocol_hash(tmp_path):
    from metrics import build_metric, evaluate
    from metrics.protocol import protocol_identity

    detector = save_tiny_torchscript_detector(tmp_path / "clips.pt", video=True)  # 32-d features
    real = ArrayVideoDataset(moving_blobs(12, 8, 32, seed=1))
    fake = ArrayVideoDataset(moving_blobs(12, 8, 32, seed=2))
    kw = dict(real=real, device="cpu", detector_path=detector, cache_dir=tmp_path / "cache")
    with pytest.warns(RuntimeWarning, match=r"ranks fake 11 / real 11 < d = 32 .*degenerate subspace"):
        rec = evaluate("fvd12_8f", fake=fake, **kw)
    rank = rec["protocol"]["covariance_rank"]
    assert rank == {"dim": 32, "fake": 11, "real": 11, "rank_deficient": True, "note": rank["note"]}
    protocol = {k: v for k, v in rec["protocol"].items() if k != "covariance_rank"}
    assert protocol_identity(build_metric("fvd12_8f"), protocol)["protocol_hash"] == rec["protocol"]["protocol_hash"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # full rank: no warning
        big_real = ArrayVideoDataset(moving_blobs(48, 8, 32, seed=1))
        big_fake = ArrayVideoDataset(moving_blobs(48, 8, 32, seed=2))
        full = evaluate("fvd48_8f", fake=big_fake, **{**kw, "real": big_real})
    assert full["protocol"]["covariance_rank"] == {"dim": 32, "fake": 32, "real": 32, "rank_deficient": False}


def test_table_reader_puts_n_stable_beside_the_result_keys(tmp_path):
    import pandas as pd

    from benchmarks.tables.sample_size import add_n_stable, n_stable_for, read_n_stable

    report = {
        "format": "sgvb-sample-size",
        "metrics": {
            "fvd": {"n_stable": 256, "result_keys": sample_size.result_keys_pattern("fvd")},
            "prdc_coverage": {"n_stable": None, "result_keys": sample_size.result_keys_pattern("prdc_coverage")},
            "kvd": {"n_stable": 64, "result_keys": sample_size.result_keys_pattern("kvd")},
        },
    }
    (tmp_path / "n_stable.json").write_text(json.dumps(report))
    loaded = read_n_stable(tmp_path / "n_stable.json")
    assert n_stable_for("fvd2048_16f", loaded) == 256 and n_stable_for("fvd2048_128f_subsample8f", loaded) == 256
    assert n_stable_for("kvd2048_16f", loaded) == 64 and n_stable_for("fid50k_full", loaded) is None
    table = add_n_stable(pd.DataFrame({"metric": ["fvd2048_16f"] * 2, "key": ["fvd2048_16f", "kvd64_16f"]}), loaded)
    assert list(table.columns) == ["metric", "key", "n_stable"] and table["n_stable"].tolist() == [256, 64]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not an n_stable.json written by `sgvb sample-size`"):
        read_n_stable(tmp_path / "bad.json")


def test_command_help_and_config(capsys):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from benchmarks.cli import main as sgvb

    assert sgvb(["sample-size", "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: sgvb sample-size ") and "N_stable" in text and "  repeats " in text
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
            default = compose("sample_size")
            other = compose("sample_size", overrides=["dataset=synthetic"])
    finally:
        GlobalHydra.instance().clear()
    assert default.dataset._name_ == "sample_footage" and default.dataset.num_clips == 2 * default.num_videos
    assert "num_clips" not in other.dataset  # the footage settings never leak into another dataset
    assert list(default.metrics) == ["fvd", "fid", "kid", "kvd", "prdc"]
