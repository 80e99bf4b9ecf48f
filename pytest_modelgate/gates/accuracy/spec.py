"""The accuracy gate: sklearn metrics with bootstrap intervals and a champion comparison.

Suite section::

    accuracy:
      confidence: 0.95          # two-sided interval level
      resamples: 1000
      seed: 0
      decide_on: bound          # bound (default) or point
      on_missing_champion: fail # fail (default) or pass
      metrics:
        f1_macro: {min: 0.9, max_drop: 0.02}
        log_loss: {max: 0.5}
        recall_weighted: {metric: recall_score, params: {average: weighted}, min: 0.8}
      slices: {columns: [sex], metrics: [f1_macro]}  # accuracy[f1_macro@sex=female]; slices.py

Each metric is an item ``accuracy[NAME]``; with ``max_drop`` a second item
``accuracy[NAME-vs-champion]`` runs a paired non-inferiority test on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_modelgate.errors import MetricError
from pytest_modelgate.gates.policy import POLICY_KEYS, Policy
from pytest_modelgate.stats.metrics import MetricSpec, resolve_metric
from pytest_modelgate.suite.nodes import Node

if TYPE_CHECKING:
    from pytest_modelgate.suite.parse import Suite


GATE = "accuracy"


SECTION_KEYS = {*POLICY_KEYS, "metrics", "required", "slices"}


METRIC_KEYS = {"metric", "params", "min", "max", "max_drop"}


@dataclass(frozen=True)
class MetricGate:
    label: str
    spec: MetricSpec
    minimum: float | None
    maximum: float | None
    max_drop: float | None
    policy: Policy
    suite: Suite


def parse_metric(label: str, node: Node, policy: Policy, suite: Suite) -> MetricGate:
    node.mapping().only(METRIC_KEYS)
    name = node.value_or("metric", Node.as_str, label)
    params: dict[str, object] = node.value_or("params", lambda n: n.mapping().as_plain(), {})
    try:
        spec = resolve_metric(name, params)
    except MetricError as exc:
        raise (node.get("metric") or node).error(str(exc)) from None
    minimum = node.value_or("min", Node.as_number, None)
    maximum = node.value_or("max", Node.as_number, None)
    max_drop = node.value_or("max_drop", Node.as_number, None)
    if minimum is None and maximum is None and max_drop is None:
        raise node.error("expected at least one of min, max, max_drop")
    if max_drop is not None and max_drop < 0:
        raise node.require("max_drop").error(f"expected a number >= 0, got {max_drop:g}")
    return MetricGate(label, spec, minimum, maximum, max_drop, policy, suite)
