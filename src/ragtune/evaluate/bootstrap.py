"""Bootstrap confidence intervals, so every reported number carries its uncertainty.

With a few dozen to a few hundred questions per run, differences of several points are
often noise; the percentile bootstrap (Efron & Tibshirani 1993, ch. 13) says how much. For
two modes answering the same questions, the paired bootstrap (Koehn 2004, "Statistical
significance tests for machine translation evaluation") resamples questions once for both
modes, which removes the question-difficulty variance shared by both and gives a much
tighter interval on the difference than comparing two separate intervals.

Hand-written on purpose: ``scipy.stats.bootstrap(paired=True, method="percentile")`` resamples the
same way, but scipy is no dependency of ragtune and these few lines of seeded numpy are the whole method.

Example:
    >>> point, lo, hi = bootstrap_ci([0, 1, 1, 0, 1], seed=0)
    >>> point
    0.6
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ragtune.errors import DataError

Stat = Callable[[np.ndarray], Any]

# Resample matrices above this many cells are built in slices to bound memory.
_MAX_CELLS = 4_000_000


def _as_array(values: Sequence | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise DataError(f"cannot bootstrap {name}: it has no items")
    if arr.dtype.kind in "biuf":
        arr = arr.astype(np.float64)
    return arr


def _check(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise DataError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise DataError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")


def _resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """An (n_resamples, n) matrix of row indices drawn with replacement, fixed by ``seed``."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _stats(arr: np.ndarray, idx: np.ndarray, stat: Stat) -> np.ndarray:
    """``stat`` of every resample; the mean of 1-D data is vectorised (the common case)."""
    if stat is np.mean and arr.ndim == 1:
        rows = max(1, _MAX_CELLS // arr.shape[0])
        return np.concatenate([arr[idx[i:i + rows]].mean(axis=1) for i in range(0, len(idx), rows)])
    return np.array([float(stat(arr[row])) for row in idx])


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(samples, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def bootstrap_ci(
    values: Sequence | np.ndarray,
    stat: Stat = np.mean,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile-bootstrap interval of ``stat(values)``: returns ``(point, lo, hi)``.

    ``values`` is resampled along its first axis, so a statistic over pairs works too: pass
    an (n, 2) array of (true, predicted) label codes and a ``stat`` that computes macro-F1
    of a resample. The same seed gives the same interval. One item gives a zero-width
    interval (there is nothing to resample); no items raises DataError.
    """
    _check(n_resamples, confidence)
    arr = _as_array(values, "values")
    point = float(stat(arr))
    samples = _stats(arr, _resample_indices(arr.shape[0], n_resamples, seed), stat)
    lo, hi = _interval(samples, confidence)
    return point, min(lo, point), max(hi, point)


def paired_bootstrap_diff(
    a: Sequence | np.ndarray,
    b: Sequence | np.ndarray,
    stat: Stat = np.mean,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Interval of ``stat(a) - stat(b)`` when ``a[i]`` and ``b[i]`` score the same item.

    Both lists are resampled with the same indices. When the interval excludes 0 the
    difference is unlikely to be resampling noise at this confidence.
    """
    _check(n_resamples, confidence)
    arr_a, arr_b = _as_array(a, "a"), _as_array(b, "b")
    if arr_a.shape[0] != arr_b.shape[0]:
        raise DataError(f"paired scores must cover the same items: {arr_a.shape[0]} against {arr_b.shape[0]}")
    point = float(stat(arr_a)) - float(stat(arr_b))
    idx = _resample_indices(arr_a.shape[0], n_resamples, seed)
    samples = _stats(arr_a, idx, stat) - _stats(arr_b, idx, stat)
    lo, hi = _interval(samples, confidence)
    return point, min(lo, point), max(hi, point)
