"""``sgvb audit``: the summary statistics on a hand-made response table, the halves, and a tiny end-to-end run."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.audit.data import DistortedVideos, SourceClips, split_halves
from benchmarks.audit.runner import check_strengths, metric_labels, run_audit, write_outputs
from benchmarks.audit.summary import markdown, normalised_response, per_distortion, per_metric, spearman
from metrics.testing import ArrayVideoDataset
from registry import DISTORTIONS


def hand_table() -> pd.DataFrame:
    """Metric A: rises with blur (0, 1, 2, 4) and freeze (0, 2, 4, 6);
    metric B: flat under blur, falls then rises under freeze."""
    rows = []
    for metric, floor, curves in (
        ("A", 1.0, {"blur": [1, 2, 3, 5], "freeze": [1, 3, 5, 7]}),
        ("B", 2.0, {"blur": [2, 2, 2, 2], "freeze": [2, 1.5, 3, 4]}),
    ):
        for distortion, values in curves.items():
            for s, v in zip((0.0, 0.25, 0.5, 1.0), values):
                rows.append(
                    {
                        "metric": metric,
                        "distortion": distortion,
                        "family": "spatial" if distortion == "blur" else "temporal",
                        "strength": s,
                        "parameter_name": "p",
                        "parameter": s,
                        "value": float(v),
                        "noise_floor": floor,
                        "n": 8,
                        "stand_in": True,
                    }
                )
    return pd.DataFrame(rows)


def test_summary_statistics_of_a_hand_made_table():
    by_d = per_distortion(hand_table()).set_index(["metric", "distortion"])
    assert by_d.loc[("A", "blur"), "spearman"] == pytest.approx(1.0)
    assert math.isnan(by_d.loc[("B", "blur"), "spearman"])  # never moves: no direction
    assert by_d.loc[("B", "freeze"), "spearman"] == pytest.approx(0.8)  # ranks (2,1,3,4) vs (1,2,3,4): 1 - 6*2/(4*15)
    assert by_d.loc[("A", "blur"), "response"] == pytest.approx((1 + 2 + 4) / 3)
    assert by_d.loc[("A", "freeze"), "response_at_max"] == pytest.approx(6)
    by_m = per_metric(per_distortion(hand_table())).set_index("metric")
    assert by_m.loc["A", "spatial_temporal_ratio"] == pytest.approx((7 / 3) / 4)
    assert by_m.loc["B", "spatial_temporal_ratio"] == pytest.approx(
        0.0
    )  # spatial response 0 / temporal (−0.5 + 1 + 2) / 3
    assert by_m.loc["A", "temporal_monotone"] == 1 and by_m.loc["B", "temporal_monotone"] == 0


def test_ratio_is_refused_when_the_temporal_response_is_not_above_the_floor():
    table = hand_table()
    table.loc[(table.metric == "A") & (table.family == "temporal"), "value"] = 0.5  # below the floor of 1
    by_m = per_metric(per_distortion(table)).set_index("metric")
    assert math.isnan(by_m.loc["A", "spatial_temporal_ratio"])
    assert "n/a" in markdown(per_distortion(table), by_m.reset_index())


def test_spearman_and_normalised_response():
    assert spearman(np.array([0, 1, 2]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.array([0, 1]), np.array([5.0, 5.0])))
    r = normalised_response(hand_table())
    assert r.max() == pytest.approx(1.0) and r[hand_table().metric == "B"].min() == pytest.approx(-0.25)


def test_outputs_are_written(tmp_path):
    paths = write_outputs(hand_table(), tmp_path)
    assert pd.read_csv(paths["table"]).shape == (16, 10)
    for key in ("spatial_png", "spatial_pdf", "temporal_png", "temporal_pdf", "overview_png", "overview_pdf"):
        assert paths[key].stat().st_size > 1000
    assert paths["spatial_png"].read_bytes()[:4] == b"\x89PNG" and paths["temporal_pdf"].read_bytes()[:4] == b"%PDF"
    assert "Stand-in detectors" in paths["markdown"].read_text()


def test_halves_are_disjoint_and_strength_zero_is_the_same_clip_for_every_distortion():
    videos = [
        torch.full((40, 8, 8, 3), i, dtype=torch.uint8) + torch.arange(40, dtype=torch.uint8)[:, None, None, None]
        for i in range(6)
    ]
    ref, test = split_halves(ArrayVideoDataset(videos), 3)
    assert ref.indices == [0, 2, 4] and test.indices == [1, 3, 5] and ref.fingerprint() != test.fingerprint()
    source = SourceClips(test, 32, seed=0)
    floors = [
        DistortedVideos(source, DISTORTIONS.build(n), n, 0.0, 8, batch_size=2).read_frames(1, range(8))
        for n in ("speed", "blur", "loop")
    ]
    assert all(torch.equal(f, floors[0]) for f in floors)
    assert torch.equal(floors[0], test.read_frames(1, range(source.offsets[1], source.offsets[1] + 8)))
    with pytest.raises(ValueError, match="needs 8 videos"):
        split_halves(ArrayVideoDataset(videos), 4)
    with pytest.raises(ValueError, match=r"strengths: give values in \(0, 1\]"):
        check_strengths([0.0, 0.5])


def test_sgvb_audit_end_to_end_with_a_tiny_detector(tmp_path):
    """The command: Hydra config, halves of the synthetic data, two distortions, the outputs;
    the real side is cached once."""
    import subprocess
    import sys

    from metrics.testing import save_tiny_torchscript_detector

    detector = save_tiny_torchscript_detector(tmp_path / "frames.pt", video=False)
    out = tmp_path / "audit"
    args = [
        "dataset=synthetic",
        "dataset.resolution=16",
        "dataset.num_videos=8",
        "dataset.num_frames=40",
        "num_videos=4",
        "metrics=[consistency4_16f]",
        "distortions=[gaussian_blur,{_name_: speed_change, max_speed: 2}]",
        "strengths=[0.5,1.0]",
        f"detector_path={detector}",
        f"cache_dir={tmp_path / 'cache'}",
        f"out_dir={out}",
        "device=cpu",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", "audit", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "audit.csv")
    assert list(table.columns) == [
        "metric",
        "distortion",
        "family",
        "strength",
        "parameter_name",
        "parameter",
        "value",
        "noise_floor",
        "n",
        "stand_in",
    ]
    assert (
        sorted(set(table["distortion"])) == ["gaussian_blur", "speed_change"]
        and len(table) == 6
        and set(table["n"]) == {4}
    )
    floor = table[table.strength == 0]["value"]
    assert floor.nunique() == 1 and (table["noise_floor"] == floor.iloc[0]).all()
    assert table.loc[table.distortion == "speed_change", "parameter"].dropna().tolist() == pytest.approx([2**0.5, 2.0])
    assert len(list((tmp_path / "cache").glob("consistency4_16f-real-*.npz"))) == 1
    assert (
        (out / "response_temporal.pdf").is_file()
        and (out / "response_spatial.png").is_file()
        and (out / "summary.md").is_file()
    )


def test_quick_preset_composes_to_the_shipped_study():
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose("audit", overrides=["preset=quick"])
    assert cfg.dataset._name_ == "synthetic" and cfg.allow_stand_in_detectors and len(cfg.distortions) == 13
    assert cfg.metrics[0].startswith("fvd") and cfg.metrics[1]._name_ == "consistency"


def test_the_overview_figure_draws_every_metric_and_family_on_one_axis(tmp_path, monkeypatch):
    """``response.png``: one axis, one line per (metric, family): its mean normalised response against strength."""
    from benchmarks.audit import figures

    drawn = {}
    real_save = figures._save

    def capture(fig, stem):
        drawn[stem.name] = [
            (ax, [(line.get_label(), list(line.get_ydata())) for line in ax.get_lines()]) for ax in fig.axes
        ]
        return real_save(fig, stem)

    monkeypatch.setattr(figures, "_save", capture)
    write_outputs(hand_table(), tmp_path)
    (axis, lines), *others = drawn["response"]
    assert not others  # one axis
    curves = {label: ys for label, ys in lines if not label.startswith("_")}
    assert set(curves) == {"A (spatial)", "A (temporal)", "B (spatial)", "B (temporal)"}
    # A's largest |value - floor| is 6 (freeze at 1): blur (0, 1, 2, 4) / 6, freeze (0, 2, 4, 6) / 6
    assert curves["A (spatial)"] == pytest.approx([0, 1 / 6, 2 / 6, 4 / 6])
    assert curves["A (temporal)"] == pytest.approx([0, 2 / 6, 4 / 6, 1])
    assert curves["B (temporal)"] == pytest.approx([0, -0.25, 0.5, 1])


def test_metrics_sharing_a_name_are_told_apart_by_their_detector():
    from metrics import build_metric

    chosen = [build_metric(m) for m in ("fvd8_16f", {"_name_": "fvd8_16f", "detector": "videomae_v2"}, "jedi8_16f")]
    assert metric_labels(chosen) == ["fvd8_16f[i3d]", "fvd8_16f[videomae_v2]", "jedi8_16f"]
    with pytest.raises(ValueError, match=r"\['jedi8_16f\[vjepa_ssv2\]'\] given twice"):
        metric_labels([build_metric("jedi8_16f"), build_metric("jedi8_16f")])


def test_audit_runs_the_motion_metrics_beside_fvd_on_stand_ins(tmp_path):
    """JEDi and FVMD in the audit beside FVD (VideoMAE stand-in; the I3D one is the end-to-end test's): every metric
    scored at every strength on the same distorted clips, and drawn in the one-axis figure. Two videos a half and one
    distortion: FVMD's stand-in tracker is the slow part."""
    import warnings

    from benchmarks.data.synthetic import SyntheticDataset
    from registry import METRICS

    motion = ["jedi2_16f"] + (["fvmd2_16f"] if "fvmd" in METRICS else [])  # FVMD: issue 26's other half
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = run_audit(
            SyntheticDataset(resolution=16, num_videos=4, num_frames=20),
            metrics=[{"_name_": "fvd2_16f", "detector": "videomae_v2"}, *motion],
            distortions=["frame_freeze"],
            strengths=[1.0],
            num_videos=2,
            out_dir=tmp_path / "audit",
            allow_stand_in_detectors=True,
            cache_dir=tmp_path / "cache",
            device="cpu",
            progress=False,
        )
    assert list(dict.fromkeys(table["metric"])) == ["fvd2_16f", *motion]
    assert len(table) == 2 * (1 + len(motion)) and table["stand_in"].all() and set(table["n"]) == {2}
    assert table["value"].notna().all()
    jedi = table[table.metric == "jedi2_16f"].set_index("strength")["value"]
    assert jedi[0.0] >= 0 and jedi[1.0] != jedi[0.0]
    assert (tmp_path / "audit" / "response.png").stat().st_size > 1000


def test_motion_preset_puts_the_motion_metrics_beside_fvd():
    from hydra import compose, initialize_config_module

    from metrics import build_metric

    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose("audit", overrides=["preset=motion"])
    names = [build_metric(m).name for m in cfg.metrics]
    assert names == ["fvd32_16f", "fvd32_16f", "consistency32_32f", "jedi32_16f", "fvmd32_16f"]
    assert cfg.metrics[1].detector == "videomae_v2" and cfg.allow_stand_in_detectors and len(cfg.distortions) == 13
