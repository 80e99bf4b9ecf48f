"""Resolve a metric name to an sklearn metric function, its direction and what it scores.

Names are sklearn scorer names (``accuracy``, ``f1_macro``, ``roc_auc_ovr``, ``neg_log_loss``)
or sklearn.metrics function names (``f1_score``, ``mean_absolute_error``) with ``params``.
A ``neg_`` scorer is reported un-negated (``log_loss`` lower is better), so thresholds read
naturally: ``log_loss: {max: 0.5}``. Regression metrics also go by their short names: ``rmse``,
``mse``, ``mae``, ``mape`` (and ``r2``, a scorer name already). Each metric knows what it
scores: class labels or probabilities (``classification``) or numbers (``regression``), read
from the sklearn module that defines it.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_modelgate.errors import MetricError

# metrics that score probabilities rather than labels, when named as sklearn functions
_PROBABILITY_METRICS = {
    "roc_auc_score",
    "log_loss",
    "brier_score_loss",
    "average_precision_score",
    "top_k_accuracy_score",
    "d2_log_loss_score",
    "d2_brier_score",
}
_LOWER_IS_BETTER_SUFFIXES = ("_error", "_loss", "_deviance")
# short names of the usual regression metrics, as sklearn scorers
ALIASES = {
    "rmse": "neg_root_mean_squared_error",
    "mse": "neg_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "mape": "neg_mean_absolute_percentage_error",
    "medae": "neg_median_absolute_error",
}
CLASSIFICATION = "classification"
REGRESSION = "regression"
# what to suggest when a metric does not fit the model
LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")
PROBABILITY_METRICS = ("roc_auc", "log_loss", "brier_score_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    function: Callable[..., float]
    greater_is_better: bool
    needs_proba: bool
    params: dict[str, Any] = field(default_factory=dict)
    task: str = CLASSIFICATION  # what it scores: class labels/probabilities, or numbers

    @property
    def direction(self) -> str:
        return "higher is better" if self.greater_is_better else "lower is better"


def resolve_metric(name: str, params: dict[str, Any] | None = None) -> MetricSpec:
    """A MetricSpec for an sklearn scorer or metric function name; MetricError otherwise."""
    import sklearn.metrics as skm

    params = dict(params or {})
    if name in ALIASES:
        spec = resolve_metric(ALIASES[name], params)
        return MetricSpec(
            name, spec.function, spec.greater_is_better, False, spec.params, REGRESSION
        )
    if name in skm.get_scorer_names():
        scorer = skm.get_scorer(name)
        # the scorer carries the function, its fixed kwargs, its sign and its response method
        function = scorer._score_func
        kwargs = {**scorer._kwargs, **params}
        greater = scorer._sign > 0
        response = scorer._response_method
        needs_proba = response != "predict"
        clean = name.removeprefix("neg_") if not greater else name
        task = _task(function)
        bound = _bind(function, kwargs, name)
        return MetricSpec(clean, bound, greater, needs_proba and task != REGRESSION, kwargs, task)
    function = getattr(skm, name, None)
    if callable(function) and not isinstance(function, type) and not name.startswith("get_"):
        greater = not name.endswith(_LOWER_IS_BETTER_SUFFIXES)
        needs_proba = name in _PROBABILITY_METRICS
        bound = _bind(function, params, name)
        return MetricSpec(name, bound, greater, needs_proba, params, _task(function))
    known = sorted(
        set(skm.get_scorer_names())
        | set(ALIASES)
        | {n for n in dir(skm) if n.endswith(("_score", "_error", "_loss"))}
    )
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise MetricError(f"unknown metric {name!r}: not an sklearn scorer or metric function{hint}")


def _bind(
    function: Callable[..., float], kwargs: dict[str, Any], name: str
) -> Callable[..., float]:
    import inspect

    accepted = inspect.signature(function).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise MetricError(
            f"metric {name!r} does not take {', '.join(unknown)}; "
            f"it takes {', '.join(p for p in accepted if p not in ('y_true', 'y_pred', 'y_score', 'y_prob'))}"
        )
    if not kwargs:
        return function
    return functools.partial(function, **kwargs)


def _task(function: Callable[..., float]) -> str:
    """Regression when sklearn defines the metric among its regression metrics."""
    module = getattr(function, "__module__", "") or ""
    return REGRESSION if module.endswith("._regression") else CLASSIFICATION


def check_task(spec: MetricSpec, task: str, model: str, why: str) -> None:
    """MetricError when the metric scores what the model does not give."""
    if spec.task == task:
        return
    if task == REGRESSION:
        raise MetricError(
            f"metric {spec.name!r} scores class labels, but {model} is a regressor ({why}): "
            f"use a regression metric such as {', '.join(REGRESSION_METRICS)}, or set "
            "'task: classification' at the top of the suite if it classifies"
        )
    raise MetricError(
        f"metric {spec.name!r} scores numeric predictions, but {model} is a classifier ({why}): "
        f"use a classification metric such as {', '.join(LABEL_METRICS)}, or set "
        "'task: regression' at the top of the suite if it regresses"
    )


def no_probabilities(spec: MetricSpec, model: str, why: str | None = None) -> MetricError:
    return MetricError(
        f"metric {spec.name!r} needs predicted probabilities, but {model} gives none "
        f"({why or 'it has no predict_proba'}); metrics of its labels it can have instead: "
        f"{', '.join(LABEL_METRICS)}"
    )


def score_input(spec: MetricSpec, labels: Any, proba: Any, classes: Any) -> Any:
    """What the metric scores: labels, or probabilities (for binary, the column of the
    positive class: ``pos_label`` when the metric names one, else the second class)."""
    if not spec.needs_proba:
        return labels
    if proba is None:
        raise no_probabilities(spec, "the model")
    if proba.ndim == 2 and proba.shape[1] == 2 and "multi_class" not in spec.params:
        if spec.name in ("log_loss", "neg_log_loss"):
            return proba
        return proba[:, _positive_column(spec, classes)]
    return proba


def _positive_column(spec: MetricSpec, classes: Any) -> int:
    """sklearn scores a binary metric's probabilities as those of ``pos_label``, by default the
    class that sorts second; a model's columns need not be in sorted order (a pyfunc's are in
    its signature's order)."""
    if classes is None:
        return 1
    listed = list(classes)
    positive = spec.params.get("pos_label")
    if positive is None:
        try:
            positive = sorted(listed)[-1]
        except TypeError:  # classes of mixed types: no order sklearn would take either
            return 1
    names = [str(c) for c in listed]
    return names.index(str(positive)) if str(positive) in names else 1
