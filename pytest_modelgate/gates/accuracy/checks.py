"""Deciding an accuracy item: the candidate's metric against its thresholds on a bootstrap
interval, or against the champion's on the same rows; pass, fail or inconclusive."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.accuracy.outputs import scored_outputs
from pytest_modelgate.gates.accuracy.spec import MetricGate
from pytest_modelgate.gates.api import GateContext, GateResult, estimate_text
from pytest_modelgate.gates.policy import Decided, describe_bounds, interval_claim, missing_champion

if TYPE_CHECKING:
    from pytest_modelgate.gates.accuracy.draws import SectionDraws

__all__ = ["ChampionComparison", "GateThreshold", "scored_outputs"]

FAIL_ADVICE = "Improve the model on this metric, or revisit the threshold with the model's owners."


def _threshold(gate: MetricGate) -> dict[str, float]:
    return {k: v for k, v in (("min", gate.minimum), ("max", gate.maximum)) if v is not None}


class GateThreshold:
    """``accuracy[NAME]``: the candidate's metric against min/max: pass when the interval is
    on the right side, fail when it is on the wrong side, inconclusive when it straddles."""

    def __init__(self, gate: MetricGate, draws: SectionDraws | None = None) -> None:
        from pytest_modelgate.gates.accuracy.draws import SectionDraws

        self.gate = gate
        self.draws = draws or SectionDraws([gate])

    def sum_requests(self, ctx: GateContext) -> list[Any]:
        return self.draws.sum_requests(ctx, self.gate, paired=False)

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats.bootstrap import summarise

        gate, policy = self.gate, self.gate.policy
        rows, point, draws = self.draws.single(ctx, gate)
        estimate = summarise(point, draws, policy.confidence, policy.resamples)
        threshold = _threshold(gate)
        result = GateResult(
            passed=True,
            metric=gate.label,
            value=estimate.value,
            low=estimate.low,
            high=estimate.high,
            threshold=threshold,
            decided_on=policy.decide_on,
            rows=rows,
            details={"bootstrap": estimate.as_dict(), "direction": gate.spec.direction},
        )
        if not threshold:
            result.message = "no absolute threshold; see the champion comparison"
            return result
        text = f"{gate.label} = {estimate_text(estimate.value, estimate.low, estimate.high)}"
        if not math.isfinite(estimate.value):
            result.passed = False
            result.message = f"{text}: the metric is undefined on these rows"
            return result
        if policy.decide_on == "point":
            _decide_point(result, gate, estimate.value)
            return result

        def describe(decided: Decided) -> str:
            return describe_bounds(
                decided, text, gate.minimum, gate.maximum, fail_advice=FAIL_ADVICE
            )

        result.claim = interval_claim(
            result,
            draws,
            point,
            rows=rows,
            confidence=policy.confidence,
            describe=describe,
            minimum=gate.minimum,
            maximum=gate.maximum,
        )
        return result


def _decide_point(result: GateResult, gate: MetricGate, value: float) -> None:
    """``decide_on: point``: two-way on the point value, no interval, no error control."""
    problems = []
    if gate.minimum is not None and not value >= gate.minimum:
        problems.append(f"point value {value:.4f} is below min {gate.minimum:g}")
    if gate.maximum is not None and not value <= gate.maximum:
        problems.append(f"point value {value:.4f} is above max {gate.maximum:g}")
    result.passed = not problems
    if problems:
        result.message = "; ".join(problems) + ". " + FAIL_ADVICE


class ChampionComparison:
    """``accuracy[NAME-vs-champion]``: paired non-inferiority on the same rows. The claim is
    the candidate's metric against the champion's, less ``max_drop``."""

    def __init__(self, gate: MetricGate, draws: SectionDraws | None = None) -> None:
        from pytest_modelgate.gates.accuracy.draws import SectionDraws

        self.gate = gate
        self.draws = draws or SectionDraws([gate])

    def sum_requests(self, ctx: GateContext) -> list[Any]:
        if ctx.champion is None:
            return []
        return self.draws.sum_requests(ctx, self.gate, paired=True)

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats.bootstrap import summarise

        gate, policy = self.gate, self.gate.policy
        threshold = {"max_drop": gate.max_drop or 0.0}
        champion = ctx.champion
        if champion is None:
            return missing_champion(
                ctx, gate.label, threshold, policy.on_missing_champion, "accuracy"
            )
        rows, (ours, our_draws), (theirs, their_draws) = self.draws.paired(ctx, gate)
        point, draws = ours - theirs, our_draws - their_draws
        diff = summarise(point, draws, policy.confidence, policy.resamples)
        champion_value = float(theirs)
        greater = gate.spec.greater_is_better
        drop = threshold["max_drop"]
        result = GateResult(
            passed=True,
            metric=gate.label,
            value=champion_value + diff.value,
            low=None,
            high=None,
            threshold=threshold,
            decided_on=policy.decide_on,
            rows=rows,
            champion_version=champion.ref.version,
            champion_value=champion_value,
            details={"difference": diff.as_dict(), "direction": gate.spec.direction},
        )
        delta = f"{diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        head = (
            f"candidate {ctx.candidate.ref.describe()} vs champion {champion.ref.describe()}: "
            f"difference {delta} ({gate.spec.direction})"
        )
        if policy.decide_on == "point":
            gain = diff.value if greater else -diff.value
            result.passed = gain >= -drop
            result.message = (
                f"{head}; drop {-gain:.4f} exceeds max_drop {drop:g}"
                if not result.passed
                else f"difference vs champion v{champion.ref.version}: {delta}"
            )
            return result

        def describe(decided: Decided) -> str:
            # the decision interval of the candidate's metric, as a drop from the champion's
            worst = (champion_value - decided.low) if greater else (decided.high - champion_value)
            best = (champion_value - decided.high) if greater else (decided.low - champion_value)
            if decided.verdict == "pass":
                return f"difference vs champion v{champion.ref.version}: {delta}; worst plausible drop {worst:.4f} is within max_drop {drop:g} ({decided.interval_name()})"
            if decided.verdict == "fail":
                return (
                    f"{head}; worst plausible drop {worst:.4f} exceeds max_drop {drop:g}, and so "
                    f"does the smallest plausible drop {best:.4f} ({decided.interval_name()}). The "
                    "candidate must be at least as good as the champion within max_drop on the "
                    "same rows."
                )
            return (
                f"INCONCLUSIVE, not enough evidence: {head}; worst plausible drop {worst:.4f} "
                f"exceeds max_drop {drop:g} but the smallest plausible drop {best:.4f} does not "
                f"({decided.interval_name()}); {decided.rows_text()}."
            )

        bound = champion_value - drop if greater else champion_value + drop
        result.claim = interval_claim(
            result,
            champion_value + draws,
            champion_value + point,
            rows=rows,
            confidence=policy.confidence,
            describe=describe,
            minimum=bound if greater else None,
            maximum=None if greater else bound,
            statistic=f"{gate.label} vs champion v{champion.ref.version} (less max_drop)",
        )
        return result
