"""Feature statistics as mergeable float64 sums, and the Fréchet distance between two Gaussians.

Sums (n, Σx, ΣxxT) rather than feature lists: batches, shards and processes combine exactly by
addition (one ``all_reduce``), memory is O(d²) whatever N is, and both covariance conventions are
derivable afterwards (official StyleGAN-V: 1/N; default here: 1/(N-1)).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import hashlib
import os
import threading
import warnings
from typing import Any

import numpy as np
import torch

from registry.files import atomic_open

from .distributed import all_reduce_


class FeatureStats:
    """Running float64 sums of feature vectors ``[N, d]``."""

    def __init__(self, dim: int, device: torch.device | str = "cpu"):
        self.dim = int(dim)
        self.n = torch.zeros((), dtype=torch.float64, device=device)
        self.sum = torch.zeros(self.dim, dtype=torch.float64, device=device)
        self.sum_outer = torch.zeros(self.dim, self.dim, dtype=torch.float64, device=device)

    def update(self, features: torch.Tensor) -> None:
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"expected features [N, {self.dim}], got {tuple(features.shape)}")
        # Official code casts detector outputs to float32 first, then accumulates in float64.
        x = features.detach().to(torch.float32)
        self.n += x.shape[0]
        if self.sum.device.type == "cpu":
            # On the CPU the very operations of the official FeatureStats (numpy pairwise sum, numpy/BLAS
            # x64.T @ x64 per batch): same batches give bit-identical sums, so official-mode distances
            # differ from the official ones only by what the detector computed.
            x64 = x.cpu().numpy().astype(np.float64)
            self.sum += torch.from_numpy(x64.sum(axis=0))
            self.sum_outer += torch.from_numpy(x64.T @ x64)
            return
        x = x.to(device=self.sum.device, dtype=torch.float64)
        self.sum += x.sum(0)
        self.sum_outer += x.T @ x

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dimension {other.dim} into {self.dim}")
        self.n += other.n.to(self.n.device)
        self.sum += other.sum.to(self.sum.device)
        self.sum_outer += other.sum_outer.to(self.sum_outer.device)
        return self

    def all_reduce(self) -> "FeatureStats":
        """Sum over processes when torch.distributed is initialised (no-op otherwise)."""
        summed = all_reduce_({"n": self.n, "sum": self.sum, "sum_outer": self.sum_outer})
        self.n, self.sum, self.sum_outer = summed["n"], summed["sum"], summed["sum_outer"]
        return self

    @property
    def count(self) -> int:
        return int(round(float(self.n)))

    def mean_cov(self, *, unbiased: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``[d]`` and covariance ``[d, d]`` as float64 numpy; ``unbiased`` divides by N-1, else N."""
        n = self.count
        if n < 2:
            raise ValueError(f"need at least 2 feature vectors for a covariance, have {n}")
        mu = (self.sum / n).cpu().numpy()
        second = (self.sum_outer / n).cpu().numpy()
        cov = second - np.outer(mu, mu)
        if unbiased:
            cov *= n / (n - 1)
        return mu, cov

    # -------------------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, np.ndarray]:
        return {"n": self.n.cpu().numpy(), "sum": self.sum.cpu().numpy(), "sum_outer": self.sum_outer.cpu().numpy()}

    @classmethod
    def from_state_dict(cls, state: dict[str, np.ndarray]) -> "FeatureStats":
        stats = cls(dim=int(state["sum"].shape[0]))
        stats.n = torch.as_tensor(np.asarray(state["n"], dtype=np.float64))
        stats.sum = torch.as_tensor(np.asarray(state["sum"], dtype=np.float64))
        stats.sum_outer = torch.as_tensor(np.asarray(state["sum_outer"], dtype=np.float64))
        return stats

    def save(self, path: str | os.PathLike) -> None:
        """Atomic write (``registry.files.atomic_open``)."""
        with atomic_open(path) as handle:
            np.savez(handle, **self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        with np.load(path) as data:
            return cls.from_state_dict({k: data[k] for k in data.files})


# ------------------------------------------------------------------------------------ Fréchet distance
#
# Two methods, both float64:
#   * official: ``np.real(||μg-μr||² + tr(Σg + Σr - 2·sqrtm(Σg·Σr)))`` with ``scipy.linalg.sqrtm``,
#     exactly StyleGAN-V / StyleGAN2-ADA (their ``disp=False`` only adds an error estimate; the matrix is
#     the same; no imaginary-part check, the real part of the whole expression is taken).
#   * fast (default): tr sqrt(Σg·Σr) = Σ sqrt(eig(Fᵀ Σg F)) with Σr = F Fᵀ. FᵀΣgF is symmetric PSD and
#     similar to Σg·Σr, so only eigenvalues are needed (no Schur form, no eigenvectors). F is Σr's
#     Cholesky factor (triangular products), or its symmetric PSD square root when Σr is singular or
#     too badly conditioned to factor (N <= d). F depends on the real side alone and is kept per
#     content (``_FACTORS``), so every evaluation of a training run against the same real statistics
#     skips it. Per evaluation on the CPU: the lower triangle of Fᵀ Σg F in column blocks of GEMMs that skip F's
#     zero blocks (~1.4 d³ flops instead of two full products' 4 d³) and the eigenvalues of that triangle, both
#     through torch (MKL on x86 builds: its tridiagonal reduction is 1.5-3x faster than OpenBLAS's here).
#     The LAPACK/BLAS calls run on a FIXED number of threads (``blas_threads``):
#     bit-identical results whatever thread setting the caller has (thread counts change the rounding,
#     which the cancellation in tr(Σg+Σr) - 2 tr sqrt(..) amplifies to ~1e-6 relative), and little
#     loss under contention. Accuracy: equal to the official formula within 1e-10 relative on well-conditioned
#     statistics (tests/test_frechet.py; benchmarks/speed/RESULTS.md); with badly conditioned ones (N close to
#     d) the fast method is the more accurate of the two (symmetric eigenproblem, backward stable).

_FACTORS: "collections.OrderedDict[tuple, RealFactor]" = collections.OrderedDict()
_MAX_FACTORS = 4


# A fixed BLAS thread count for the fast method, whatever the caller set: results never depend on OMP/OpenBLAS
# settings, torch.set_num_threads or threadpoolctl (they do on one machine otherwise). It depends only on the
# machine (which fixes the BLAS kernels anyway) and the dimension: one thread below 1024-d (thread start-up
# costs more than it gains), else every core up to 4. On an idle 2-core machine two threads take 0.54 s at
# 2048-d against one thread's 0.70 s (0.042x vs 0.055x of sqrtm); on one loaded by other work (load 7+) they lose
# (benchmarks/speed/RESULTS.md): the evaluation is the job here, so the idle case decides.
FRECHET_BLAS_THREADS = min(4, max(1, os.cpu_count() or 1))


def blas_threads(dim: int) -> int:
    return 1 if dim < 1024 else FRECHET_BLAS_THREADS


_CONTROLLER = []
_TORCH_THREADS = threading.Lock()
PRODUCT_BLOCK = 256  # columns per GEMM of the triangular congruence (fewer: more skipped zeros, smaller GEMMs)


@contextlib.contextmanager
def _fixed_torch_threads(dim: int):
    """torch's intra-op threads (its MKL/OpenMP) set to ``blas_threads(dim)`` for the block, then restored."""
    with _TORCH_THREADS:
        previous = torch.get_num_threads()
        torch.set_num_threads(blas_threads(dim))
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def lower_congruence(factor: torch.Tensor, cov: torch.Tensor, block: int = PRODUCT_BLOCK) -> torch.Tensor:
    """The lower triangle of Lᵀ C L for lower-triangular L ``[d, d]`` and symmetric C ``[d, d]`` (upper part
    unspecified): X = C L by column blocks X[:, J] = C[:, j:] L[j:, J] (L[:j, J] = 0), then row blocks of the lower
    triangle M[J, :j+b] = L[j:, J]ᵀ X[j:, :j+b]. ~1.4 d³ flops at GEMM speed (two full products: 4 d³)."""
    d = factor.shape[0]
    x = torch.empty_like(cov)
    for j in range(0, d, block):
        x[:, j : j + block] = cov[:, j:] @ factor[j:, j : j + block]
    m = torch.empty_like(cov)
    for j in range(0, d, block):
        m[j : j + block, : j + block] = factor[j:, j : j + block].T @ x[j:, : j + block]
    return m


@contextlib.contextmanager
def _fixed_blas_threads(dim: int):
    """BLAS limited to ``blas_threads(dim)`` (one cached controller: finding the libraries takes ~50 ms)."""
    if not _CONTROLLER:
        import scipy.linalg  # noqa: F401 - load scipy's BLAS before the controller lists the libraries
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=blas_threads(dim), user_api="blas"):
        yield


def _psd_sqrt(cov, lib):
    """Symmetric square root of a PSD matrix by eigh (tiny negative eigenvalues from rounding clipped to 0)."""
    w, v = lib.linalg.eigh((cov + cov.T) / 2)
    return (v * lib.sqrt(lib.clip(w, 0, None))) @ v.T


def _cholesky_or_none(cov, lib):
    """Lower Cholesky factor, or None when ``cov`` is singular or too close to it for a stable factor."""
    if lib is torch:
        factor, info = torch.linalg.cholesky_ex(cov)
        if int(info) != 0:
            return None
        pivots, scale = torch.diagonal(factor) ** 2, torch.diagonal(cov).max()
    else:
        try:
            factor = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            return None
        pivots, scale = np.diag(factor) ** 2, np.diag(cov).max()
    # A pivot at rounding level means a (numerically) rank-deficient matrix: its Cholesky factor is noise.
    return factor if float(pivots.min()) > cov.shape[0] * np.finfo(np.float64).eps * float(scale) else None


@dataclasses.dataclass
class RealFactor:
    """Σr = F Fᵀ on one device: ``F`` lower-triangular (Cholesky) or symmetric (PSD square root)."""

    factor: Any
    triangular: bool
    _cpu: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, cov, device: torch.device | str | None = None) -> "RealFactor":
        if _on_cuda(device):
            c = torch.as_tensor(np.asarray(cov, np.float64), device=device)
            chol = _cholesky_or_none(c, torch)
            return cls(chol, True) if chol is not None else cls(_psd_sqrt(c, torch), False)
        c = np.asarray(cov, np.float64)
        with _fixed_blas_threads(c.shape[0]):
            chol = _cholesky_or_none(c, np)
            return cls(chol, True) if chol is not None else cls(_psd_sqrt(c, np), False)

    def eigenvalues(self, cov_gen) -> np.ndarray:
        """Eigenvalues of Fᵀ Σg F (= those of Σg Σr), float64 numpy."""
        f = self.factor
        if isinstance(f, torch.Tensor):
            c = torch.as_tensor(np.asarray(cov_gen, np.float64), device=f.device)
            m = f.T @ c @ f
            return torch.linalg.eigvalsh((m + m.T) / 2).cpu().numpy()
        if self._cpu is None:  # torch's own (aligned) copy, made once per real side
            self._cpu = torch.tensor(f, dtype=torch.float64)
        c = torch.tensor(np.asarray(cov_gen, np.float64), dtype=torch.float64)  # a copy: torch-aligned, row-major
        with _fixed_torch_threads(c.shape[0]):
            if self.triangular:
                m = lower_congruence(self._cpu, c)  # lower triangle of Lᵀ Σg L
            else:
                m = self._cpu @ c @ self._cpu
            return torch.linalg.eigvalsh(m, UPLO="L").numpy()


def _on_cuda(device) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def real_factor(cov_real, device: torch.device | str | None = None) -> RealFactor:
    """The factorisation of ``cov_real``, computed once per content and device (small LRU)."""
    c = np.ascontiguousarray(cov_real, np.float64)
    key = (
        hashlib.blake2b(c.tobytes(), digest_size=16).hexdigest(),
        c.shape,
        str(torch.device(device)) if _on_cuda(device) else "cpu",
    )
    if key in _FACTORS:
        _FACTORS.move_to_end(key)
        return _FACTORS[key]
    factor = _FACTORS[key] = RealFactor.of(c, device)
    while len(_FACTORS) > _MAX_FACTORS:
        _FACTORS.popitem(last=False)
    return factor


def trace_sqrt_product(cov_gen, cov_real, *, warn_tol: float = 1e-3, device: torch.device | str | None = None) -> float:
    """tr sqrt(Σg Σr) by the fast method (see above); ``cov_real``'s factorisation is reused across calls.

    Negative eigenvalues would make sqrt(Σg Σr) complex (what ``scipy.linalg.sqrtm`` reports as an
    imaginary part); they are dropped, with a warning when they are not negligible.
    """
    eig = real_factor(cov_real, device).eigenvalues(cov_gen)
    pos = float(np.sqrt(np.clip(eig, 0, None)).sum())
    imag = float(np.sqrt(np.clip(-eig, 0, None)).sum())
    if imag > warn_tol * max(pos, 1e-12):
        warnings.warn(
            f"Fréchet distance: sqrt(Σ1Σ2) has a non-negligible imaginary part ({imag:.3g} vs real {pos:.3g}); "
            "the covariances are badly conditioned (too few samples?). The real part is used.",
            RuntimeWarning,
            stacklevel=2,
        )
    return pos


def _check_shapes(mu1, cov1, mu2, cov2) -> None:
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, cov {cov1.shape} vs {cov2.shape}")


def frechet_distance(
    mu_gen, cov_gen, mu_real, cov_real, *, device: torch.device | str | None = None, official: bool = False
) -> float:
    """||μg-μr||² + tr(Σg + Σr - 2 sqrt(Σg Σr)) in float64 (numpy arrays in; fast method's algebra on ``device``).

    ``official=True``: the official scipy formula (on the CPU), for numbers equal to StyleGAN-V's.
    """
    mu1, mu2 = np.asarray(mu_gen, np.float64), np.asarray(mu_real, np.float64)
    cov1, cov2 = np.asarray(cov_gen, np.float64), np.asarray(cov_real, np.float64)
    _check_shapes(mu1, cov1, mu2, cov2)
    if official:
        return frechet_distance_scipy(mu1, cov1, mu2, cov2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2, device=device))


def frechet_distance_from_stats(
    gen: FeatureStats,
    real: FeatureStats,
    *,
    unbiased: bool = True,
    device: torch.device | str | None = None,
    official: bool = False,
) -> float:
    mu1, cov1 = gen.mean_cov(unbiased=unbiased)
    mu2, cov2 = real.mean_cov(unbiased=unbiased)
    sink = _RANK_SINK.get()
    if sink is not None:
        sink.append(covariance_rank_report(cov1, gen.count, cov2, real.count, device=device))
    return frechet_distance(mu1, cov1, mu2, cov2, device=device, official=official)


# ------------------------------------------------------------------------------------ rank deficiency
#
# A covariance of N samples in d dimensions has rank <= N - 1: at N <= d it is singular, whatever the data. The
# Fréchet distance is still defined (both matrices are PSD, sqrt(Σg Σr) has real non-negative eigenvalues), but it
# then compares Gaussians fitted on at most N - 1 directions: the d - rank missing directions of one side count
# fully in the other side's trace, so the value is biased upward, grows as N falls and is not comparable with the
# full-rank number. ``frechet_distance_from_stats`` reports the ranks to whoever listens (``recording_ranks``:
# ``metrics.evaluate`` puts them in the record's ``covariance_rank``), and warns once per call when one is short.

RANK_NOTE = (
    "rank-deficient covariance (rank < d): the Fréchet distance then compares Gaussians on a degenerate subspace; "
    "it is biased upward, grows as N falls and is not comparable with full-rank values (use N > d samples per side)"
)
_RANK_SINK: contextvars.ContextVar[list | None] = contextvars.ContextVar("sgvb_frechet_ranks", default=None)


@contextlib.contextmanager
def recording_ranks():
    """Collect a ``covariance_rank_report`` of every ``frechet_distance_from_stats`` inside the block (a list)."""
    reports: list[dict[str, Any]] = []
    token = _RANK_SINK.set(reports)
    try:
        yield reports
    finally:
        _RANK_SINK.reset(token)


def numerical_rank(cov, count: int | None = None) -> int:
    """Rank of a PSD matrix ``[d, d]`` of ``count`` samples: d when it has a stable Cholesky factor, else the number
    of eigenvalues above d·eps·max (the eigenvalue problem only for singular ones; N <= d is singular by
    construction)."""
    c = np.asarray(cov, np.float64)
    d = c.shape[0]
    if (count is None or count > d) and _cholesky_or_none(c, np) is not None:
        return d
    w = np.linalg.eigvalsh((c + c.T) / 2)
    return int((w > d * np.finfo(np.float64).eps * max(float(w.max()), 1e-300)).sum())


def covariance_rank_report(cov_gen, n_gen: int, cov_real, n_real: int, *, device=None) -> dict[str, Any]:
    """{"dim", "fake", "real" (numerical ranks), "rank_deficient", and "note" when deficient}; warns when deficient."""
    d = int(np.shape(cov_gen)[0])
    factor = real_factor(cov_real, device)  # cached: the distance needs it anyway
    rank_real = d if factor.triangular and n_real > d else numerical_rank(cov_real, n_real)
    report = {"dim": d, "fake": numerical_rank(cov_gen, n_gen), "real": rank_real}
    report["rank_deficient"] = min(report["fake"], report["real"]) < d
    if report["rank_deficient"]:
        report["note"] = RANK_NOTE
        warnings.warn(
            f"Fréchet distance: covariance ranks fake {report['fake']} / real {report['real']} < d = {d} "
            f"({n_gen} fake, {n_real} real samples): {RANK_NOTE}",
            RuntimeWarning,
            stacklevel=3,
        )
    return report


_MOMENTS: "collections.OrderedDict[str, tuple[np.ndarray, np.ndarray]]" = collections.OrderedDict()


def _real_moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 1/(N−1) covariance of ``rows``, kept per content (small LRU): a study compares every configuration
    with the same real draw."""
    key = hashlib.blake2b(np.ascontiguousarray(rows).tobytes(), digest_size=16).hexdigest()
    if key not in _MOMENTS:
        _MOMENTS[key] = (rows.mean(0), np.cov(rows, rowvar=False))
        while len(_MOMENTS) > 2:
            _MOMENTS.popitem(last=False)
    _MOMENTS.move_to_end(key)
    return _MOMENTS[key]


def frechet_distance_features(fake, real) -> float:
    """The Fréchet distance (1/(N−1) covariances) straight from two feature sets ``[m, d]`` and ``[n, d]``, without
    forming a d×d matrix when either side has fewer rows than d.

    With centred rows X, Y: Σg Σr = XᵀX YᵀY / ((m−1)(n−1)) has the non-zero eigenvalues of (X Yᵀ)(X Yᵀ)ᵀ, so
    tr sqrt(Σg Σr) = Σ σ_i(X Yᵀ) / sqrt((m−1)(n−1)): one m×n product and the singular values of a small matrix,
    O(m n d + min(m, n)³) instead of O(d³). Exact at any rank (the sample-size study's small N); with more rows than
    d on both sides the covariance route (``frechet_distance``, real side's factor cached) is used.
    """
    x, y = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(x.shape[0], y.shape[0]) < 2:
        raise ValueError(
            f"Fréchet distance of features needs two [N >= 2, d] sets of one width, got {x.shape}, {y.shape}"
        )
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    mu_x, mu_y = x.mean(0), y.mean(0)
    if min(m, n) > d:  # the real side's moments (and, in frechet_distance, its factor) made once per content
        mu_r, cov_r = _real_moments(y)
        return frechet_distance(mu_x, np.cov(x, rowvar=False), mu_r, cov_r)
    xc, yc = x - mu_x, y - mu_y
    singular = np.linalg.svd(xc @ yc.T, compute_uv=False)
    cross = float(singular.sum()) / np.sqrt((m - 1) * (n - 1))
    traces = float((xc * xc).sum()) / (m - 1) + float((yc * yc).sum()) / (n - 1)
    diff = mu_x - mu_y
    return float(diff @ diff + traces - 2.0 * cross)


def frechet_distance_scipy(mu_gen: np.ndarray, cov_gen: np.ndarray, mu_real: np.ndarray, cov_real: np.ndarray) -> float:
    """The official formula, operation for operation: ``sqrtm(Σg·Σr)``, then the real part of the whole sum."""
    import scipy.linalg

    mu_gen, mu_real = np.asarray(mu_gen, np.float64), np.asarray(mu_real, np.float64)
    cov_gen, cov_real = np.asarray(cov_gen, np.float64), np.asarray(cov_real, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # the official code passes disp=False: no message
        s = scipy.linalg.sqrtm(np.dot(cov_gen, cov_real))
    if isinstance(s, tuple):  # scipy < 1.18 with disp=False returned (sqrtm, errest)
        s = s[0]
    m = np.square(mu_gen - mu_real).sum()
    return float(np.real(m + np.trace(cov_gen + cov_real - s * 2)))
