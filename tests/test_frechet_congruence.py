"""The fast Fréchet method's CPU path: the blocked congruence is Lᵀ C L, and the caller's torch threads are restored."""

import numpy as np
import pytest
import torch

from metrics import stats


@pytest.mark.parametrize("d,block", [(7, 256), (300, 64), (513, 256)])  # one block, many, a ragged last one
def test_lower_congruence_is_the_lower_triangle_of_lt_c_l(d, block):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(2 * d, d))
    c = a.T @ a / d
    factor = np.linalg.cholesky(np.cov(rng.normal(size=(3 * d, d)), rowvar=False))
    got = stats.lower_congruence(torch.from_numpy(factor), torch.from_numpy(c), block=block).numpy()
    want = factor.T @ c @ factor
    np.testing.assert_allclose(np.tril(got), np.tril(want), rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_fixed_threads_leave_the_callers_setting_alone():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(1100, 1024)), rng.normal(0.1, 1, size=(1100, 1024))  # 1024-d: the threaded size
        stats.frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
