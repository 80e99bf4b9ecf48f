"""Deciding a calibration item: the candidate's ECE or Brier score against ``max``, or against
the champion's on the same resampled rows; the reliability table goes into the details, for the
report's reliability diagram."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.gates.api import GateContext, GateResult, estimate_text
from pytest_modelgate.gates.calibration.spec import CalibrationMetric
from pytest_modelgate.gates.policy import Decided, describe_bounds, interval_claim, missing_champion

if TYPE_CHECKING:
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.gates.engines.requests import SumsRequest, View
    from pytest_modelgate.stats.calibration import Calibration

ADVICE = (
    "Calibrate the model (sklearn's CalibratedClassifierCV with method='isotonic' or "
    "'sigmoid' on held-out data), or revisit the threshold with its owners."
)


def calibration_of(ctx: GateContext, metric: CalibrationMetric, handle: ModelHandle) -> Calibration:
    """The model's probabilities on the suite's data, ready to score; MetricError when the
    model gives none or is a regressor."""
    from pytest_modelgate.errors import MetricError
    from pytest_modelgate.stats.calibration import prepare

    task = ctx.task(metric.suite)
    if task.regression:
        raise MetricError(
            f"calibration[{metric.name}] scores predicted probabilities, but "
            f"{handle.ref.describe()} is a regressor ({task.why})"
        )
    data = ctx.eval_data(metric.suite)
    predictions = handle.predictions(data)
    if predictions.proba is None or predictions.classes is None:
        raise MetricError(
            f"calibration[{metric.name}] needs predicted probabilities, but "
            f"{handle.ref.describe()} gives none (it has no predict_proba); gate its labels with "
            "the accuracy gate instead"
        )
    return prepare(
        data.y, predictions.proba, predictions.classes, bins=metric.bins, strategy=metric.strategy
    )


@dataclass(frozen=True)
class Measured:
    """One model's statistic: point value, resampled values, and its reliability table."""

    point: float
    draws: np.ndarray
    judged: str
    rows: int
    reliability: list[dict[str, Any]]


def measure(ctx: GateContext, metric: CalibrationMetric, roles: tuple[str, ...]) -> list[Measured]:
    """Each model's statistic on the very same resampled rows: in memory, or from the suite's
    streaming or Spark pass."""
    from pytest_modelgate.stats import calibration as stats

    handles = [_handle(ctx, role) for role in roles]
    data = ctx.eval_data(metric.suite)
    if data.streamed:
        return [
            _streamed(ctx, metric, request, handle, data.rows)
            for request, handle in zip(sum_requests(ctx, metric, roles), handles, strict=True)
        ]
    policy = metric.policy
    models = [calibration_of(ctx, metric, h) for h in handles]
    score = stats.STATISTICS[metric.name]
    draws = stats.draws(metric.name, models, policy.resamples, policy.seed)
    return [
        Measured(float(score(c)[0]), d, c.judged, c.rows, stats.reliability(c))
        for c, d in zip(models, draws, strict=True)
    ]


def _handle(ctx: GateContext, role: str) -> ModelHandle:
    handle = ctx.candidate if role == "candidate" else ctx.champion
    assert handle is not None
    return handle


def _streamed(
    ctx: GateContext,
    metric: CalibrationMetric,
    request: SumsRequest,
    handle: ModelHandle,
    rows: int,
) -> Measured:
    from pytest_modelgate.stats import calibration as stats

    sums = ctx.sums(metric.suite, request)
    point, draws = stats.from_sums(metric.name, sums)
    edges = stats.bin_edges(np.empty(0), metric.bins, "uniform")
    judged = stats.judged_of(list(handle.classes))
    return Measured(point, draws, judged, rows, stats.reliability_from_sums(sums, edges))


@dataclass(frozen=True)
class CalibrationRows:
    """One batch's bins and terms (plain values: it runs in Spark's workers too)."""

    target: str
    role: str
    classes: list[Any]
    bins: int

    def __call__(self, view: View) -> tuple[list[np.ndarray], np.ndarray]:
        from pytest_modelgate.gates.engines.requests import PROBA, target_of
        from pytest_modelgate.stats.calibration import prepare, row_terms

        c = prepare(
            target_of(view, self.target),
            view.output(self.role, PROBA),
            self.classes,
            bins=self.bins,
        )
        return row_terms(c)


def sum_requests(
    ctx: GateContext, metric: CalibrationMetric, roles: tuple[str, ...]
) -> list[SumsRequest]:
    """What the suite's pass computes for this metric: per model, sums per probability bin.
    Quantile bins need every probability at once, so the streaming engines refuse them."""
    from pytest_modelgate.errors import MetricError
    from pytest_modelgate.gates.engines.requests import PROBA, SumsRequest
    from pytest_modelgate.stats.calibration import SUM_TERMS

    if metric.strategy != "uniform":
        raise MetricError(
            f"calibration[{metric.name}]: strategy {metric.strategy} needs every probability at "
            f"once, which the {metric.suite.data.engine} engine does not hold; use 'strategy: "
            "uniform' (equal-width bins) or 'engine: memory'"
        )
    out = []
    for role in roles:
        handle = _handle(ctx, role)
        calibration_of(ctx, metric, handle)  # a model without probabilities says so first
        classes = [c.item() if hasattr(c, "item") else c for c in handle.classes]
        rows = CalibrationRows(metric.suite.target, role, classes, metric.bins)
        out.append(
            SumsRequest(
                f"calibration:{metric.bins}:{role}",
                metric.policy.resamples,
                metric.policy.seed,
                SUM_TERMS,
                rows,
                columns=(metric.suite.target,),
                outputs=((role, PROBA),),
            )
        )
    return out


def _details(metric: CalibrationMetric, c: Measured, estimate: Any) -> dict[str, Any]:
    from pytest_modelgate.stats.calibration import NAMES

    return {
        "statistic": NAMES[metric.name],
        "judged": c.judged,
        "bins": metric.bins,
        "strategy": metric.strategy,
        "reliability": c.reliability,
        "bootstrap": estimate.as_dict(),
    }


class ThresholdCalibration:
    """``calibration[ece]``: the candidate's calibration error at most ``max``."""

    def __init__(self, metric: CalibrationMetric) -> None:
        self.metric = metric

    def sum_requests(self, ctx: GateContext) -> list[SumsRequest]:
        return sum_requests(ctx, self.metric, ("candidate",))

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats import calibration as stats
        from pytest_modelgate.stats.bootstrap import summarise

        metric, policy = self.metric, self.metric.policy
        (c,) = measure(ctx, metric, ("candidate",))
        point, draws = c.point, c.draws
        estimate = summarise(point, draws, policy.confidence, policy.resamples)
        assert metric.maximum is not None
        result = GateResult(
            passed=True,
            metric=metric.name,
            value=estimate.value,
            low=estimate.low,
            high=estimate.high,
            threshold={"max": metric.maximum},
            decided_on=policy.decide_on,
            rows=c.rows,
            details=_details(metric, c, estimate),
        )
        text = (
            f"{stats.NAMES[metric.name]} of {c.judged} = "
            f"{estimate_text(estimate.value, estimate.low, estimate.high)}"
        )
        if policy.decide_on == "point":
            result.passed = point <= metric.maximum
            if not result.passed:
                result.message = f"{text}: point value above max {metric.maximum:g}. {ADVICE}"
            return result

        def describe(decided: Decided) -> str:
            return describe_bounds(decided, text, None, metric.maximum, fail_advice=ADVICE)

        result.claim = interval_claim(
            result,
            draws,
            point,
            rows=c.rows,
            confidence=policy.confidence,
            describe=describe,
            maximum=metric.maximum,
        )
        return result


class ChampionCalibration:
    """``calibration[ece-vs-champion]``: the candidate's calibration error exceeds the
    champion's by at most ``max_increase``, both on the same resampled rows."""

    def __init__(self, metric: CalibrationMetric) -> None:
        self.metric = metric

    def sum_requests(self, ctx: GateContext) -> list[SumsRequest]:
        if ctx.champion is None:
            return []
        return sum_requests(ctx, self.metric, ("candidate", "champion"))

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats import calibration as stats
        from pytest_modelgate.stats.bootstrap import summarise

        metric, policy = self.metric, self.metric.policy
        increase = metric.max_increase or 0.0
        threshold = {"max_increase": increase}
        champion = ctx.champion
        if champion is None:
            return missing_champion(
                ctx, metric.name, threshold, policy.on_missing_champion, "calibration"
            )
        ours, theirs = measure(ctx, metric, ("candidate", "champion"))
        point, champion_value = ours.point, theirs.point
        cand, champ = ours.draws, theirs.draws
        diff = summarise(point - champion_value, cand - champ, policy.confidence, policy.resamples)
        details = _details(
            metric, ours, summarise(point, cand, policy.confidence, policy.resamples)
        )
        details["champion_reliability"] = theirs.reliability
        details["difference"] = diff.as_dict()
        result = GateResult(
            passed=True,
            metric=metric.name,
            value=point,
            threshold=threshold,
            decided_on=policy.decide_on,
            rows=ours.rows,
            champion_version=champion.ref.version,
            champion_value=champion_value,
            details=details,
        )
        head = (
            f"candidate {ctx.candidate.ref.describe()} {stats.NAMES[metric.name]} {point:.4f}, "
            f"champion {champion.ref.describe()} {champion_value:.4f}; increase "
            f"{diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        )
        if policy.decide_on == "point":
            result.passed = diff.value <= increase
            if not result.passed:
                result.message = f"{head}: point value exceeds max_increase {increase:g}. {ADVICE}"
            return result

        def describe(decided: Decided) -> str:
            # the decision interval is on the candidate's scale: champion + increase
            low, high = decided.low - champion_value, decided.high - champion_value
            name = decided.interval_name()
            interval = f"[{low:+.4f}, {high:+.4f}]"
            if decided.verdict == "pass":
                return (
                    f"{head}; the increase's {name} {interval} is within max_increase "
                    f"{increase:g}{decided.correction_text()}"
                )
            if decided.verdict == "fail":
                return (
                    f"{head}: the increase's whole {name} {interval} exceeds max_increase "
                    f"{increase:g}{decided.correction_text()}. The candidate may not be worse "
                    f"calibrated than the champion by more than that. {ADVICE}"
                )
            return (
                f"INCONCLUSIVE, not enough evidence: {head}: the increase's {name} {interval} "
                f"straddles max_increase {increase:g}{decided.correction_text()}; "
                f"{decided.rows_text()}."
            )

        result.claim = interval_claim(
            result,
            champion_value + (cand - champ),
            point,
            rows=ours.rows,
            confidence=policy.confidence,
            describe=describe,
            maximum=champion_value + increase,
            statistic=f"{metric.name} vs champion v{champion.ref.version} (plus max_increase)",
        )
        return result
