"""The statistics behind ``sgvb table``: intervals of a mean over seeds and tests against a baseline.

Seeds are few (2-5 in most ablations), so the interval method follows n: none for n = 1 (one number
says nothing about its spread), Student's t for 2 <= n < ``MIN_BOOTSTRAP_N`` (exact under normality,
honest about how wide two seeds really are), BCa bootstrap from n >= ``MIN_BOOTSTRAP_N``, where
resampling has enough distinct values to mean something. A bootstrap of two values only returns the
two values, which is why it is not used below that.

An interval is cut to the metric's declared range (``Metric.value_range``: FVD >= 0, consistency in [0, 1]): the
mean lies in that range, so the cut interval covers it as often as the uncut one, and no reader sees an FVD
interval reaching below 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["MIN_BOOTSTRAP_N", "Interval", "Comparison", "mean_interval", "compare"]

MIN_BOOTSTRAP_N = 8


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str  # "t", "bca" or "" (no interval)
    cut: bool = False  # an end was moved to the metric's declared range

    def within(self, bounds: tuple[float | None, float | None]) -> Interval:
        """This interval cut to ``bounds`` (``(low, high)``, None = unbounded)."""
        low = self.low if bounds[0] is None or math.isnan(self.low) else max(self.low, bounds[0])
        high = self.high if bounds[1] is None or math.isnan(self.high) else min(self.high, bounds[1])
        return Interval(low, high, self.method, self.cut or (low, high) != (self.low, self.high))


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)


def mean_interval(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    seed: int = 0,
    num_resamples: int = 9999,
    bounds: tuple[float | None, float | None] = (None, None),
) -> Interval:
    """Interval of the mean of ``values`` (see the module docstring for the method by n), cut to ``bounds`` (the
    metric's range); seeded, so reproducible."""
    return _mean_interval(values, confidence, seed, num_resamples).within(bounds)


def _mean_interval(values: Sequence[float], confidence: float, seed: int, num_resamples: int) -> Interval:
    x = _clean(values)
    n = len(x)
    if n < 2:
        return Interval(math.nan, math.nan, "")
    method = "bca" if n >= MIN_BOOTSTRAP_N else "t"
    mean = float(x.mean())
    if np.ptp(x) == 0:  # identical values: a zero-width interval (scipy would return NaN)
        return Interval(mean, mean, method)
    if method == "t":
        low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=stats.sem(x))
        return Interval(float(low), float(high), method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (x,),
            np.mean,
            confidence_level=confidence,
            method="BCa",
            n_resamples=num_resamples,
            random_state=np.random.default_rng(seed),
        )
    return Interval(float(result.confidence_interval.low), float(result.confidence_interval.high), method)


@dataclass(frozen=True)
class Comparison:
    diff: float  # mean - baseline mean
    p_value: float
    test: str  # "paired" (same seeds), "welch", or "" (too few values)


def compare(values: Mapping[object, float], baseline: Mapping[object, float]) -> Comparison:
    """Difference of means to the baseline with a two-sided test: paired by seed when both have the same seeds
    (the seed fixes data order and initialisation, so pairing removes that shared noise), Welch's t-test otherwise."""
    with warnings.catch_warnings():  # scipy warns on near-identical samples; the p-value is still what it is
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        return _compare(values, baseline)


def _compare(values: Mapping[object, float], baseline: Mapping[object, float]) -> Comparison:
    a = {k: v for k, v in values.items() if not math.isnan(v)}
    b = {k: v for k, v in baseline.items() if not math.isnan(v)}
    if not a or not b:
        return Comparison(math.nan, math.nan, "")
    diff = float(np.mean(list(a.values())) - np.mean(list(b.values())))
    if set(a) == set(b) and len(a) >= 2:
        keys = sorted(a, key=str)
        x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
        if np.ptp(x - y) == 0:  # constant differences: the test is undefined (zero variance)
            return Comparison(diff, 0.0 if diff != 0 else 1.0, "paired")
        return Comparison(diff, float(stats.ttest_rel(x, y).pvalue), "paired")
    if len(a) >= 2 and len(b) >= 2:
        x, y = np.array(list(a.values())), np.array(list(b.values()))
        if np.ptp(x) == 0 and np.ptp(y) == 0:
            return Comparison(diff, 0.0 if diff != 0 else 1.0, "welch")
        return Comparison(diff, float(stats.ttest_ind(x, y, equal_var=False).pvalue), "welch")
    return Comparison(diff, math.nan, "")
