"""Frame samplers: shapes, ranges, integer vs real offsets, distributions, bad parameters, config files."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import stats

from benchmarks.data import BetaPairSampler, ConsecutiveSampler, SparseRandomSampler, UniformSampler
from registry import SAMPLERS

CONF = Path(__file__).resolve().parents[1] / "benchmarks" / "conf" / "sampler"


def draws(sampler, video_length, n, continuous=False, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([sampler.sample(video_length, rng, continuous=continuous) for _ in range(n)])


def check_basic(times, sampler, video_length):
    assert times.dtype == np.float64
    assert times.shape[1] == sampler.num_frames
    assert (np.diff(times, axis=1) >= 0).all()
    assert times.min() >= 0 and times.max() <= video_length - 1


def test_registered_names_and_config_files_build():
    assert set(SAMPLERS.list()) >= {"sparse_random", "uniform", "consecutive", "beta_pair"}
    files = sorted(CONF.glob("*.yaml"))
    assert {f.stem for f in files} == {"sparse_random", "uniform", "consecutive", "beta_pair"}
    for f in files:
        sampler = SAMPLERS.build(OmegaConf.load(f))
        assert type(sampler) is type(SAMPLERS.get(f.stem)(**{}))
        check_basic(draws(sampler, 200, 20), sampler, 200)


def test_sparse_random_spans_are_uniform_powers_of_two():
    sampler = SparseRandomSampler()  # StyleGAN-V default: 3 frames, max_dist 32
    times = draws(sampler, 1000, 5000)
    check_basic(times, sampler, 1000)
    spans = (times[:, -1] - times[:, 0]).astype(int)
    counts = Counter(spans.tolist())
    assert set(counts) == {2, 4, 8, 16, 32}
    assert stats.chisquare([counts[d] for d in (2, 4, 8, 16, 32)]).pvalue > 1e-3
    assert sampler.max_span == 32 and sampler.min_video_length == 3
    # interior frame strictly inside the span, hence all three distinct
    assert ((times[:, 1] > times[:, 0]) & (times[:, 1] < times[:, 2])).all()
    # integer times for real clips; interior position uniform over 1..span-1 for span 32
    assert np.array_equal(times, np.round(times))
    interior = (times[spans == 32, 1] - times[spans == 32, 0]).astype(int)
    assert set(interior.tolist()) <= set(range(1, 32)) and len(set(interior.tolist())) > 25


def test_sparse_random_offsets_cover_the_video_and_continuous_is_real_valued():
    sampler = SparseRandomSampler()
    starts = draws(sampler, 40, 3000)[:, 0]
    assert starts.min() == 0 and draws(sampler, 40, 3000)[:, -1].max() == 39
    cont = draws(sampler, 1000, 500, continuous=True)
    check_basic(cont, sampler, 1000)
    assert (cont[:, 0] != np.round(cont[:, 0])).mean() > 0.99  # real-valued starts ...
    gaps = np.diff(cont, axis=1)
    assert np.allclose(gaps, np.round(gaps))  # ... but integer distances between frames
    assert set((cont[:, -1] - cont[:, 0]).round().astype(int).tolist()) == {2, 4, 8, 16, 32}


def test_sparse_random_short_videos_and_frame_counts():
    sampler = SparseRandomSampler()
    assert set((np.ptp(draws(sampler, 10, 500), axis=1)).astype(int).tolist()) == {2, 4, 8}
    assert set((np.ptp(draws(sampler, 3, 50), axis=1)).astype(int).tolist()) == {2}
    with pytest.raises(ValueError, match="at least 3 frames, got a video of 2"):
        sampler.sample(2, np.random.default_rng(0))
    two = SparseRandomSampler(num_frames=2, max_dist=8)
    assert set(np.ptp(draws(two, 100, 500), axis=1).astype(int).tolist()) == {1, 2, 4, 8}
    assert two.min_video_length == 2
    five = SparseRandomSampler(num_frames=5)
    t = draws(five, 100, 300)
    assert set(np.ptp(t, axis=1).astype(int).tolist()) == {4, 8, 16, 32}
    assert (np.diff(t, axis=1) > 0).all() and five.min_video_length == 5
    one = SparseRandomSampler(num_frames=1)
    assert draws(one, 7, 50).shape == (50, 1) and one.min_video_length == 1


def test_sparse_random_bad_parameters():
    with pytest.raises(ValueError, match="max_dist=2 is smaller than num_frames - 1 = 3"):
        SparseRandomSampler(num_frames=4, max_dist=2)
    with pytest.raises(ValueError, match="no power of two"):
        SparseRandomSampler(num_frames=4, max_dist=3)
    with pytest.raises(ValueError, match="num_frames"):
        SparseRandomSampler(num_frames=0)


def test_sampling_is_reproducible_per_rng():
    for sampler in (SparseRandomSampler(), UniformSampler(gap=[1, 2]), ConsecutiveSampler(), BetaPairSampler()):
        a, b = draws(sampler, 300, 20, seed=5), draws(sampler, 300, 20, seed=5)
        assert np.array_equal(a, b) and not np.array_equal(a, draws(sampler, 300, 20, seed=6))


def test_uniform_fixed_gap_and_gap_list():
    sampler = UniformSampler(num_frames=4, gap=3)
    t = draws(sampler, 50, 500)
    check_basic(t, sampler, 50)
    assert (np.diff(t, axis=1) == 3).all() and sampler.min_video_length == 10 and sampler.max_span == 9
    assert t[:, 0].min() == 0 and t[:, -1].max() == 49
    multi = UniformSampler(num_frames=2, gap=[1, 2, 4, 8, 16, 32])
    counts = Counter(np.diff(draws(multi, 1000, 3000), axis=1)[:, 0].astype(int).tolist())
    assert set(counts) == {1, 2, 4, 8, 16, 32} and min(counts.values()) > 400
    # on a short video only the gaps that fit are drawn
    assert set(np.diff(draws(multi, 5, 300), axis=1)[:, 0].astype(int).tolist()) == {1, 2, 4}
    cont = draws(multi, 100, 200, continuous=True)
    assert (cont[:, 0] != np.round(cont[:, 0])).mean() > 0.95 and cont.max() <= 99
    with pytest.raises(ValueError, match="gap must be a positive integer"):
        UniformSampler(gap=0)
    with pytest.raises(ValueError, match="gap must be"):
        UniformSampler(gap=[])
    with pytest.raises(ValueError, match="at least 10 frames"):
        sampler.sample(9, np.random.default_rng(0))


def test_consecutive():
    sampler = ConsecutiveSampler(num_frames=16)
    t = draws(sampler, 16, 20)
    assert (t == np.arange(16)).all() and sampler.min_video_length == 16
    t = draws(sampler, 64, 300)
    check_basic(t, sampler, 64)
    assert (np.diff(t, axis=1) == 1).all() and t[:, 0].max() == 48
    with pytest.raises(ValueError, match="needs videos of at least 16"):
        sampler.sample(15, np.random.default_rng(0))


def test_beta_pair_distribution_and_integrality():
    sampler = BetaPairSampler(window=16)
    assert sampler.num_frames == 2 and sampler.min_video_length == 16
    t = draws(sampler, 16, 5000)  # window == video: offset 0
    check_basic(t, sampler, 16)
    assert np.array_equal(t, np.round(t)) and (t[:, 0] < t[:, 1]).all()
    cont = draws(sampler, 16, 5000, continuous=True)
    check_basic(cont, sampler, 16)
    # sorted(Beta(2,1), Beta(1,2)): E[max] = 0.7, E[min] = 0.3 (over window - 1 = 15 frames)
    assert abs(cont[:, 1].mean() - 0.7 * 15) < 0.25 and abs(cont[:, 0].mean() - 0.3 * 15) < 0.25
    long = draws(sampler, 200, 2000, continuous=True)
    assert np.ptp(long, axis=1).max() <= 15 and long[:, 0].max() > 150  # random window offset
    with pytest.raises(ValueError, match="window must be an integer >= 2"):
        BetaPairSampler(window=1)
    with pytest.raises(ValueError, match="at least 16 frames"):
        sampler.sample(10, np.random.default_rng(0))
