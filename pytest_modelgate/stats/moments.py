"""Continuous-output metrics (regression errors, probability losses, ROC AUC) for many
bootstrap resamples at once, from weighted sums over the rows.

Why not call sklearn per resample: on a million rows each call validates and copies its
inputs (tens of milliseconds), so 1000 resamples of three metrics take minutes. Every metric
here is a function of a few weighted sums of per-row terms computed once (absolute and
squared errors, the target and its square, each row's log loss or squared probability error),
so a chunk of resamples is one matrix product: ``weights @ terms``. ROC AUC sorts the scores
once; each resample then needs cumulative sums of its negative weights in that order. The
formulas follow sklearn's (including r2's and explained variance's ``force_finite`` results on
a constant target, mape's epsilon, log loss's clipping), and the tests check each one against
sklearn with the same sample weights. Anything else returns None and the caller asks sklearn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# (resamples x rows weights, optionally their row sums) -> one value per resample
Scorer = Callable[..., np.ndarray]
# (resamples x terms weighted sums, resamples weight totals) -> one value per resample
Finish = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Summed:
    """A metric as per-row terms and the function of their weighted sums that gives it: the
    sums of any split of the rows add up, so the streaming and Spark engines merge them."""

    terms: np.ndarray  # rows x terms
    finish: Finish


def scorer(metric: Any, y_true: np.ndarray, y_pred: np.ndarray) -> Scorer | None:
    """A batch scorer of ``metric(y_true, y_pred, sample_weight=w)`` for every row ``w`` of a
    weight matrix, or None when the metric (or its parameters) is not one covered here."""
    func = getattr(metric, "func", metric)
    if getattr(func, "__name__", "") == "roc_auc_score":
        kwargs = dict(getattr(metric, "keywords", None) or {})
        try:
            return (
                _roc_auc(np.asarray(y_true), np.asarray(y_pred), kwargs)
                if _is_sklearn(func)
                else None
            )
        except (TypeError, ValueError):
            return None
    summed = summed_terms(metric, y_true, y_pred)
    if summed is None:
        return None
    terms = np.ascontiguousarray(summed.terms, dtype=float)

    def score(weights: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
        w = np.asarray(weights, dtype=float)
        total = w.sum(axis=1) if total is None else total
        return summed.finish(w @ terms, total)

    return score


def summed_terms(
    metric: Any, y_true: np.ndarray, y_pred: np.ndarray, classes: Any = None
) -> Summed | None:
    """The metric's per-row terms and finishing function, or None when it is not a sum of
    per-row terms covered here. ``classes``: the classes of every row (a part of the rows may
    lack some), else those of ``y_true``."""
    func = getattr(metric, "func", metric)
    kwargs = dict(getattr(metric, "keywords", None) or {})
    name = getattr(func, "__name__", "")
    build = _BUILDERS.get(name)
    if build is None or not _is_sklearn(func):
        return None
    try:
        return build(np.asarray(y_true), np.asarray(y_pred), kwargs, classes)
    except (TypeError, ValueError):
        return None  # inputs of a kind the formulas do not take: let sklearn say it


def covers(metric: Any) -> bool:
    """Whether the metric is one of the sums here (parameters aside)."""
    func = getattr(metric, "func", metric)
    return getattr(func, "__name__", "") in _BUILDERS and _is_sklearn(func)


def _is_sklearn(func: Any) -> bool:
    import sklearn.metrics

    return getattr(sklearn.metrics, getattr(func, "__name__", ""), None) is func


def _numeric(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if y_true.ndim != 1 or y_pred.ndim != 1 or y_true.dtype.kind not in "fiub":
        raise ValueError("one numeric output per row")
    return y_true.astype(float), y_pred.astype(float)


def _mean(sums: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(sums[:, 0] / total, dtype=float)


def _root_mean(sums: np.ndarray, total: np.ndarray) -> np.ndarray:
    return np.asarray(np.sqrt(_mean(sums, total)), dtype=float)


def _only(kwargs: dict[str, Any], allowed: dict[str, Any]) -> None:
    """Parameters other than their defaults are left to sklearn."""
    for key, value in kwargs.items():
        if key not in allowed or allowed[key] != value:
            raise ValueError(f"parameter {key}={value!r} is not covered")


def _column(terms: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(terms, dtype=float).reshape(-1, 1)


def _mae(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], classes: Any) -> Summed:
    _only(kwargs, {"multioutput": "uniform_average"})
    y, p = _numeric(y, p)
    return Summed(_column(np.abs(p - y)), _mean)


def _mse(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], classes: Any) -> Summed:
    _only(kwargs, {"multioutput": "uniform_average"})
    y, p = _numeric(y, p)
    return Summed(_column((p - y) ** 2), _mean)


def _rmse(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], classes: Any) -> Summed:
    return Summed(_mse(y, p, kwargs, classes).terms, _root_mean)


def _mape(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], classes: Any) -> Summed:
    _only(kwargs, {"multioutput": "uniform_average"})
    y, p = _numeric(y, p)
    epsilon = np.finfo(np.float64).eps  # sklearn's floor on |y|
    return Summed(_column(np.abs(p - y) / np.maximum(np.abs(y), epsilon)), _mean)


def _variance_ratio(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], centred: bool) -> Summed:
    """1 - SSE/SST (r2) or 1 - Var(e)/Var(y) (explained variance), weighted, with sklearn's
    force_finite results: 1 for a perfect fit of a constant target, else 0."""
    _only(kwargs, {"multioutput": "uniform_average", "force_finite": True})
    y, p = _numeric(y, p)
    e = y - p
    terms = np.empty((len(y), 4 if centred else 3))
    np.multiply(e, e, out=terms[:, 0])
    terms[:, 1] = y
    np.multiply(y, y, out=terms[:, 2])
    if centred:
        terms[:, 3] = e
    del e

    def finish(sums: np.ndarray, total: np.ndarray) -> np.ndarray:
        see, sy, syy = sums[:, 0], sums[:, 1], sums[:, 2]
        se = sums[:, 3] if centred else 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            numerator = see - se * se / total if centred else see
            denominator = syy - sy * sy / total
            # a constant target: sums of floats leave a rounding residue where sklearn gets 0
            flat = denominator <= 1e-12 * np.maximum(syy, 1.0)
            value = 1.0 - numerator / denominator
        perfect = numerator <= 1e-12 * np.maximum(see, 1.0)
        return np.asarray(np.where(flat, np.where(perfect, 1.0, 0.0), value), dtype=float)

    return Summed(terms, finish)


def _r2(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], classes: Any) -> Summed:
    return _variance_ratio(y, p, kwargs, centred=False)


def _explained_variance(
    y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], classes: Any
) -> Summed:
    return _variance_ratio(y, p, kwargs, centred=True)


def _log_loss(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], given: Any) -> Summed:
    """Each row's -log(probability of its true class), clipped and normalised as sklearn does;
    the classes are ``labels`` or the sorted labels of all rows (as sklearn infers them from a
    weighted call, whatever a resample drew)."""
    _only(kwargs, {"labels": kwargs.get("labels"), "normalize": True})
    labels = kwargs.get("labels")
    if labels is None:
        labels = given
    classes = np.unique(y) if labels is None else np.sort(np.asarray(labels))
    proba = np.asarray(p, dtype=float)
    if proba.ndim == 1:
        if len(classes) > 2:
            raise ValueError("one probability per row for more than two classes")
        proba = np.column_stack([1.0 - proba, proba])
    if proba.ndim != 2 or proba.shape[1] != len(classes) or len(classes) < 2:
        raise ValueError("probability columns do not match the classes")
    eps = np.finfo(proba.dtype).eps
    index = np.searchsorted(classes, y)
    if np.any(index >= len(classes)) or np.any(classes[np.minimum(index, len(classes) - 1)] != y):
        raise ValueError("labels outside the classes")
    rows = np.arange(len(y))
    clipped = np.clip(proba, eps, 1 - eps)
    # the true class's probability after sklearn's clipping and renormalising of each row
    true = clipped[rows, index] / clipped.sum(axis=1)
    del clipped
    np.log(true, out=true)
    np.negative(true, out=true)
    return Summed(_column(true), _mean)


def _brier(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any], given: Any) -> Summed:
    _only(kwargs, {"pos_label": kwargs.get("pos_label")})
    prob = np.asarray(p, dtype=float)
    classes = np.unique(y) if given is None else np.sort(np.asarray(given))
    if prob.ndim != 1 or len(classes) > 2:
        raise ValueError("binary probabilities only")
    pos = kwargs.get("pos_label")
    if pos is None:
        if classes.dtype.kind not in "iub" and not set(classes.tolist()) <= {0.0, 1.0}:
            raise ValueError("sklearn needs pos_label for these labels")
        pos = classes[-1] if len(classes) == 2 else 1
    return Summed(_column((prob - (y == pos).astype(float)) ** 2), _mean)


def _roc_auc(y: np.ndarray, p: np.ndarray, kwargs: dict[str, Any]) -> Scorer:
    """Binary ROC AUC with weights: the weighted share of (positive, negative) pairs ordered
    right, ties counting half; the positive class is the greater label, as sklearn's."""
    _only(kwargs, {"average": "macro", "multi_class": "raise", "max_fpr": None})
    scores = np.asarray(p, dtype=float)
    classes = np.unique(y)
    if scores.ndim != 1 or len(classes) != 2:
        raise ValueError("binary scores only")
    order = np.argsort(scores, kind="stable")
    positive = y[order] == classes[1]
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    del sorted_scores
    ties = len(starts) < len(scores)
    if not ties:
        starts = starts[:0]  # not needed: every score is distinct

    def score(weights: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
        w = np.asarray(weights, dtype=float)
        out = np.empty(len(w))
        for r in range(len(w)):  # a resample at a time: three vectors of rows in memory
            wn = w[r, order]
            wp = wn * positive
            wn -= wp
            if ties:  # per distinct score: pairs within a tie count half
                wp, wn = np.add.reduceat(wp, starts), np.add.reduceat(wn, starts)
            total_p, total_n = wp.sum(), wn.sum()
            below = np.cumsum(wn)
            wn *= 0.5
            below -= wn  # negatives scored lower, and half of those tied
            out[r] = (wp @ below) / (total_p * total_n) if total_p > 0 and total_n > 0 else np.nan
        return out

    return score


_BUILDERS: dict[str, Callable[[np.ndarray, np.ndarray, dict[str, Any], Any], Summed]] = {
    "mean_absolute_error": _mae,
    "mean_squared_error": _mse,
    "root_mean_squared_error": _rmse,
    "mean_absolute_percentage_error": _mape,
    "r2_score": _r2,
    "explained_variance_score": _explained_variance,
    "log_loss": _log_loss,
    "brier_score_loss": _brier,
}

# ROC AUC from counts per score bin: the streaming engines' form of it (a sort of every row's
# score is not mergeable; TFX's evaluator likewise counts per threshold bucket). Pairs of a
# positive and a negative in the same bin count half, as ties do: the binned value is within
# the share of pairs falling in one bin (about 1 / AUC_BINS of them) of the exact one.
AUC_BINS = 4096


def auc_bin(scores: np.ndarray) -> np.ndarray:
    """Each probability's bin of [0, 1]."""
    clipped = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    return np.asarray(np.minimum((clipped * AUC_BINS).astype(np.int64), AUC_BINS - 1))


def binned_roc_auc(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Per resample (rows of resamples x bins weighted counts): the share of (positive,
    negative) pairs ordered right, ties within a bin counting half."""
    below = np.cumsum(negatives, axis=1) - 0.5 * negatives
    total = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(total > 0, (positives * below).sum(axis=1) / total, np.nan))
