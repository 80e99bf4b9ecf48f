"""Resolve a metric name to an sklearn metric function, its direction and what it scores.

Names are sklearn scorer names (``accuracy``, ``f1_macro``, ``roc_auc_ovr``, ``neg_log_loss``)
or sklearn.metrics function names (``f1_score``, ``mean_absolute_error``) with ``params``.
A ``neg_`` scorer is reported un-negated (``log_loss`` lower is better), so thresholds read
naturally: ``log_loss: {max: 0.5}``.
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


@dataclass(frozen=True)
class MetricSpec:
    name: str
    function: Callable[..., float]
    greater_is_better: bool
    needs_proba: bool
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return "higher is better" if self.greater_is_better else "lower is better"


def resolve_metric(name: str, params: dict[str, Any] | None = None) -> MetricSpec:
    """A MetricSpec for an sklearn scorer or metric function name; MetricError otherwise."""
    import sklearn.metrics as skm

    params = dict(params or {})
    if name in skm.get_scorer_names():
        scorer = skm.get_scorer(name)
        # the scorer carries the function, its fixed kwargs, its sign and its response method
        function = scorer._score_func
        kwargs = {**scorer._kwargs, **params}
        greater = scorer._sign > 0
        response = scorer._response_method
        needs_proba = response != "predict"
        clean = name.removeprefix("neg_") if not greater else name
        return MetricSpec(clean, _bind(function, kwargs, name), greater, needs_proba, kwargs)
    function = getattr(skm, name, None)
    if callable(function) and not isinstance(function, type) and not name.startswith("get_"):
        greater = not name.endswith(_LOWER_IS_BETTER_SUFFIXES)
        needs_proba = name in _PROBABILITY_METRICS
        return MetricSpec(name, _bind(function, params, name), greater, needs_proba, params)
    known = sorted(
        set(skm.get_scorer_names())
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


def score_input(spec: MetricSpec, labels: Any, proba: Any, classes: Any) -> Any:
    """What the metric scores: labels, or probabilities (positive column for binary)."""
    if not spec.needs_proba:
        return labels
    if proba is None:
        raise MetricError(f"metric {spec.name!r} needs predicted probabilities")
    if proba.ndim == 2 and proba.shape[1] == 2 and "multi_class" not in spec.params:
        if spec.name in ("log_loss", "neg_log_loss"):
            return proba
        return proba[:, 1]
    return proba
