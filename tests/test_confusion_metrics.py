"""The batched label metrics agree with sklearn on the very same resample weights."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn import metrics

from pytest_modelgate.stats import bootstrap as stats
from pytest_modelgate.stats.confusion import batch_scores

SUPPORTED = [
    metrics.accuracy_score,
    metrics.balanced_accuracy_score,
    *(
        functools.partial(f, average=average, zero_division=zero)
        for f in (metrics.precision_score, metrics.recall_score, metrics.f1_score)
        for average in ("micro", "macro", "weighted")
        for zero in ("warn", 0, 1)
    ),
]


def _table_and_weights(classes: int, rows: int, seed: int) -> tuple[stats.Table, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    # a model that never predicts the last class and sometimes predicts a class never seen
    pred = np.where(rng.random(rows) < 0.3, rng.integers(0, classes + 1, rows), y)
    pred[pred == classes - 1] = 0
    table = stats.compress(y, pred)
    assert table.compressed
    chunk = next(stats.weight_chunks(table, 200, seed))
    return table, chunk


def _sklearn(metric, table, weights):
    return np.array([stats.weighted_score(metric, table, 0, 1, w) for w in weights])


def _id(metric) -> str:
    func = getattr(metric, "func", metric)
    keywords = getattr(metric, "keywords", {})
    return func.__name__ + "".join(f"-{k}={v}" for k, v in keywords.items())


@pytest.mark.parametrize("metric", SUPPORTED, ids=_id)
@pytest.mark.parametrize(("classes", "rows"), [(3, 40), (5, 400)])
def test_batched_scores_equal_sklearn_per_resample(metric, classes, rows):
    table, weights = _table_and_weights(classes, rows, seed=classes)
    batched = batch_scores(metric, table.columns[0], table.columns[1], weights)
    assert batched is not None
    np.testing.assert_allclose(batched, _sklearn(metric, table, weights), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scorer", ["f1", "precision", "recall"])
def test_binary_scores_with_a_positive_label_equal_sklearn(scorer):
    from pytest_modelgate.stats.metrics import resolve_metric

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    pred = np.where(rng.random(60) < 0.2, 1 - y, y)
    table = stats.compress(y, pred)
    weights = next(stats.weight_chunks(table, 300, 0))
    metric = resolve_metric(scorer).function
    batched = batch_scores(metric, table.columns[0], table.columns[1], weights)
    assert batched is not None
    np.testing.assert_allclose(batched, _sklearn(metric, table, weights), rtol=0, atol=1e-12)


def test_unsupported_metrics_and_parameters_fall_back_to_sklearn():
    y = np.array([0, 1, 1, 0])
    weights = np.ones((2, 4))
    assert batch_scores(metrics.cohen_kappa_score, y, y, weights) is None
    assert (
        batch_scores(functools.partial(metrics.f1_score, average="samples"), y, y, weights) is None
    )
    assert (
        batch_scores(functools.partial(metrics.accuracy_score, normalize=False), y, y, weights)
        is None
    )


def test_rows_repeating_a_pair_add_up_as_in_sklearn():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 30)
    pred = np.where(rng.random(30) < 0.3, (y + 1) % 3, y)
    weights = rng.integers(0, 4, size=(50, 30))
    metric = functools.partial(metrics.recall_score, average="macro")
    expected = [metric(y[w > 0], pred[w > 0], sample_weight=w[w > 0]) for w in weights]
    np.testing.assert_allclose(batch_scores(metric, y, pred, weights), expected, atol=1e-12)


def test_batched_group_rates_equal_fairlearn_per_resample():
    import pandas as pd
    from fairlearn.metrics import selection_rate

    from pytest_modelgate.stats.groups import Resampler, make_groups, rate_components

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 300)})
    y, pred = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    groups = make_groups(frame, ("g",))
    resampler = Resampler(groups, y, [pred], pos_label=1)
    components = rate_components(("selection_rate", "true_positive_rate"), 1)
    batched = resampler.draws(components, 100, seed=3)[0]
    table = resampler.table
    for r, w in enumerate(stats.resample_counts(table, 100, 3)):
        for g in range(len(groups.labels)):
            rows = table.columns[0] == g
            expected = selection_rate(
                table.columns[1][rows], table.columns[2][rows], pos_label=1, sample_weight=w[rows]
            )
            assert batched[r, 0, g] == pytest.approx(expected)
