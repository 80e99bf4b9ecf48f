"""Label metrics for many bootstrap resamples at once, from their confusion matrices.

Why not call sklearn per resample: its input validation costs about a millisecond a call,
so 1000 resamples of three metrics spend seconds on checks alone. Every resample of a
compressed table is a weight vector over distinct (label, prediction) pairs, i.e. one
confusion matrix; the common label metrics are a few array operations on a stack of them.
This covers accuracy, balanced accuracy and precision/recall/F1 (binary, micro, macro,
weighted) with sklearn's conventions, including labels absent from a resample being left
out and ``zero_division``; anything else returns None and the caller asks sklearn. Tests
check every supported form against sklearn on the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_AVERAGES = ("binary", "micro", "macro", "weighted")
_ZERO_DIVISION = {"warn": 0.0, 0: 0.0, 1: 1.0}


def batch_scores(
    metric: Any, y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray
) -> np.ndarray | None:
    """``metric`` on every row of ``weights`` (resamples x rows of the pair arrays), or None."""
    func = getattr(metric, "func", metric)
    kwargs = dict(getattr(metric, "keywords", None) or {})
    scorer = _SUPPORTED.get(getattr(func, "__name__", ""))
    if scorer is None or not _is_sklearn(func) or y_true.ndim != 1 or y_pred.ndim != 1:
        return None
    labels, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    k = len(labels)
    pairs, slot = np.unique(codes[: len(y_true)] * k + codes[len(y_true) :], return_inverse=True)
    matrices = np.zeros((weights.shape[0], k, k))
    per_pair = np.zeros((len(pairs), weights.shape[0]))
    np.add.at(per_pair, slot, weights.T)  # rows repeating a pair add up
    matrices[:, pairs // k, pairs % k] = per_pair.T
    result: np.ndarray | None = scorer(matrices, labels, kwargs)
    return result


def _is_sklearn(func: Any) -> bool:
    import sklearn.metrics

    return getattr(sklearn.metrics, getattr(func, "__name__", ""), None) is func


def _accuracy(c: np.ndarray, labels: np.ndarray, kwargs: dict[str, Any]) -> np.ndarray | None:
    if not kwargs.get("normalize", True) or set(kwargs) - {"normalize"}:
        return None
    return np.asarray(np.trace(c, axis1=1, axis2=2) / c.sum(axis=(1, 2)), dtype=float)


def _balanced_accuracy(
    c: np.ndarray, labels: np.ndarray, kwargs: dict[str, Any]
) -> np.ndarray | None:
    if kwargs.get("adjusted", False) or set(kwargs) - {"adjusted"}:
        return None
    support = c.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diagonal(c, axis1=1, axis2=2) / support
    # classes with no true rows (only predicted) are left out, as sklearn does
    return np.asarray(np.nanmean(np.where(support > 0, recall, np.nan), axis=1), dtype=float)


def _prf(which: str) -> Any:
    def score(c: np.ndarray, labels: np.ndarray, kwargs: dict[str, Any]) -> np.ndarray | None:
        average = kwargs.get("average", "binary")
        zero = _ZERO_DIVISION.get(kwargs.get("zero_division", "warn"))
        if average not in _AVERAGES or zero is None or kwargs.get("labels") is not None:
            return None
        if set(kwargs) - {"average", "zero_division", "pos_label", "labels"}:
            return None
        tp = np.diagonal(c, axis1=1, axis2=2)
        true, pred = c.sum(axis=2), c.sum(axis=1)
        if average == "binary":
            return _binary(which, tp, true, pred, labels, kwargs.get("pos_label", 1), zero)
        if average == "micro":
            tp, true, pred = (
                tp.sum(1, keepdims=True),
                true.sum(1, keepdims=True),
                pred.sum(1, keepdims=True),
            )
        values = _ratio(which, tp, true, pred, zero)
        present = (true + pred) > 0  # sklearn's labels are those in y_true or y_pred
        if average == "weighted":
            total = np.where(present, true, 0).sum(axis=1)
            weighted = np.where(present, values * true, 0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.asarray(np.where(total > 0, weighted / total, zero), dtype=float)
        count = present.sum(axis=1)
        return np.asarray(
            np.where(present, values, 0).sum(axis=1) / np.maximum(count, 1), dtype=float
        )

    return score


def _binary(
    which: str, tp: Any, true: Any, pred: Any, labels: np.ndarray, pos_label: Any, zero: float
) -> np.ndarray | None:
    if len(labels) > 2 or pos_label not in labels.tolist():
        return None  # sklearn raises here; let it say so
    index = labels.tolist().index(pos_label)
    return np.asarray(
        _ratio(which, tp[:, index], true[:, index], pred[:, index], zero), dtype=float
    )


def _ratio(which: str, tp: Any, true: Any, pred: Any, zero: float) -> Any:
    denominator = {"precision": pred, "recall": true, "f1": true + pred}[which]
    numerator = 2 * tp if which == "f1" else tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, zero)


_SUPPORTED = {
    "accuracy_score": _accuracy,
    "balanced_accuracy_score": _balanced_accuracy,
    "precision_score": _prf("precision"),
    "recall_score": _prf("recall"),
    "f1_score": _prf("f1"),
}
