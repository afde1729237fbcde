"""The Fréchet distance as each published implementation computes it from two feature matrices ``[N, d]``.

* ``stylegan_v``: StyleGAN-V's ``FeatureStats`` (float32 features summed in float64), covariance 1/N,
  ``scipy.linalg.sqrtm(Σfake Σreal)``, real part of the whole sum (``metrics.stats``, official mode).
* ``cdfvd``: cd-fvd's ``compute_fvd_from_stats``: the same sums and 1/N covariance, but ``sqrtm(Σreal Σfake)``
  and ``(μreal - μfake)²`` (the product in the other order: same eigenvalues, other rounding).
* ``numpy_cov_sqrtm``: common_metrics ``styleganv``: features stacked as float64, ``np.cov`` (1/(N-1)),
  ``sqrtm(Σfake Σreal)``; a single video gives the mean term alone.
* ``tfgan_float32``: TATS / DIGAN / VideoGPT / common_metrics ``videogpt``: torch in the logits' dtype (float32),
  covariance 1/(N-1) of centred features, TF-GAN's ``trace_sqrt_product`` with SVD square roots (singular values
  below 1e-10 kept as they are).
* ``tfgan_float64``: the original TF FVD (``tfgan.eval.frechet_classifier_distance_from_activations``):
  activations cast to float64, 1/(N-1) covariance, the same SVD ``trace_sqrt_product``.

scipy 1.18 removed ``sqrtm``'s ``disp`` argument that StyleGAN-V, cd-fvd and common_metrics pass
(``metrics.stats.frechet_distance_scipy`` accepts both return forms).

Every estimator runs on a fixed number of BLAS / torch threads (``metrics.stats.blas_threads``: one below 1024-d):
on a loaded machine a 400-d SVD or ``sqrtm`` on two contended threads took 4-6 s instead of 0.1-0.3 s.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..stats import FeatureStats, blas_threads, frechet_distance_from_stats, frechet_distance_scipy


@contextlib.contextmanager
def fixed_threads(dim: int):
    """BLAS (numpy/scipy) and torch intra-op threads limited to ``blas_threads(dim)`` for the block."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    n = blas_threads(dim)
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)


def _stats(features: torch.Tensor) -> FeatureStats:
    stats = FeatureStats(features.shape[1])
    stats.update(features)
    return stats


def stylegan_v(fake: torch.Tensor, real: torch.Tensor) -> float:
    return frechet_distance_from_stats(_stats(fake), _stats(real), unbiased=False, official=True)


def cdfvd(fake: torch.Tensor, real: torch.Tensor) -> float:
    mu_fake, cov_fake = _stats(fake).mean_cov(unbiased=False)
    mu_real, cov_real = _stats(real).mean_cov(unbiased=False)
    return frechet_distance_scipy(mu_real, cov_real, mu_fake, cov_fake)  # cd-fvd's argument order


def numpy_cov_sqrtm(fake: torch.Tensor, real: torch.Tensor) -> float:
    f64 = fake.float().cpu().numpy().astype(np.float64)
    r64 = real.float().cpu().numpy().astype(np.float64)
    if f64.shape[0] < 2:
        return float(np.square(f64.mean(axis=0) - r64.mean(axis=0)).sum())
    return frechet_distance_scipy(
        f64.mean(axis=0), np.cov(f64, rowvar=False), r64.mean(axis=0), np.cov(r64, rowvar=False)
    )


def _symmetric_sqrt(mat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """TF-GAN's ``_symmetric_matrix_square_root``: U diag(sqrt s) Vᵀ, singular values below ``eps`` not rooted."""
    u, s, vh = torch.linalg.svd(mat, full_matrices=False)
    root = torch.where(s < eps, s, torch.sqrt(s))
    return (u * root) @ vh


def _centred_cov(x: torch.Tensor) -> torch.Tensor:
    """1/(N-1) covariance ``[d, d]`` of ``x [N, d]``, in ``x``'s dtype, as the TATS ``cov(m, rowvar=False)``."""
    m = x.T  # [d, N]
    centred = m - m.mean(dim=1, keepdim=True)
    return (1.0 / (m.shape[1] - 1)) * (centred @ centred.T)


def tfgan(fake: torch.Tensor, real: torch.Tensor, dtype: torch.dtype = torch.float32) -> float:
    x1, x2 = fake.flatten(1).to(dtype), real.flatten(1).to(dtype)
    mean = torch.sum((x1.mean(dim=0) - x2.mean(dim=0)) ** 2)
    if x1.shape[0] < 2:  # common_metrics' guard; TATS/DIGAN would fail on one video
        return float(mean)
    sigma, sigma_w = _centred_cov(x1), _centred_cov(x2)
    root = _symmetric_sqrt(sigma)
    trace_sqrt = torch.trace(_symmetric_sqrt(root @ (sigma_w @ root)))
    return float(torch.trace(sigma + sigma_w) - 2.0 * trace_sqrt + mean)


def tfgan_float32(fake: torch.Tensor, real: torch.Tensor) -> float:
    return tfgan(fake, real, torch.float32)


def tfgan_float64(fake: torch.Tensor, real: torch.Tensor) -> float:
    return tfgan(fake, real, torch.float64)


ESTIMATORS = {
    "stylegan_v": stylegan_v,
    "cdfvd": cdfvd,
    "numpy_cov_sqrtm": numpy_cov_sqrtm,
    "tfgan_float32": tfgan_float32,
    "tfgan_float64": tfgan_float64,
}

DESCRIPTIONS = {
    "stylegan_v": "float64 sums, cov 1/N, scipy sqrtm(Σf·Σr)",
    "cdfvd": "float64 sums, cov 1/N, scipy sqrtm(Σr·Σf)",
    "numpy_cov_sqrtm": "float64 np.cov 1/(N-1), scipy sqrtm(Σf·Σr)",
    "tfgan_float32": "float32 torch, cov 1/(N-1), TF-GAN SVD trace-sqrt-product",
    "tfgan_float64": "float64, cov 1/(N-1), TF-GAN SVD trace-sqrt-product",
}


def estimate(name: str, fake: torch.Tensor, real: torch.Tensor) -> float:
    try:
        fn = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}") from None
    with fixed_threads(fake.shape[-1]):
        return fn(fake, real)
