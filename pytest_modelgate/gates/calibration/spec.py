"""The calibration gate: how far predicted probabilities are from observed frequencies.

Suite section::

    calibration:
      confidence: 0.95          # as for accuracy: interval level, resamples, seed, decide_on,
      resamples: 1000           # on_missing_champion, family
      bins: 10                  # probability bins of the reliability table
      strategy: uniform         # uniform (equal width) or quantile
      metrics:
        ece: {max: 0.05, max_increase: 0.02}     # expected calibration error
        brier: {max: 0.2, max_increase: 0.01}    # Brier score

Items: ``calibration[ece]`` (the candidate's ECE against ``max``) and with ``max_increase``
``calibration[ece-vs-champion]`` (non-inferiority: the candidate's ECE exceeds the champion's
by at most ``max_increase``, on the same resampled rows); likewise for ``brier``. A binary model
is judged on the positive class's probability, a model of several classes on its top label.
Every item decides on its interval and joins the run's error control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_modelgate.gates.policy import POLICY_KEYS, Policy
from pytest_modelgate.suite.nodes import Node

if TYPE_CHECKING:
    from pytest_modelgate.suite.parse import Suite

GATE = "calibration"
STATISTICS = ("ece", "brier")
STRATEGIES = ("uniform", "quantile")
SECTION_KEYS = {*POLICY_KEYS, "bins", "strategy", "metrics", "required"}
_METRIC_KEYS = {"max", "max_increase"}


@dataclass(frozen=True)
class CalibrationMetric:
    name: str  # ece or brier
    maximum: float | None
    max_increase: float | None
    bins: int
    strategy: str
    policy: Policy
    suite: Suite


def parse_metrics(node: Node, policy: Policy, suite: Suite) -> list[CalibrationMetric]:
    bins = node.value_or("bins", lambda n: n.as_int(minimum=2), 10)
    strategy = node.value_or("strategy", lambda n: n.as_choice(STRATEGIES), "uniform")
    metrics = node.require("metrics")
    if not metrics.mapping().keys():
        raise metrics.error(f"expected at least one of {', '.join(STATISTICS)}")
    out = []
    for name, entry in metrics.items():
        if name not in STATISTICS:
            raise entry.error(
                f"unknown calibration metric; expected one of {', '.join(STATISTICS)}"
            )
        entry.mapping().only(_METRIC_KEYS)
        maximum = entry.value_or("max", Node.as_number, None)
        increase = entry.value_or("max_increase", Node.as_number, None)
        if maximum is None and increase is None:
            raise entry.error("expected at least one of max, max_increase")
        for key, value in (("max", maximum), ("max_increase", increase)):
            if value is not None and value < 0:
                raise entry.require(key).error(f"expected a number >= 0, got {value:g}")
        out.append(CalibrationMetric(name, maximum, increase, bins, strategy, policy, suite))
    return out
