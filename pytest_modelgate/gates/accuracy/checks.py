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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Check, GateContext, GateResult, gate_required
from pytest_modelgate.stats.metrics import MetricError, MetricSpec, resolve_metric, score_input
from pytest_modelgate.suite.nodes import Node

if TYPE_CHECKING:
    import numpy as np

    from pytest_modelgate.stats.bootstrap import Estimate
    from pytest_modelgate.suite.parse import Suite

GATE = "accuracy"
DECIDE_ON = ("bound", "point")
MISSING_CHAMPION = ("fail", "pass")
_SECTION_KEYS = {
    "confidence",
    "resamples",
    "seed",
    "decide_on",
    "on_missing_champion",
    "metrics",
    "required",
    "slices",
}
_METRIC_KEYS = {"metric", "params", "min", "max", "max_drop"}


@dataclass(frozen=True)
class Policy:
    confidence: float
    resamples: int
    seed: int
    decide_on: str
    on_missing_champion: str


@dataclass(frozen=True)
class MetricGate:
    label: str
    spec: MetricSpec
    minimum: float | None
    maximum: float | None
    max_drop: float | None
    policy: Policy
    suite: Suite


class AccuracyGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(_SECTION_KEYS)
        policy = parse_policy(node)
        required = gate_required(node)
        metrics = node.require("metrics")
        if not metrics.mapping().keys():
            raise metrics.error("expected at least one metric")
        checks: list[Check] = []
        gates = []
        for label, entry in metrics.items():
            gate = _parse_metric(label, entry, policy, suite)
            gates.append(gate)
            checks.append(Check(GATE, label, gate_threshold(gate), required))
            if gate.max_drop is not None:
                checks.append(Check(GATE, f"{label}-vs-champion", gate_champion(gate), required))
        slices = node.get("slices")
        if slices is not None:
            from pytest_modelgate.gates.accuracy.slices import accuracy_slice_checks

            checks += accuracy_slice_checks(slices, gates, policy, suite, required)
        return checks


def parse_policy(node: Node) -> Policy:
    return Policy(
        confidence=node.value_or("confidence", lambda n: n.as_fraction(open_low=True), 0.95),
        resamples=node.value_or("resamples", lambda n: n.as_int(minimum=100), 1000),
        seed=node.value_or("seed", lambda n: n.as_int(minimum=0), 0),
        decide_on=node.value_or("decide_on", lambda n: n.as_choice(DECIDE_ON), "bound"),
        on_missing_champion=node.value_or(
            "on_missing_champion", lambda n: n.as_choice(MISSING_CHAMPION), "fail"
        ),
    )


def _parse_metric(label: str, node: Node, policy: Policy, suite: Suite) -> MetricGate:
    node.mapping().only(_METRIC_KEYS)
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


def _scored(ctx: GateContext, gate: MetricGate, role: str) -> tuple[np.ndarray, np.ndarray]:
    data = ctx.eval_data(gate.suite)
    handle = ctx.candidate if role == "candidate" else ctx.champion
    assert handle is not None
    predictions = handle.predictions(data)
    proba = predictions.proba if gate.spec.needs_proba else None
    return data.y, score_input(gate.spec, predictions.labels, proba, predictions.classes)


def gate_threshold(gate: MetricGate) -> GateThreshold:
    return GateThreshold(gate)


class GateThreshold:
    """``accuracy[NAME]``: the candidate's metric against min/max, decided on the bound."""

    def __init__(self, gate: MetricGate) -> None:
        self.gate = gate

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats.bootstrap import bootstrap

        gate, policy = self.gate, self.gate.policy
        y_true, scored = _scored(ctx, gate, "candidate")
        estimate = bootstrap(
            gate.spec.function,
            y_true,
            scored,
            resamples=policy.resamples,
            confidence=policy.confidence,
            seed=policy.seed,
        )
        threshold = {
            k: v for k, v in (("min", gate.minimum), ("max", gate.maximum)) if v is not None
        }
        result = GateResult(
            passed=True,
            metric=gate.label,
            value=estimate.value,
            low=estimate.low,
            high=estimate.high,
            threshold=threshold,
            decided_on=policy.decide_on,
            rows=len(y_true),
            details={"bootstrap": estimate.as_dict(), "direction": gate.spec.direction},
        )
        if threshold:
            _decide_threshold(result, gate, estimate)
        else:
            result.message = "no absolute threshold; see the champion comparison"
        return result


def _decide_threshold(result: GateResult, gate: MetricGate, estimate: Estimate) -> None:
    on_bound = gate.policy.decide_on == "bound"
    low = estimate.low if on_bound else estimate.value
    high = estimate.high if on_bound else estimate.value
    level = f"{estimate.confidence:.0%} interval"
    problems = []
    if gate.minimum is not None and not low >= gate.minimum:
        what = f"lower bound of the {level}" if on_bound else "point value"
        problems.append(f"{what} {low:.4f} is below min {gate.minimum:g}")
    if gate.maximum is not None and not high <= gate.maximum:
        what = f"upper bound of the {level}" if on_bound else "point value"
        problems.append(f"{what} {high:.4f} is above max {gate.maximum:g}")
    result.passed = not problems
    if problems:
        result.message = "; ".join(problems) + ". " + _advice(gate, estimate)


def _advice(gate: MetricGate, estimate: Estimate) -> str:
    if gate.policy.decide_on == "bound" and _point_passes(gate, estimate.value):
        return (
            "The point value clears the threshold but the evidence is too thin: evaluate on "
            "more rows to narrow the interval, or improve the model."
        )
    return "Improve the model on this metric, or revisit the threshold with the model's owners."


def _point_passes(gate: MetricGate, value: float) -> bool:
    ok_min = gate.minimum is None or value >= gate.minimum
    ok_max = gate.maximum is None or value <= gate.maximum
    return ok_min and ok_max


def gate_champion(gate: MetricGate) -> ChampionComparison:
    return ChampionComparison(gate)


class ChampionComparison:
    """``accuracy[NAME-vs-champion]``: paired non-inferiority on the same rows."""

    def __init__(self, gate: MetricGate) -> None:
        self.gate = gate

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats.bootstrap import bootstrap_paired_difference

        gate, policy = self.gate, self.gate.policy
        threshold = {"max_drop": gate.max_drop or 0.0}
        champion = ctx.champion
        if champion is None:
            return _missing_champion(gate, ctx, threshold)
        y_true, candidate = _scored(ctx, gate, "candidate")
        _, incumbent = _scored(ctx, gate, "champion")
        diff = bootstrap_paired_difference(
            gate.spec.function,
            y_true,
            candidate,
            incumbent,
            resamples=policy.resamples,
            confidence=policy.confidence,
            seed=policy.seed,
        )
        # express everything as "gain" so that positive is better whatever the metric direction
        sign = 1.0 if gate.spec.greater_is_better else -1.0
        gain, gain_low = sign * diff.value, sign * (diff.low if sign > 0 else diff.high)
        decided = gain_low if policy.decide_on == "bound" else gain
        champion_value = _champion_value(ctx, gate)
        result = GateResult(
            passed=decided >= -threshold["max_drop"],
            metric=gate.label,
            value=champion_value + diff.value,
            low=None,
            high=None,
            threshold=threshold,
            decided_on=policy.decide_on,
            rows=len(y_true),
            champion_version=champion.ref.version,
            champion_value=champion_value,
            details={"difference": diff.as_dict(), "direction": gate.spec.direction},
        )
        delta = f"{diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        if not result.passed:
            worst = "worst plausible drop" if policy.decide_on == "bound" else "drop"
            result.message = (
                f"candidate {ctx.candidate.ref.describe()} vs champion {champion.ref.describe()}: "
                f"difference {delta} ({gate.spec.direction}); {worst} {-decided:.4f} exceeds "
                f"max_drop {threshold['max_drop']:g}. The candidate must be at least as good as "
                "the champion within max_drop on the same rows."
            )
        else:
            result.message = f"difference vs champion v{champion.ref.version}: {delta}"
        return result


def _champion_value(ctx: GateContext, gate: MetricGate) -> float:
    y_true, scored = _scored(ctx, gate, "champion")
    return float(gate.spec.function(y_true, scored))


def _missing_champion(
    gate: MetricGate, ctx: GateContext, threshold: dict[str, float]
) -> GateResult:
    policy = gate.policy.on_missing_champion
    alias = ctx.champion_alias
    model = ctx.candidate.ref.name
    message = (
        f"no champion: model {model!r} has no {alias!r} alias; policy on_missing_champion={policy}"
    )
    if policy == "fail":
        message += (
            ". The comparison cannot run; for a first release set "
            "'on_missing_champion: pass' in the suite."
        )
    return GateResult(
        passed=policy == "pass",
        metric=gate.label,
        threshold=threshold,
        decided_on="policy",
        message=message,
        details={"champion": None, "on_missing_champion": policy},
    )
