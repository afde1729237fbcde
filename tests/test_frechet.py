"""Fréchet distance and feature statistics: agreement with scipy's sqrtm, exact merging (processes: test_metrics)."""
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

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
    np.testing.assert_allclose(cov, np.cov(x.astype(np.float32).astype(np.float64), rowvar=False), rtol=1e-7, atol=1e-12)
    mu_b, cov_b = batched.mean_cov(unbiased=True)
    np.testing.assert_allclose(mu_b, mu, rtol=1e-12)
    np.testing.assert_allclose(cov_b, cov, rtol=1e-9, atol=1e-14)
    # biased (official StyleGAN-V) covariance is the unbiased one times (N-1)/N
    _, cov_biased = one.mean_cov(unbiased=False)
    np.testing.assert_allclose(cov_biased, cov * (256 / 257), rtol=1e-10, atol=1e-15)


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
    c1 = np.eye(4)
    c2 = np.diag([1.0, 1.0, 1.0, -0.5])
    with pytest.warns(RuntimeWarning, match="imaginary"):
        frechet_distance(np.zeros(4), c1, np.zeros(4), c2)


def test_numpy_and_torch_square_roots_agree():
    """The CUDA path uses torch, the CPU path numpy: the same formula."""
    from metrics.stats import _psd_sqrt

    c = np.cov(_features(50, 6, 2), rowvar=False)
    a, b = _psd_sqrt(torch.from_numpy(c), torch).numpy(), _psd_sqrt(c, np)
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(b @ b, c, atol=1e-12)
