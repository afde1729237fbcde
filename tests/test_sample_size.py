"""The sample-size study on feature sets: spread, ranking agreement, N_stable, rank deficiency, CSV and PNG."""

import csv

import numpy as np
import pytest

from metrics import sample_size
from metrics.sample_size import default_sizes, n_stable, study


def test_default_sizes_double_from_16_to_half_of_the_data():
    assert default_sizes(300) == [16, 32, 64, 128]
    assert default_sizes(32) == [16]
    with pytest.raises(ValueError, match="at least 32 samples per side"):
        default_sizes(31)


def test_study_reports_spread_ranking_and_rank_deficiency(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(128, 8))
    fakes = {f"shift{s}": rng.normal(s, 1.0, size=(128, 8)) for s in (0.5, 2.0, 4.0)}  # clearly ordered

    def spread(fake, real):  # a dict-valued metric gives one row family per key
        return {"mean_gap": float(np.abs(fake.mean() - real.mean())), "noise": float(rng.normal())}

    rows = study(real, fakes, {"fd": sample_size.fd, "spread": spread}, sizes=[4, 16, 64], repeats=4, seed=1)
    by = {(r["metric"], r["n"]): r for r in rows}
    assert {m for m, _ in by} == {"fd", "spread_mean_gap", "spread_noise"}
    assert [by["fd", n]["tau"] for n in (16, 64)] == [1.0, 1.0]  # well-separated configurations keep their order
    assert by["fd", 64]["rel_std"] < by["fd", 4]["rel_std"]  # the spread shrinks with N
    assert [by["fd", n]["rank_deficient"] for n in (4, 16, 64)] == [True, False, False]  # N <= d = 8
    assert not any(r["rank_deficient"] for r in rows if r["metric"] != "fd")
    assert by["fd", 64]["mean"]["shift0.5"] < by["fd", 64]["mean"]["shift4.0"]
    assert abs(by["spread_noise", 64]["tau"]) < 0.9  # noise does not rank anything
    stable = n_stable(rows, max_rel_std=0.5, min_tau=0.9)
    assert stable["spread_noise"] is None and stable["fd"] in (4, 16, 64)

    path = sample_size.write_csv(rows, tmp_path / "curves.csv")
    table = list(csv.DictReader(path.open()))
    assert len(table) == 9 and {"mean[shift0.5]", "rel_std", "tau", "rank_deficient"} <= set(table[0])
    assert sample_size.plot(rows, tmp_path / "curves.png").stat().st_size > 1000


def test_n_stable_is_the_smallest_n_from_which_on_every_larger_n_qualifies():
    def rows(rel, tau):
        return [{"metric": "m", "n": n, "rel_std": r, "tau": t} for n, r, t in zip((16, 32, 64, 128), rel, tau)]

    assert n_stable(rows([0.01, 0.05, 0.01, 0.01], [1, 1, 1, 1])) == {"m": 64}  # 32 breaks the run
    assert n_stable(rows([0.01, 0.01, 0.01, 0.01], [0.5, 0.95, 0.9, 1])) == {"m": 32}
    assert n_stable(rows([0.01, 0.01, 0.01, 0.03], [1, 1, 1, 1])) == {"m": None}
