"""Confidence intervals: closed forms and coverage of a known mean."""
from __future__ import annotations

import numpy as np
import pytest

from whynot.stats import bootstrap_ci, normal_halfwidth


def test_normal_halfwidth_by_hand():
    # values 0, 2: std (ddof 1) = sqrt(2), n = 2 -> 1.96 * sqrt(2) / sqrt(2) = 1.96
    assert normal_halfwidth([0.0, 2.0, np.nan]) == pytest.approx(1.96)
    assert np.isnan(normal_halfwidth([1.0]))


def test_bootstrap_is_deterministic_brackets_the_mean_and_resamples_pairs_together():
    rng = np.random.default_rng(1)
    values = rng.normal(0.3, 1.0, size=400)
    low, high = bootstrap_ci(values, seed=3)
    assert (low, high) == bootstrap_ci(values, seed=3)
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * normal_halfwidth(values), rel=0.15)
    paired = np.stack([values, values + 1.0], axis=1)  # a constant paired difference of exactly 1
    low, high = bootstrap_ci(paired, statistic=lambda s, axis: np.diff(s.mean(axis=axis)), seed=0)
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)


def test_bootstrap_covers_a_known_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = [
        low <= 0.5 <= high
        for low, high in (bootstrap_ci(rng.uniform(0, 1, 60), n_resamples=500, seed=i) for i in range(200))
    ]
    assert 0.88 <= np.mean(covered) <= 0.99


def test_bootstrap_of_too_few_rows_is_nan():
    assert all(np.isnan(bootstrap_ci([np.nan, 1.0])))
