"""Confidence intervals over images: normal (mean +- 1.96 standard errors) and bootstrap.

Chapters state every average with its count and a 95 % interval. The bootstrap resamples
*images* (the unit that varies), with a fixed seed, so reruns print the same interval; paired
differences (e.g. weighted minus original on the same images) are resampled as pairs.

>>> low, high = bootstrap_ci(np.array([0.0, 1.0, 1.0, 1.0]), seed=0)
>>> 0.0 <= low <= 0.75 <= high <= 1.0
True
"""
from __future__ import annotations

import numpy as np

Z_95 = 1.96


def normal_halfwidth(values) -> float:
    """Half-width of the normal 95 % interval of the mean: 1.96 standard errors (ddof 1)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size < 2:
        return float("nan")
    return float(Z_95 * values.std(ddof=1) / np.sqrt(values.size))


def bootstrap_ci(
    values, statistic=np.mean, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over the rows of ``values`` (NaN rows dropped).

    ``values``: ``[N]`` or ``[N, ...]`` (rows resampled together, e.g. paired measurements);
    ``statistic(sample, axis=0)`` must reduce the row axis of each resample. Returns
    ``(low, high)``; ``(nan, nan)`` for fewer than two rows.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    values = values[~np.isnan(values).any(axis=tuple(range(1, values.ndim)))]
    if len(values) < 2:
        return float("nan"), float("nan")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}.")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(values), size=(n_resamples, len(values)))
    estimates = np.array([np.squeeze(statistic(values[index], axis=0)) for index in rows])
    tail = (1 - confidence) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail], axis=0)
    return float(np.squeeze(low)), float(np.squeeze(high))


# --- verdicts (chapters 05-07): a paired difference and which side of 0 its interval is on --------
def paired_difference(first, second, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``first - second`` (pandas Series indexed by image) over the images both have,
    with its paired bootstrap 95 % interval."""
    import pandas as pd

    joined = pd.concat([first, second], axis=1, join="inner").dropna()
    difference = (joined.iloc[:, 0] - joined.iloc[:, 1]).to_numpy()
    low, high = bootstrap_ci(difference, seed=seed)
    return float(difference.mean()) if len(difference) else float("nan"), low, high


# Interval bounds closer to 0 than this count as 0: float32 round-off (about 1e-6 in AUCs, mass
# shares and correlations) differs between CPUs and must never decide a printed verdict.
VERDICT_RESOLUTION = 1e-4


def verdict(low: float, high: float, expected_sign: int, resolution: float = VERDICT_RESOLUTION) -> str:
    """``holds`` when the interval lies on the expected side of 0, ``does not hold`` when on the
    other, ``not resolved`` when it covers 0, comes within ``resolution`` of it, or cannot be
    computed."""
    if not (low == low and high == high):
        return "not resolved"
    nearest, farthest = sorted((expected_sign * low, expected_sign * high))
    if nearest > resolution:
        return "holds"
    if farthest < -resolution:
        return "does not hold"
    return "not resolved"
