"""Bootstrap intervals: cover the mean, shrink with n, repeat by seed, fail clearly on no data."""

from __future__ import annotations

import numpy as np
import pytest

from ragtune.errors import DataError
from ragtune.evaluate.bootstrap import bootstrap_ci, paired_bootstrap_diff


def test_interval_covers_the_mean():
    values = np.random.default_rng(1).binomial(1, 0.3, size=200)
    point, lo, hi = bootstrap_ci(values)
    assert point == pytest.approx(values.mean())
    assert lo < point < hi
    # binomial standard error sqrt(.3*.7/200) ~ 0.032: a 95% interval is about +-0.064
    assert 0.08 < hi - lo < 0.18


def test_interval_shrinks_with_n():
    rng = np.random.default_rng(2)
    widths = []
    for n in (25, 400):
        _, lo, hi = bootstrap_ci(rng.normal(0, 1, size=n))
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2.5  # width goes like 1/sqrt(n): 4x smaller in theory


def test_deterministic_by_seed():
    values = np.random.default_rng(3).random(50)
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)


def test_degenerate_cases():
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5, 0.5)
    assert bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    with pytest.raises(DataError, match="no items"):
        bootstrap_ci([])
    with pytest.raises(DataError):
        bootstrap_ci([1, 2], confidence=95)
    with pytest.raises(DataError):
        bootstrap_ci([1, 2], n_resamples=0)


def test_custom_statistic_over_rows():
    pairs = np.array([[0, 0], [1, 1], [1, 0], [0, 0]])
    point, lo, hi = bootstrap_ci(pairs, stat=lambda a: float(np.mean(a[:, 0] == a[:, 1])))
    assert point == 0.75
    assert 0.0 <= lo <= point <= hi <= 1.0


def test_median_statistic_matches_vectorised_path_semantics():
    values = [1.0, 2.0, 3.0, 100.0]
    point, lo, hi = bootstrap_ci(values, stat=np.median)
    assert point == 2.5 and lo >= 1.0 and hi <= 100.0


def test_paired_difference_detects_a_consistent_gain():
    rng = np.random.default_rng(4)
    difficulty = rng.random(100)
    a = difficulty + 0.05  # the same questions, always a little better
    b = difficulty
    point, lo, hi = paired_bootstrap_diff(a, b)
    assert point == pytest.approx(0.05)
    assert lo > 0  # paired: the shared difficulty cancels
    # unpaired intervals overlap heavily, so only the paired test sees the gain
    _, lo_a, _ = bootstrap_ci(a)
    _, _, hi_b = bootstrap_ci(b)
    assert lo_a < hi_b


def test_paired_difference_of_equal_modes_includes_zero():
    rng = np.random.default_rng(5)
    a = rng.binomial(1, 0.5, size=80)
    b = rng.permutation(a)
    point, lo, hi = paired_bootstrap_diff(a, b)
    assert point == 0.0 and lo < 0 < hi


def test_paired_difference_needs_matching_lengths():
    with pytest.raises(DataError, match="same items"):
        paired_bootstrap_diff([1, 2, 3], [1, 2])
    with pytest.raises(DataError):
        paired_bootstrap_diff([], [])
