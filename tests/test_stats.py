"""The bootstrap: exact on compressed tables, seeded, and paired for champion comparisons."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

from pytest_modelgate.stats import bootstrap as stats


def _labels(n: int, error: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < error, (y + 1) % 3, y)
    return y, pred


def test_point_value_equals_the_metric_on_all_rows():
    y, pred = _labels(5000, 0.2)
    from functools import partial

    macro = partial(f1_score, average="macro")
    estimate = stats.bootstrap(macro, y, pred, resamples=200, confidence=0.95, seed=1)
    assert estimate.value == pytest.approx(f1_score(y, pred, average="macro"))
    assert estimate.low <= estimate.value <= estimate.high


def test_compressed_and_row_bootstraps_agree_in_distribution():
    y, pred = _labels(4000, 0.25)
    compressed = stats.bootstrap(accuracy_score, y, pred, resamples=2000, confidence=0.9, seed=2)
    # float predictions with jitter cannot be compressed: the row-weight path runs
    rows = stats.compress(y.astype(float), pred.astype(float) + np.arange(len(pred)) * 1e-9)
    assert not rows.compressed
    assert compressed.value == pytest.approx(accuracy_score(y, pred))
    # the percentile interval of a proportion is close to the normal approximation
    se = np.sqrt(compressed.value * (1 - compressed.value) / len(y))
    assert compressed.high - compressed.low == pytest.approx(2 * 1.645 * se, rel=0.1)


def test_same_seed_gives_the_same_interval_and_another_seed_differs():
    y, pred = _labels(2000, 0.3)
    a = stats.bootstrap(accuracy_score, y, pred, resamples=300, confidence=0.95, seed=5)
    b = stats.bootstrap(accuracy_score, y, pred, resamples=300, confidence=0.95, seed=5)
    c = stats.bootstrap(accuracy_score, y, pred, resamples=300, confidence=0.95, seed=6)
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)


def test_paired_difference_of_identical_predictions_is_exactly_zero():
    y, pred = _labels(1000, 0.2)
    diff = stats.bootstrap_paired_difference(
        accuracy_score, y, pred, pred.copy(), resamples=200, confidence=0.95, seed=0
    )
    assert (diff.value, diff.low, diff.high) == (0.0, 0.0, 0.0)


def test_paired_difference_is_tighter_than_unpaired_for_correlated_models():
    y, champion = _labels(2000, 0.2, seed=1)
    candidate = champion.copy()
    flip = np.random.default_rng(9).random(len(y)) < 0.02
    candidate[flip] = y[flip]  # the candidate fixes 2% of rows: a small, real improvement
    diff = stats.bootstrap_paired_difference(
        accuracy_score, y, candidate, champion, resamples=1000, confidence=0.95, seed=0
    )
    single = stats.bootstrap(accuracy_score, y, candidate, resamples=1000, confidence=0.95, seed=0)
    assert diff.low > 0
    assert diff.high - diff.low < (single.high - single.low) / 2


def test_continuous_outputs_use_row_weights_and_stay_bounded():
    rng = np.random.default_rng(0)
    y = rng.normal(size=3000)
    pred = y + rng.normal(scale=0.5, size=3000)
    estimate = stats.bootstrap(mean_absolute_error, y, pred, resamples=300, confidence=0.95, seed=0)
    assert estimate.low < estimate.value < estimate.high
    assert estimate.value == pytest.approx(mean_absolute_error(y, pred))


def test_undefined_resamples_are_counted_not_raised():
    y = np.array([0] * 99 + [1])
    scores = np.linspace(0, 1, 100)
    from sklearn.metrics import roc_auc_score

    estimate = stats.bootstrap(roc_auc_score, y, scores, resamples=200, confidence=0.95, seed=0)
    assert estimate.undefined > 0
    assert estimate.value == 1.0
