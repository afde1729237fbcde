"""Shareable real-side statistics: one file per (dataset, metric protocol), usable without the dataset.

``sgvb stats`` writes a ``.npz`` holding the float64 sums (``n``, ``sum``, ``sum_outer``: both covariance
conventions stay derivable), the real-side protocol (``real_side_protocol``: metric, version, counts,
frames, offset rule, detector weights, resolution, seed), the dataset's content fingerprint and its
resolution. ``sgvb eval real_stats=<file>`` passes a ``ReferenceStats`` as ``real``: the metric uses the
sums only when the file's protocol equals the one it would use, and names every differing field.

cd-fvd's published statistics (``{model}_{dataset}_{n_real}_res{res}_len{len}_skip{skip}_seed0.pkl``,
a pickled ``FeatureStats.__dict__`` with ``num_items``, ``raw_mean`` = Σx and ``raw_cov`` = ΣxxT in
float64) are read by ``load_cdfvd_pickle`` with a restricted unpickler (numpy arrays and plain values
only); their protocol is taken from the file name (random clip per video, shorter-side resize and
centre crop to ``res``, TATS-style I3D or VideoMAE-v2 features), so they match only metrics that use the
same backbone, frame count and resolution.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from registry.files import atomic_open

FORMAT = "sgvb-real-stats"
FORMAT_VERSION = 1
# fields compared between a reference file and an evaluation (seed: the file's own draw is used as is)
COMPARED = (
    "metric",
    "protocol_version",
    "definition",
    "offset_rule",
    "detector",
    "detector_identity",
    "detector_resolution",
    "stand_in",
    "resolution",
)
# cd-fvd model name -> our detector name with the same backbone and preprocessing
CDFVD_DETECTORS = {"i3d": "i3d_videogpt", "videomae": "videomae_v2"}
CDFVD_NAME = re.compile(
    r"(?P<model>[a-z0-9]+)_(?P<dataset>.+)_(?P<n>full|\d+)_res(?P<res>\d+)_len(?P<len>\d+)_skip(?P<skip>\d+)_seed(?P<seed>\d+)\.pkl"
)


class ReferenceMismatchError(ValueError):
    """A reference statistics file was made with another protocol than the evaluation's."""


class ReferenceStats:
    """Real-side statistics loaded from a file; stands in for the real dataset in ``metrics.evaluate``."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        protocol: dict[str, Any],
        *,
        fingerprint: str,
        resolution: int,
        path: str = "<memory>",
        counts: dict | None = None,
    ):
        self.arrays, self.protocol, self._fingerprint = arrays, protocol, fingerprint
        self.resolution, self.path, self.counts = int(resolution), str(path), counts or {}

    def fingerprint(self) -> str:
        return self._fingerprint

    def arrays_for(self, expected: dict[str, Any]) -> dict[str, np.ndarray]:
        """The sums, if the file's protocol equals ``expected`` on every compared field; else one error naming them."""
        mine, theirs = self.protocol, {k: expected.get(k) for k in COMPARED}
        if (
            self.protocol.get("source") == "cd-fvd"
        ):  # their file says backbone, frames, stride and resolution; nothing else is comparable
            definition = expected.get("definition") or {}
            mine = {**self.protocol, "stand_in": False}
            theirs = {
                "detector": expected.get("detector"),
                "frames": definition.get("num_frames"),
                "subsample": definition.get("subsample"),
                "resolution": expected.get("resolution"),
                "stand_in": expected.get("stand_in"),
            }
        diffs = [
            f"{k}: file {mine.get(k)!r} vs evaluation {v!r}"
            for k, v in theirs.items()
            if _norm(mine.get(k)) != _norm(v)
        ]
        if diffs:
            raise ReferenceMismatchError(
                f"real_stats '{self.path}' was made with another protocol; differing fields: " + "; ".join(diffs)
            )
        return self.arrays

    def save(self, path: str | os.PathLike) -> Path:
        """Atomic write of a ``.npz`` (``registry.files.atomic_open``)."""
        path = Path(path)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "protocol": self.protocol,
            "fingerprint": self._fingerprint,
            "resolution": self.resolution,
            "counts": self.counts,
        }
        with atomic_open(path) as handle:
            np.savez(handle, _meta=np.asarray(json.dumps(meta, sort_keys=True, default=str)), **self.arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ReferenceStats":
        """An ``sgvb stats`` file (``.npz``) or a cd-fvd statistics pickle (``.pkl``)."""
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"real_stats: '{p}' does not exist")
        if p.suffix == ".pkl":
            return load_cdfvd_pickle(p)
        try:
            with np.load(p, allow_pickle=False) as data:
                meta = json.loads(str(data["_meta"]))
                arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("n", "sum", "sum_outer")}
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(
                f"real_stats: '{p}' is not an sgvb statistics file written by `sgvb stats` "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if meta.get("format") != FORMAT or int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"real_stats: '{p}' has format {meta.get('format')!r} v{meta.get('format_version')}; "
                f"this sgvb reads {FORMAT} up to v{FORMAT_VERSION}"
            )
        return cls(
            arrays,
            meta["protocol"],
            fingerprint=meta["fingerprint"],
            resolution=meta["resolution"],
            path=str(p),
            counts=meta.get("counts"),
        )


def _norm(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only (a statistics file must not run code)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("builtins", "int"),
        ("builtins", "float"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a statistics file")


def load_cdfvd_pickle(path: Path) -> ReferenceStats:
    """cd-fvd's ``FeatureStats`` pickle as reference statistics; the protocol comes from its file name."""
    match = CDFVD_NAME.fullmatch(path.name)
    if not match:
        raise ValueError(
            f"real_stats: '{path.name}' is not named like cd-fvd's statistics "
            "('{model}_{dataset}_{n_real}_res{res}_len{len}_skip{skip}_seed0.pkl'); "
            "rename it or use an `sgvb stats` file"
        )
    try:
        state = _ArraysOnly(io.BytesIO(path.read_bytes())).load()
        n = int(state["num_items"])
        arrays = {
            "n": np.asarray(float(n)),
            "sum": np.asarray(state["raw_mean"], np.float64),
            "sum_outer": np.asarray(state["raw_cov"], np.float64),
        }
    except (pickle.UnpicklingError, KeyError, TypeError, EOFError) as exc:
        raise ValueError(
            f"real_stats: '{path}' is not a cd-fvd FeatureStats pickle with mean/covariance sums "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if arrays["sum"].ndim != 1 or arrays["sum_outer"].shape != (arrays["sum"].shape[0],) * 2 or n < 2:
        raise ValueError(
            f"real_stats: '{path}' holds sums of shape {arrays['sum'].shape} / {arrays['sum_outer'].shape} "
            f"for {n} items; not usable"
        )
    model, frames, skip, res = match["model"], int(match["len"]), int(match["skip"]), int(match["res"])
    protocol = {
        "source": "cd-fvd",
        "dataset": match["dataset"],
        "n_real": match["n"],
        "cdfvd_seed": int(match["seed"]),
        "detector": CDFVD_DETECTORS.get(model, model),
        "resolution": res,
        "offset_rule": "cd-fvd: one random clip per video (numpy/torch seeded)",
        "frames": frames,
        "subsample": skip,
    }
    counts = {"real videos": {"requested": n if match["n"] == "full" else int(match["n"]), "used": n}}
    return ReferenceStats(
        arrays,
        protocol,
        fingerprint=f"cd-fvd:{match['dataset']}:{match['n']}",
        resolution=res,
        path=str(path),
        counts=counts,
    )
