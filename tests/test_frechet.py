"""Fréchet distance and feature statistics: agreement with scipy's sqrtm, exact merging (processes: test_metrics)."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from metrics import stats
from metrics.stats import FeatureStats, frechet_distance, frechet_distance_scipy, trace_sqrt_product


def _features(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return np.maximum(rng.normal(size=(n, d)) @ mix + shift, 0)  # post-ReLU, correlated


def _mean_cov(x):
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("n,d", [(500, 64), (40, 64)])  # full rank, and singular (N < d)
def test_matches_scipy_sqrtm(n, d):
    m1, c1 = _mean_cov(_features(n, d, 0))
    m2, c2 = _mean_cov(_features(n, d, 1, shift=0.3))
    ours = frechet_distance(m1, c1, m2, c2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = frechet_distance_scipy(m1, c1, m2, c2)
    assert ours == pytest.approx(ref, rel=1e-6)
    # and the trace term itself equals tr sqrtm(Σ1Σ2)
    s = scipy.linalg.sqrtm(c1 @ c2)
    s = s[0] if isinstance(s, tuple) else s
    assert trace_sqrt_product(c1, c2) == pytest.approx(float(np.trace(s).real), rel=1e-6)


def test_identical_statistics_give_zero_and_distance_is_symmetric():
    m1, c1 = _mean_cov(_features(300, 32, 0))
    m2, c2 = _mean_cov(_features(300, 32, 5, shift=0.1))
    assert abs(frechet_distance(m1, c1, m1, c1)) < 1e-9
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(frechet_distance(m2, c2, m1, c1), rel=1e-9)
    assert frechet_distance(m1, c1, m2, c2) > 0.01


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_feature_stats_match_numpy_and_are_order_and_batch_invariant():
    x = _features(257, 16, 3)
    one = FeatureStats(16)
    one.update(torch.from_numpy(x))
    perm = np.random.default_rng(0).permutation(len(x))
    batched = FeatureStats(16)
    for i in range(0, len(x), 50):
        batched.update(torch.from_numpy(x[perm][i : i + 50]))
    mu, cov = one.mean_cov(unbiased=True)
    np.testing.assert_allclose(mu, x.astype(np.float32).mean(0), rtol=1e-6)
    np.testing.assert_allclose(
        cov, np.cov(x.astype(np.float32).astype(np.float64), rowvar=False), rtol=1e-7, atol=1e-12
    )
    mu_b, cov_b = batched.mean_cov(unbiased=True)
    np.testing.assert_allclose(mu_b, mu, rtol=1e-12)
    np.testing.assert_allclose(cov_b, cov, rtol=1e-9, atol=1e-14)
    # biased (official StyleGAN-V) covariance is the unbiased one times (N-1)/N
    _, cov_biased = one.mean_cov(unbiased=False)
    np.testing.assert_allclose(cov_biased, cov * (256 / 257), rtol=1e-10, atol=1e-15)


def test_cpu_sums_are_the_official_numpy_arithmetic_bit_for_bit():
    """Official FeatureStats: float32 features, then per batch x64.sum(axis=0) and x64.T @ x64 added in float64."""
    x = _features(300, 24, 7).astype(np.float32)
    stats = FeatureStats(24)
    raw_mean, raw_cov = np.zeros(24), np.zeros((24, 24))
    for i in range(0, 300, 64):
        stats.update(torch.from_numpy(x[i : i + 64]))
        x64 = x[i : i + 64].astype(np.float64)
        raw_mean += x64.sum(axis=0)
        raw_cov += x64.T @ x64
    assert np.array_equal(stats.sum.numpy(), raw_mean) and np.array_equal(stats.sum_outer.numpy(), raw_cov)
    mean = raw_mean / 300
    mu, cov = stats.mean_cov(unbiased=False)
    assert np.array_equal(mu, mean) and np.array_equal(cov, raw_cov / 300 - np.outer(mean, mean))


def test_merge_and_save_load_roundtrip(tmp_path):
    x = torch.from_numpy(_features(100, 8, 4))
    a, b, whole = FeatureStats(8), FeatureStats(8), FeatureStats(8)
    a.update(x[:30]), b.update(x[30:]), whole.update(x)
    a.merge(b)
    for k in ("n", "sum", "sum_outer"):
        torch.testing.assert_close(getattr(a, k), getattr(whole, k))
    a.save(tmp_path / "s.npz")
    back = FeatureStats.load(tmp_path / "s.npz")
    assert back.count == 100
    torch.testing.assert_close(back.sum_outer, whole.sum_outer)
    with pytest.raises(ValueError, match="expected features"):
        a.update(torch.zeros(3, 9))
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats(8).mean_cov()


def test_warns_when_sqrt_is_far_from_real():
    # Σ2 with a large negative eigenvalue is not a covariance: sqrt(Σ1Σ2) is genuinely complex.
    # The real side is factorised (Σr = F Fᵀ), so the non-covariance is put on the generated side.
    c_real = np.eye(4)
    c_gen = np.diag([1.0, 1.0, 1.0, -0.5])
    with pytest.warns(RuntimeWarning, match="imaginary"):
        frechet_distance(np.zeros(4), c_gen, np.zeros(4), c_real)


def test_numpy_and_torch_square_roots_agree():
    """The CUDA path uses torch, the CPU path numpy: the same formula."""
    from metrics.stats import _psd_sqrt

    c = np.cov(_features(50, 6, 2), rowvar=False)
    a, b = _psd_sqrt(torch.from_numpy(c), torch).numpy(), _psd_sqrt(c, np)
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(b @ b, c, atol=1e-12)


def _official_by_hand(mu_gen, cov_gen, mu_real, cov_real):
    """StyleGAN-V / StyleGAN2-ADA's lines, written out: sqrtm(Σg·Σr, disp=False), real part of the whole sum."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            s, _ = scipy.linalg.sqrtm(np.dot(cov_gen, cov_real), disp=False)
        except TypeError:  # scipy >= 1.18 removed disp (the matrix is the same)
            s = scipy.linalg.sqrtm(np.dot(cov_gen, cov_real))
    m = np.square(mu_gen - mu_real).sum()
    return float(np.real(m + np.trace(cov_gen + cov_real - s * 2)))


@pytest.mark.parametrize("n,d", [(500, 64), (40, 64), (70, 64)])  # full rank, singular, barely full rank
def test_official_mode_is_the_official_formula(n, d):
    m1, c1 = _mean_cov(_features(n, d, 0))
    m2, c2 = _mean_cov(_features(n, d, 1, shift=0.3))
    ours = frechet_distance(m1, c1, m2, c2, official=True)
    assert ours == pytest.approx(_official_by_hand(m1, c1, m2, c2), rel=1e-12, abs=0)
    # argument order matters for sqrtm's rounding: Σg·Σr, as the official code multiplies
    assert ours == frechet_distance_scipy(m1, c1, m2, c2)


def test_fast_method_equals_the_official_formula_to_1e10_on_well_conditioned_statistics():
    m1, c1 = _mean_cov(_features(2000, 96, 0))
    m2, c2 = _mean_cov(_features(2000, 96, 1, shift=0.05))
    fast, official = frechet_distance(m1, c1, m2, c2), frechet_distance(m1, c1, m2, c2, official=True)
    assert fast == pytest.approx(official, rel=1e-10, abs=0)


def test_fast_method_is_bit_identical_across_blas_thread_counts():
    from threadpoolctl import threadpool_limits

    m1, c1 = _mean_cov(_features(600, 160, 0))
    m2, c2 = _mean_cov(_features(600, 160, 1, shift=0.1))
    values = []
    for threads in (1, 2, 4):
        stats._FACTORS.clear()
        with threadpool_limits(limits=threads):
            values.append(frechet_distance(m1, c1, m2, c2))
    assert values[0] == values[1] == values[2]


def test_real_side_factorisation_is_reused_and_singular_real_side_falls_back(monkeypatch):
    stats._FACTORS.clear()
    built = []
    original = stats.RealFactor.of.__func__
    monkeypatch.setattr(
        stats.RealFactor, "of", classmethod(lambda cls, cov, device=None: built.append(1) or original(cls, cov, device))
    )
    m_r, c_r = _mean_cov(_features(400, 48, 0))
    values = [frechet_distance(*_mean_cov(_features(400, 48, seed, shift=0.1)), m_r, c_r) for seed in (1, 2, 1)]
    assert len(built) == 1 and values[0] == values[2] != values[1]
    assert frechet_distance(m_r, c_r, m_r, c_r.copy()) == pytest.approx(
        0, abs=1e-9
    )  # same content, new array: still reused
    assert len(built) == 1
    assert stats.real_factor(c_r).triangular  # Cholesky when the real covariance is positive definite
    singular = np.cov(_features(30, 48, 3), rowvar=False)  # rank 29 < 48
    assert not stats.real_factor(singular).triangular


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float64_path_matches_cpu():
    m1, c1 = _mean_cov(_features(800, 128, 0))
    m2, c2 = _mean_cov(_features(800, 128, 1, shift=0.1))
    assert frechet_distance(m1, c1, m2, c2, device="cuda") == pytest.approx(frechet_distance(m1, c1, m2, c2), rel=1e-10)
