"""Continuous-output metrics scored for many resamples at once equal sklearn's with the same
sample weights; calibration statistics equal sklearn's calibration curve and Brier score."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve

from pytest_modelgate.stats import bootstrap as boot
from pytest_modelgate.stats import calibration as cal
from pytest_modelgate.stats.moments import scorer

RNG = np.random.default_rng(7)
N = 400
Y_REG = RNG.normal(100, 30, N)
P_REG = Y_REG + RNG.normal(0, 10, N)
Y_BIN = RNG.integers(0, 2, N)
P_BIN = np.clip(0.3 * Y_BIN + RNG.uniform(0, 0.7, N), 0, 1)
P_BIN[:20] = P_BIN[20:40]  # some ties, which ROC AUC counts half


def weights() -> np.ndarray:
    table = boot.Table((), np.ones(N, dtype=np.int64), False)
    return next(boot.weight_chunks(table, 12, 3))


@pytest.mark.parametrize(
    ("metric", "y", "p"),
    [
        (skm.mean_absolute_error, Y_REG, P_REG),
        (skm.mean_squared_error, Y_REG, P_REG),
        (skm.root_mean_squared_error, Y_REG, P_REG),
        (skm.mean_absolute_percentage_error, Y_REG, P_REG),
        (skm.r2_score, Y_REG, P_REG),
        (skm.explained_variance_score, Y_REG, P_REG),
        (skm.log_loss, Y_BIN, P_BIN),
        (skm.log_loss, Y_BIN, np.column_stack([1 - P_BIN, P_BIN])),
        (skm.brier_score_loss, Y_BIN, P_BIN),
        (skm.roc_auc_score, Y_BIN, P_BIN),
    ],
    ids=lambda v: getattr(v, "__name__", None) or "",
)
def test_batch_scores_equal_sklearn_with_the_same_weights(metric, y, p):
    batch = scorer(metric, y, p)
    assert batch is not None
    w = weights()
    expected = [metric(y, p, sample_weight=row) for row in w]
    assert batch(w) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_r2_of_a_constant_target_follows_sklearns_force_finite():
    y = np.full(50, 3.0)
    w = np.ones((2, 50))
    assert scorer(skm.r2_score, y, y)(w) == pytest.approx([skm.r2_score(y, y)] * 2)
    assert scorer(skm.r2_score, y, y + 1)(w) == pytest.approx([skm.r2_score(y, y + 1)] * 2)


def test_parameters_the_formulas_do_not_cover_go_to_sklearn():
    custom = functools.partial(skm.mean_absolute_error, multioutput="raw_values")
    assert scorer(custom, Y_REG, P_REG) is None
    assert scorer(skm.median_absolute_error, Y_REG, P_REG) is None


def test_row_weights_are_a_multinomial_row_bootstrap():
    draws = np.concatenate(
        list(boot.weight_chunks(boot.Table((), np.ones(50, dtype=np.int64), False), 2000, 0))
    )
    assert (draws.sum(axis=1) == 50).all()
    # each row's count is Binomial(50, 1/50): mean 1, variance 49/50
    assert draws.mean() == pytest.approx(1.0, abs=0.01)
    assert draws.var() == pytest.approx(49 / 50, rel=0.05)


def test_point_ece_is_the_bin_weighted_gap_of_sklearns_calibration_curve():
    c = cal.prepare(Y_BIN, np.column_stack([1 - P_BIN, P_BIN]), [0, 1], bins=10)
    prob_true, prob_pred = calibration_curve(Y_BIN, P_BIN, n_bins=10)
    counts = np.bincount(c.bins, minlength=10)
    counts = counts[counts > 0]
    expected = float((counts / N * np.abs(prob_true - prob_pred)).sum())
    assert cal.ece(c)[0] == pytest.approx(expected)
    assert cal.brier(c)[0] == pytest.approx(skm.brier_score_loss(Y_BIN, P_BIN))


def test_multiclass_calibration_judges_the_top_label_and_sums_the_brier_terms():
    proba = RNG.dirichlet([1, 1, 1], N)
    y = np.array(["a", "b", "c"])[RNG.integers(0, 3, N)]
    c = cal.prepare(y, proba, ["a", "b", "c"])
    assert c.judged == "top label"
    assert cal.brier(c)[0] == pytest.approx(skm.brier_score_loss(y, proba, labels=["a", "b", "c"]))
    w = weights()
    for row, value in zip(w, cal.ece(c, w), strict=True):
        # the ECE of a resample is the ECE of the rows repeated by their counts
        keep = np.repeat(np.arange(N), row.astype(int))
        again = cal.prepare(y[keep], proba[keep], ["a", "b", "c"])
        assert value == pytest.approx(cal.ece(again)[0])
