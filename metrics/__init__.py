"""Metrics: FVD, FID and the long-video consistency score (LVC), their detectors, and ``evaluate``.

    from metrics import evaluate
    record = evaluate("fvd2048_16f", fake=G, real=dataset, run_dir=run_dir, kimg=kimg)

* Names encode the protocol: ``fvd<N>_<T>f[_subsample<S>f]`` (StyleGAN-V's ``fvd2048_16f``,
  ``fvd2048_128f``, ``fvd2048_128f_subsample8f``), ``fid<N>[_full]`` (``fid50k_full``),
  ``consistency[<N>_]<T>f`` (``consistency128f``), ``kid<N>_full`` (``kid50k_full``), ``is<N>`` (``is50k``),
  ``isv<N>_ucf`` (``isv2048_ucf``), ``kvd<N>_<T>f`` (``kvd2048_16f``, DIGAN's KVD),
  ``prdc<N>_<T>f`` / ``prdc<N>_frames`` (precision, recall, density, coverage), ``jedi<N>_<T>f`` (JEDi,
  V-JEPA features; docs/motion_metrics.md); or specs
  ``{_name_: fvd, num_videos: 64, ...}``. Each metric class says
  whether lower or higher is better (``direction``).
* ``mode="official"`` reproduces StyleGAN-V's choices (1/N covariance, Python-RNG clip offsets in
  selection order, sorted-order selection, uint8 rounding); ``mode="default"`` uses 1/(N-1) and
  per-video seeded offsets. Every record stores its mode and everything else that defines the number.
* Detector weights: ``detector_path`` (file or folder), ``$SGVB_WEIGHTS_DIR``, ``~/.cache/sgvb``, else a
  checksum-verified download (``SGVB_OFFLINE=1`` forbids it). ``allow_stand_in_detectors=True`` runs
  seeded random networks of the same architectures offline; such records say ``stand_in: true``.
* Real statistics are cached under ``$SGVB_CACHE_DIR/stats`` (default ``~/.cache/sgvb/stats``), and can be
  shared as one file (``reference_statistics`` / ``sgvb stats``; ``ReferenceStats`` as ``real``).
* A metric refuses fewer items than its name states in the default mode (``allow_fewer=True`` records it);
  ``num_runs=N`` repeats the random draws; every record has ``protocol_id`` and ``protocol_hash``.

Importing this package registers the built-in metrics (``METRICS``), detectors (``DETECTORS``) and
audit distortions (``DISTORTIONS``, ``metrics/distortions.py``).
"""

from . import consistency, detectors, distortions, fid, fvd, fvmd, inception_score, jedi, kid, kvd, prdc  # noqa: F401 - register components
from .base import CountError, DetectorMismatchError, EvalContext, Metric, MetricOutput, build_metric
from .evaluation import evaluate, reference_statistics
from .reference import ReferenceMismatchError, ReferenceStats
from .stats import FeatureStats, frechet_distance
from .weights import ChecksumError, MissingWeightsError, WeightsError

__all__ = [
    "ChecksumError",
    "CountError",
    "DetectorMismatchError",
    "EvalContext",
    "FeatureStats",
    "Metric",
    "MetricOutput",
    "MissingWeightsError",
    "ReferenceMismatchError",
    "ReferenceStats",
    "WeightsError",
    "build_metric",
    "evaluate",
    "frechet_distance",
    "reference_statistics",
]
