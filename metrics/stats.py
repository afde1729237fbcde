"""Feature statistics as mergeable float64 sums, and the Fréchet distance between two Gaussians.

Sums (n, Σx, ΣxxT) rather than feature lists: batches, shards and processes combine exactly by
addition (one ``all_reduce``), memory is O(d²) whatever N is, and both covariance conventions are
derivable afterwards (official StyleGAN-V: 1/N; default here: 1/(N-1)).
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

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
        x = features.detach().to(torch.float32).to(device=self.sum.device, dtype=torch.float64)
        self.n += x.shape[0]
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
        """Atomic write (temp file in the same folder, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            np.savez(tmp, **self.state_dict())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        with np.load(path) as data:
            return cls.from_state_dict({k: data[k] for k in data.files})


def _psd_sqrt(cov, lib):
    """Symmetric square root of a PSD matrix by eigh (tiny negative eigenvalues from rounding clipped to 0)."""
    w, v = lib.linalg.eigh((cov + cov.T) / 2)
    return (v * lib.sqrt(lib.clip(w, 0, None))) @ v.T


def trace_sqrt_product(cov1, cov2, *, warn_tol: float = 1e-3, device: torch.device | str | None = None) -> float:
    """tr sqrt(Σ1 Σ2) = Σ sqrt(eig(A Σ2 A)) with A = sqrt(Σ1): A Σ2 A is symmetric PSD and similar to Σ1Σ2.

    float64 throughout: numpy/LAPACK on the CPU, torch on a CUDA ``device`` (two eigh of 2048² take
    milliseconds there). Works for singular covariances (N < d). Negative eigenvalues would make
    sqrt(Σ1Σ2) complex (what ``scipy.linalg.sqrtm`` reports as an imaginary part); a warning is raised
    when they are not negligible.
    """
    if device is not None and torch.device(device).type == "cuda":
        c1 = torch.as_tensor(np.asarray(cov1), dtype=torch.float64, device=device)
        c2 = torch.as_tensor(np.asarray(cov2), dtype=torch.float64, device=device)
        a = _psd_sqrt(c1, torch)
        m = a @ c2 @ a
        eig = torch.linalg.eigvalsh((m + m.T) / 2).cpu().numpy()
    else:
        c1, c2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
        a = _psd_sqrt(c1, np)
        m = a @ c2 @ a
        eig = np.linalg.eigvalsh((m + m.T) / 2)
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


def frechet_distance(mu1, cov1, mu2, cov2, *, device: torch.device | str | None = None) -> float:
    """||μ1-μ2||² + tr(Σ1 + Σ2 - 2 sqrt(Σ1Σ2)) in float64 (numpy arrays in; linear algebra on ``device``)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, cov {cov1.shape} vs {cov2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2, device=device))


def frechet_distance_from_stats(a: FeatureStats, b: FeatureStats, *, unbiased: bool = True, device: torch.device | str | None = None) -> float:
    mu1, cov1 = a.mean_cov(unbiased=unbiased)
    mu2, cov2 = b.mean_cov(unbiased=unbiased)
    return frechet_distance(mu1, cov1, mu2, cov2, device=device)


def frechet_distance_scipy(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """The official formula (``scipy.linalg.sqrtm`` of Σ1Σ2, real part): the reference for tests and benchmarks."""
    import scipy.linalg

    s = scipy.linalg.sqrtm(np.asarray(cov1) @ np.asarray(cov2))
    if isinstance(s, tuple):  # scipy < 1.18 with disp=False returned (sqrtm, errest)
        s = s[0]
    diff = np.asarray(mu1) - np.asarray(mu2)
    return float(np.real(diff @ diff + np.trace(cov1 + cov2 - 2 * s)))
