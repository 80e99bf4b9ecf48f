"""Deciding an accuracy item: the candidate's metric against its thresholds on a bootstrap
interval, or against the champion's on the same rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_modelgate.gates.accuracy.spec import MetricGate
from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.policy import missing_champion
from pytest_modelgate.stats.metrics import score_input

if TYPE_CHECKING:
    import numpy as np

    from pytest_modelgate.stats.bootstrap import Estimate


def scored_outputs(ctx: GateContext, gate: MetricGate, role: str) -> tuple[np.ndarray, np.ndarray]:
    data = ctx.eval_data(gate.suite)
    handle = ctx.candidate if role == "candidate" else ctx.champion
    assert handle is not None
    predictions = handle.predictions(data)
    proba = predictions.proba if gate.spec.needs_proba else None
    return data.y, score_input(gate.spec, predictions.labels, proba, predictions.classes)


class GateThreshold:
    """``accuracy[NAME]``: the candidate's metric against min/max, decided on the bound."""

    def __init__(self, gate: MetricGate) -> None:
        self.gate = gate

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats.bootstrap import bootstrap

        gate, policy = self.gate, self.gate.policy
        y_true, scored = scored_outputs(ctx, gate, "candidate")
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
            return missing_champion(
                ctx, gate.label, threshold, policy.on_missing_champion, "accuracy"
            )
        y_true, candidate = scored_outputs(ctx, gate, "candidate")
        _, incumbent = scored_outputs(ctx, gate, "champion")
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
    y_true, scored = scored_outputs(ctx, gate, "champion")
    return float(gate.spec.function(y_true, scored))
