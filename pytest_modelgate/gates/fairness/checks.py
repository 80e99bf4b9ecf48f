"""Deciding one fairness item: the measure against its thresholds, or against the champion;
thin groups are insufficient evidence, not bias."""

from __future__ import annotations

import numpy as np

from pytest_modelgate.gates.api import GateContext, GateResult, estimate_text
from pytest_modelgate.gates.fairness.figures import (
    Evidence,
    Figures,
    chart_lines,
    check_evidence,
    compute,
    inputs,
    pos_label,
    table_rows,
)
from pytest_modelgate.gates.fairness.spec import FairnessMetric, threshold_of
from pytest_modelgate.gates.policy import missing_champion


def insufficient(metric: FairnessMetric, result: GateResult, evidence: Evidence) -> None:
    result.passed = False
    result.decided_on = "evidence"
    result.message = (
        "insufficient evidence: "
        + "; ".join(evidence.problems)
        + ". Collect more evaluation rows for these groups, or set 'on_small_group: exclude' "
        "to gate without small groups (they are then reported, not decided on)."
    )


class ThresholdFairness:
    """``fairness[METRIC@GROUPING]``: the candidate's measure against its thresholds."""

    def __init__(self, metric: FairnessMetric) -> None:
        self.metric = metric

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats import bootstrap as stats
        from pytest_modelgate.stats.groups import make_groups

        metric = self.metric
        data, scored = inputs(ctx, metric, ctx.candidate)
        pos = pos_label(metric, data.y)
        groups = make_groups(data.frame, metric.by)
        (figures,) = compute(metric, groups, data.y, [scored], pos)
        estimate = stats.summarise(
            float(figures.summary),
            figures.summary_draws,
            metric.policy.stats.confidence,
            metric.policy.stats.resamples,
        )
        result = GateResult(
            passed=True,
            metric=metric.item,
            value=estimate.value,
            low=estimate.low,
            high=estimate.high,
            threshold=threshold_of(metric),
            decided_on=metric.policy.stats.decide_on,
            rows=data.rows,
            details={
                "by": list(metric.by),
                "summary": metric.summary,
                "bootstrap": estimate.as_dict(),
                "min_group_size": metric.policy.min_group_size,
                "on_small_group": metric.policy.on_small_group,
            },
        )
        evidence = check_evidence(metric, figures, data.target, pos)
        failing: set[int] = set()
        if evidence.problems:
            insufficient(metric, result, evidence)
        elif metric.summary == "worst":
            failing = _decide_floor(metric, figures, result)
        else:
            _decide_summary(metric, figures, result)
        result.details["groups"] = table_rows(metric, figures, failing)
        result.details["small_groups"] = evidence.small
        result.details["confidence"] = metric.policy.stats.confidence
        result.details["chart_lines"] = chart_lines(metric, figures)
        return result


def _bound_name(metric: FairnessMetric, side: str) -> str:
    if metric.policy.stats.decide_on == "point":
        return "point value"
    return f"{side} bound of the {metric.policy.stats.confidence:.0%} interval"


def _decide_summary(metric: FairnessMetric, figures: Figures, result: GateResult) -> None:
    on_bound = metric.policy.stats.decide_on == "bound"
    assert result.value is not None
    assert result.low is not None
    assert result.high is not None
    where = f"{metric.item} = {result.value_text()}"
    if not np.isfinite(result.value):
        result.passed = False
        result.message = f"{where}: undefined (every group's rate is 0?)"
        return
    problems = []
    if metric.maximum is not None:
        high = result.high if on_bound else result.value
        if not high <= metric.maximum:
            problems.append(
                f"{_bound_name(metric, 'upper')} {high:.4f} is above max {metric.maximum:g}"
            )
    if metric.minimum is not None:
        low = result.low if on_bound else result.value
        if not low >= metric.minimum:
            problems.append(
                f"{_bound_name(metric, 'lower')} {low:.4f} is below min {metric.minimum:g}"
            )
    result.passed = not problems
    extremes = _extremes(figures)
    if problems:
        result.message = (
            f"{where}: {'; '.join(problems)}. {extremes}. Retrain with the disadvantaged group "
            "in mind (reweighing, fairlearn's ThresholdOptimizer or ExponentiatedGradient), or "
            "revisit the threshold with the model's owners."
        )
    else:
        result.message = f"{where}; {extremes}"


def _extremes(figures: Figures) -> str:
    """The component with the widest gap, and its lowest and highest groups."""
    used = np.flatnonzero(figures.used)
    gaps = [np.ptp(figures.point[c, used]) for c in range(len(figures.components))]
    c = int(np.argmax(gaps))
    values = figures.point[c, used]
    lo, hi = used[int(np.argmin(values))], used[int(np.argmax(values))]
    labels = figures.groups.labels

    def cell(g: int) -> str:
        return f"{labels[g]} {estimate_text(figures.point[c, g], figures.low[c, g], figures.high[c, g])}"

    return f"lowest {figures.components[c]}: {cell(lo)}; highest: {cell(hi)}"


def _decide_floor(metric: FairnessMetric, figures: Figures, result: GateResult) -> set[int]:
    on_bound = metric.policy.stats.decide_on == "bound"
    name = figures.components[0]
    labels = figures.groups.labels
    used = np.flatnonzero(figures.used)
    values = figures.point[0]
    worst = used[
        int(np.argmin(values[used]) if metric.greater_is_better else np.argmax(values[used]))
    ]
    result.value = float(values[worst])
    result.low, result.high = float(figures.low[0, worst]), float(figures.high[0, worst])
    failing, problems = set(), []
    for g in used:
        low = figures.low[0, g] if on_bound else values[g]
        high = figures.high[0, g] if on_bound else values[g]
        value = estimate_text(values[g], figures.low[0, g], figures.high[0, g])
        if metric.minimum is not None and not low >= metric.minimum:
            failing.add(int(g))
            problems.append(
                f"{name} in {labels[g]} = {value}: {_bound_name(metric, 'lower')} {low:.4f} "
                f"is below group_min {metric.minimum:g}"
            )
        if metric.maximum is not None and not high <= metric.maximum:
            failing.add(int(g))
            problems.append(
                f"{name} in {labels[g]} = {value}: {_bound_name(metric, 'upper')} {high:.4f} "
                f"is above group_max {metric.maximum:g}"
            )
    result.passed = not problems
    if problems:
        result.message = (
            "; ".join(problems)
            + ". Improve the model for these groups, or revisit the floor with its owners."
        )
    else:
        result.message = f"worst group {labels[worst]}: {name} {result.value_text()}"
    return failing


class ChampionFairness:
    """``fairness[METRIC@GROUPING-vs-champion]``: not less fair than the champion by more
    than ``champion_margin``, measured on the same resampled rows."""

    def __init__(self, metric: FairnessMetric) -> None:
        self.metric = metric

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats import bootstrap as stats
        from pytest_modelgate.stats.groups import make_groups

        metric = self.metric
        margin = metric.margin or 0.0
        champion = ctx.champion
        if champion is None:
            return missing_champion(
                ctx,
                metric.item,
                {"champion_margin": margin},
                metric.policy.stats.on_missing_champion,
                "fairness",
            )
        data, cand = inputs(ctx, metric, ctx.candidate)
        _, champ = inputs(ctx, metric, champion)
        pos = pos_label(metric, data.y)
        groups = make_groups(data.frame, metric.by)
        candidate, incumbent = compute(metric, groups, data.y, [cand, champ], pos)
        sign = 1.0 if metric.greater_is_better else -1.0  # worsening = fall in fairness
        worse = sign * (float(incumbent.summary) - float(candidate.summary))
        worse_draws = sign * (incumbent.summary_draws - candidate.summary_draws)
        diff = stats.summarise(
            worse, worse_draws, metric.policy.stats.confidence, metric.policy.stats.resamples
        )
        result = GateResult(
            passed=True,
            metric=metric.item,
            value=float(candidate.summary),
            threshold={"champion_margin": margin},
            decided_on=metric.policy.stats.decide_on,
            rows=data.rows,
            champion_version=champion.ref.version,
            champion_value=float(incumbent.summary),
            details={
                "by": list(metric.by),
                "worsening": diff.as_dict(),
                "min_group_size": metric.policy.min_group_size,
                "groups": table_rows(metric, candidate),
                "champion_groups": table_rows(metric, incumbent),
            },
        )
        evidence = check_evidence(metric, candidate, data.target, pos)
        if evidence.problems:
            insufficient(metric, result, evidence)
            return result
        decided = diff.high if metric.policy.stats.decide_on == "bound" else diff.value
        delta = f"{diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        result.passed = bool(np.isfinite(decided) and decided <= margin)
        head = (
            f"candidate {ctx.candidate.ref.describe()} {metric.item} = {float(candidate.summary):.4f}, "
            f"champion {champion.ref.describe()} = {float(incumbent.summary):.4f}; "
            f"worsening {delta}"
        )
        if result.passed:
            result.message = head
        else:
            result.message = (
                f"{head}: {_bound_name(metric, 'upper')} {decided:.4f} exceeds champion_margin "
                f"{margin:g}. The candidate may not be less fair than the champion by more than "
                "the margin."
            )
        return result
