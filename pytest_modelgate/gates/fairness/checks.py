"""Deciding one fairness item: the measure against its thresholds, or against the champion.
Thin groups are insufficient evidence (inconclusive: collect more data for them), not bias;
a disparity is named only when the evidence shows it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.gates.api import GateContext, GateResult, estimate_text
from pytest_modelgate.gates.fairness.figures import (
    Evidence,
    Figures,
    chart_lines,
    check_evidence,
    model_figures,
    sum_requests,
    table_rows,
)
from pytest_modelgate.gates.fairness.spec import FairnessMetric, threshold_of
from pytest_modelgate.gates.policy import Decided, interval_claim, missing_champion, small_sample

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import Decision

RETRAIN = (
    "Retrain with the disadvantaged group in mind (reweighing, fairlearn's ThresholdOptimizer "
    "or ExponentiatedGradient), or revisit the threshold with the model's owners."
)


def insufficient(metric: FairnessMetric, result: GateResult, evidence: Evidence) -> None:
    """Groups too small (or a rate undefined) to decide on: inconclusive, naming the groups."""
    advice = ""
    if evidence.small:
        listed = ", ".join(str(s["group"]) for s in evidence.small)
        advice = (
            f" Collect more data for group {listed} (at least {metric.policy.min_group_size} "
            "rows each)"
        )
        result.rows_needed = metric.policy.min_group_size
        result.details["group_rows_needed"] = {
            str(s["group"]): metric.policy.min_group_size for s in evidence.small
        }
    small_sample(
        result,
        "insufficient evidence: "
        + "; ".join(evidence.problems)
        + "."
        + (
            advice + ", or set"
            if advice
            else " Collect more evaluation rows for these groups, or set"
        )
        + " 'on_small_group: exclude' to gate without small groups (they are then reported, not "
        "decided on).",
    )


def _check_task(ctx: GateContext, metric: FairnessMetric) -> None:
    from pytest_modelgate.errors import MetricError
    from pytest_modelgate.stats.metrics import REGRESSION, check_task

    task = ctx.task(metric.suite)
    if metric.spec is not None:
        check_task(metric.spec, task.name, ctx.candidate.ref.describe(), task.why)
    elif task.name == REGRESSION:
        raise MetricError(
            f"{metric.item} compares rates of predicted classes, but "
            f"{ctx.candidate.ref.describe()} is a regressor ({task.why}): gate its error per "
            "group instead, for example {metric: mae, group_max: 40} (every group's error) or "
            "{metric: mae, max_difference: 10} (the gap between groups)"
        )


class ThresholdFairness:
    """``fairness[METRIC@GROUPING]``: the candidate's measure against its thresholds."""

    def __init__(self, metric: FairnessMetric) -> None:
        self.metric = metric

    def sum_requests(self, ctx: GateContext) -> list[Any]:
        return sum_requests(ctx, self.metric, ("candidate",))

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats import bootstrap as stats

        metric = self.metric
        _check_task(ctx, metric)
        rows, pos, (figures,) = model_figures(ctx, metric, ("candidate",))
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
            rows=rows,
            details={
                "by": list(metric.by),
                "summary": metric.summary,
                "bootstrap": estimate.as_dict(),
                "min_group_size": metric.policy.min_group_size,
                "on_small_group": metric.policy.on_small_group,
            },
        )
        evidence = check_evidence(metric, figures, metric.suite.target, pos)
        result.details["groups"] = table_rows(metric, figures)
        result.details["small_groups"] = evidence.small
        result.details["confidence"] = metric.policy.stats.confidence
        result.details["chart_lines"] = chart_lines(metric, figures)
        if evidence.problems:
            insufficient(metric, result, evidence)
        elif metric.summary == "worst":
            _floor(metric, figures, result)
        else:
            _summary(metric, figures, result)
        return result


def _bound_name(metric: FairnessMetric, side: str) -> str:
    if metric.policy.stats.decide_on == "point":
        return "point value"
    return f"{side} bound of the {metric.policy.stats.confidence:.0%} interval"


def _summary(metric: FairnessMetric, figures: Figures, result: GateResult) -> None:
    """A between-group difference or ratio against min/max."""
    assert result.value is not None
    where = f"{metric.item} = {result.value_text()}"
    if not np.isfinite(result.value):
        result.passed = False
        result.message = f"{where}: undefined (every group's rate is 0?)"
        return
    if metric.minimum is None and metric.maximum is None:
        result.message = f"{where}; no absolute threshold, see the champion comparison"
        return
    if metric.policy.stats.decide_on == "point":
        _summary_on_point(metric, figures, result, where)
        return

    def describe(decided: Decided) -> str:
        bound = _bounds_text(metric, decided)
        if decided.verdict == "pass":
            return f"{where}; {_extremes(figures)}; {bound}{decided.correction_text()}"
        if decided.verdict == "fail":
            return (
                f"{where}: {_section_breaks(metric, decided)}. {_extremes(figures)}. The whole "
                f"{decided.interval_name()} {decided.interval_text()} breaks the threshold"
                f"{decided.correction_text()}. {RETRAIN}"
            )
        return (
            f"INCONCLUSIVE, not enough evidence: {where}: {bound}{decided.correction_text()}: "
            f"the groups' data cannot show whether the threshold holds; "
            f"{_thin_groups(figures, result, decided)}"
        )

    result.claim = interval_claim(
        result,
        figures.summary_draws,
        float(figures.summary),
        rows=int(result.rows or 0),
        confidence=metric.policy.stats.confidence,
        describe=describe,
        minimum=metric.minimum,
        maximum=metric.maximum,
    )


def _bounds_text(metric: FairnessMetric, decided: Decided) -> str:
    name = decided.interval_name()
    parts = []
    keys = threshold_of(metric)
    if metric.maximum is not None:
        key = next(k for k in keys if k in ("max", "max_difference"))
        relation = "is above" if decided.high > metric.maximum else "is within"
        parts.append(
            f"upper bound of the {name} {decided.high:.4f} {relation} {key} {metric.maximum:g}"
        )
        if decided.verdict == "fail" and decided.low > metric.maximum:
            parts[-1] += f", and so is its lower bound {decided.low:.4f}"
    if metric.minimum is not None:
        relation = "is below" if decided.low < metric.minimum else "is within"
        parts.append(
            f"lower bound of the {name} {decided.low:.4f} {relation} min {metric.minimum:g}"
        )
        if decided.verdict == "fail" and decided.high < metric.minimum:
            parts[-1] += f", and so is its upper bound {decided.high:.4f}"
    return "; ".join(parts)


def _section_breaks(metric: FairnessMetric, decided: Decided) -> str:
    """The section interval's bound that breaks the threshold (the whole interval does)."""
    name = decided.section_name()
    keys = threshold_of(metric)
    if metric.maximum is not None and decided.low > metric.maximum:
        key = next(k for k in keys if k in ("max", "max_difference"))
        return f"upper bound of the {name} {decided.section_high:.4f} is above {key} {metric.maximum:g}"
    assert metric.minimum is not None
    return f"lower bound of the {name} {decided.section_low:.4f} is below min {metric.minimum:g}"


def _thin_groups(figures: Figures, result: GateResult, decided: Decided) -> str:
    """Which groups' thin data keeps the summary undecided, and the rows that would settle it:
    the summary's interval narrows like 1/sqrt(rows) as every group grows alike."""
    used = np.flatnonzero(figures.used)
    widths = np.nanmax(figures.high[:, used] - figures.low[:, used], axis=0)
    order = used[np.argsort(-np.nan_to_num(widths, nan=np.inf), kind="stable")]
    labels, sizes = figures.groups.labels, figures.groups.sizes
    thinnest = int(order[0])
    needed = decided.rows_needed
    total = int(result.rows or 0)
    if needed is None or total == 0:
        return (
            f"collect more data for group {labels[thinnest]} ({int(sizes[thinnest])} rows, the "
            "widest interval); the observed value sits on the threshold."
        )
    factor = needed / total
    per_group = {labels[g]: math.ceil(int(sizes[g]) * factor) for g in used}
    result.details["group_rows_needed"] = per_group
    return (
        f"collect more data for group {labels[thinnest]} ({int(sizes[thinnest])} rows, the widest "
        f"interval): at the observed rates about {factor:.1f}x the rows of every group would "
        f"settle it ({labels[thinnest]}: about {per_group[labels[thinnest]]:,} rows; "
        f"{needed:,} evaluation rows in all)."
    )


def _summary_on_point(
    metric: FairnessMetric, figures: Figures, result: GateResult, where: str
) -> None:
    assert result.value is not None
    problems = []
    if metric.maximum is not None and not result.value <= metric.maximum:
        problems.append(f"point value {result.value:.4f} is above max {metric.maximum:g}")
    if metric.minimum is not None and not result.value >= metric.minimum:
        problems.append(f"point value {result.value:.4f} is below min {metric.minimum:g}")
    result.passed = not problems
    extremes = _extremes(figures)
    result.message = (
        f"{where}: {'; '.join(problems)}. {extremes}. {RETRAIN}"
        if problems
        else f"{where}; {extremes}"
    )


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


def _floor(metric: FairnessMetric, figures: Figures, result: GateResult) -> None:
    """Every group's metric against group_min/group_max: pass when every group passes (an
    intersection of claims), fail when one group fails (a union: corrected over the groups),
    else inconclusive, naming the groups whose data is too thin."""
    from pytest_modelgate.stats.decision import rows_to_decide, sides

    name = figures.components[0]
    labels = figures.groups.labels
    used = np.flatnonzero(figures.used)
    values = figures.point[0]
    worst = used[
        int(np.argmin(values[used]) if metric.greater_is_better else np.argmax(values[used]))
    ]
    result.value = float(values[worst])
    result.low, result.high = float(figures.low[0, worst]), float(figures.high[0, worst])
    if metric.policy.stats.decide_on == "point":
        _floor_on_point(metric, figures, result, used, worst)
        return
    per_group = {
        int(g): sides(figures.draws[:, 0, g], float(values[g]), metric.minimum, metric.maximum)
        for g in used
    }
    count = len(per_group)
    p_pass = max(s.p_pass for s in per_group.values())
    p_fail = min(1.0, count * min(s.p_fail for s in per_group.values()))

    def decide(decision: Decision) -> None:
        pass_level = decision.pass_level if decision.pass_level is not None else decision.level
        fail_level = decision.fail_level if decision.fail_level is not None else decision.level
        failing = {g for g, s in per_group.items() if count * s.p_fail <= fail_level}
        undecided = {g for g, s in per_group.items() if s.p_pass > pass_level} - failing
        result.details["groups"] = table_rows(metric, figures, failing, undecided)
        needed = {
            labels[g]: rows_to_decide(
                figures.draws[:, 0, g],
                float(values[g]),
                int(figures.groups.sizes[g]),
                pass_level,
                metric.minimum,
                metric.maximum,
            )
            for g in sorted(undecided)
        }
        from pytest_modelgate.gates.policy import Decided, record
        from pytest_modelgate.stats.decision import decision_interval

        low, high = decision_interval(
            figures.draws[:, 0, worst], float(values[worst]), decision.level
        )
        rows_needed = max((n for n in needed.values() if n is not None), default=None)
        decided = Decided(
            decision, float(values[worst]), low, high, int(figures.groups.sizes[worst]), rows_needed
        )
        record(
            result,
            decided,
            float(values[worst]),
            metric.minimum,
            metric.maximum,
            f"{name} in {labels[worst]}",
        )
        if needed:
            result.details["group_rows_needed"] = needed
        result.message = _floor_message(metric, figures, decided, failing, undecided, needed, worst)

    result.claim = _claim(p_pass, p_fail, metric.policy.stats.confidence, decide)


def _claim(p_pass: float, p_fail: float, confidence: float, decide: Any) -> Any:
    from pytest_modelgate.gates.api import Claim

    return Claim(p_pass, p_fail, confidence, decide)


def _floor_message(
    metric: FairnessMetric,
    figures: Figures,
    decided: Decided,
    failing: set[int],
    undecided: set[int],
    needed: dict[str, int | None],
    worst: int,
) -> str:
    from pytest_modelgate.stats.decision import decision_interval, percent

    name = figures.components[0]
    labels = figures.groups.labels
    values = figures.point[0]

    def cell(g: int) -> str:
        return f"{name} in {labels[g]} = {estimate_text(values[g], figures.low[0, g], figures.high[0, g])}"

    keys = []
    if metric.minimum is not None:
        keys.append(f"group_min {metric.minimum:g}")
    if metric.maximum is not None:
        keys.append(f"group_max {metric.maximum:g}")
    limit = " and ".join(keys)
    if decided.verdict == "pass":
        return (
            f"worst group {labels[worst]}: {name} "
            f"{estimate_text(values[worst], figures.low[0, worst], figures.high[0, worst])}; "
            f"every group's {decided.interval_name()} clears {limit}{decided.correction_text()}"
        )
    if decided.verdict == "fail":
        section = decided.section_name()
        groups = len([g for g in np.flatnonzero(figures.used)])
        level = (decided.decision.fail_level or decided.decision.level) / max(groups, 1)
        lines = []
        for g in sorted(failing):
            low, high = decision_interval(figures.draws[:, 0, g], float(values[g]), level)
            whole = f"the whole {percent(1 - 2 * level)} interval (one of {groups} groups) [{low:.4f}, {high:.4f}]"
            if metric.minimum is not None and values[g] < metric.minimum:
                lines.append(
                    f"{cell(g)}: lower bound of the {section} {figures.low[0, g]:.4f} is below "
                    f"group_min {metric.minimum:g}, and so is {whole}"
                )
            else:
                lines.append(
                    f"{cell(g)}: upper bound of the {section} {figures.high[0, g]:.4f} is above "
                    f"group_max {metric.maximum:g}, and so is {whole}"
                )
        return "; ".join(lines) + (
            f"{decided.correction_text()}. Improve the model for these groups, or revisit the "
            "floor with its owners."
        )
    parts = []
    for g in sorted(undecided):
        rows = needed.get(labels[g])
        more = (
            f"about {rows:,} rows (has {int(figures.groups.sizes[g]):,}) would settle it at the "
            "observed value"
            if rows is not None
            else "its value sits on the threshold"
        )
        parts.append(f"{cell(g)}: collect more data for group {labels[g]}: {more}")
    return (
        f"INCONCLUSIVE, not enough evidence: the {decided.interval_name()} of some groups "
        f"straddles {limit}{decided.correction_text()}: " + "; ".join(parts) + "."
    )


def _floor_on_point(
    metric: FairnessMetric, figures: Figures, result: GateResult, used: Any, worst: Any
) -> None:
    name = figures.components[0]
    labels = figures.groups.labels
    values = figures.point[0]
    failing, problems = set(), []
    for g in used:
        value = estimate_text(values[g], figures.low[0, g], figures.high[0, g])
        if metric.minimum is not None and not values[g] >= metric.minimum:
            failing.add(int(g))
            problems.append(
                f"{name} in {labels[g]} = {value}: point value {values[g]:.4f} is below "
                f"group_min {metric.minimum:g}"
            )
        if metric.maximum is not None and not values[g] <= metric.maximum:
            failing.add(int(g))
            problems.append(
                f"{name} in {labels[g]} = {value}: point value {values[g]:.4f} is above "
                f"group_max {metric.maximum:g}"
            )
    result.passed = not problems
    result.details["groups"] = table_rows(metric, figures, failing)
    if problems:
        result.message = (
            "; ".join(problems)
            + ". Improve the model for these groups, or revisit the floor with its owners."
        )
    else:
        result.message = f"worst group {labels[worst]}: {name} {result.value_text()}"


class ChampionFairness:
    """``fairness[METRIC@GROUPING-vs-champion]``: not less fair than the champion by more
    than ``champion_margin``, measured on the same resampled rows."""

    def __init__(self, metric: FairnessMetric) -> None:
        self.metric = metric

    def sum_requests(self, ctx: GateContext) -> list[Any]:
        if ctx.champion is None:
            return []
        return sum_requests(ctx, self.metric, ("candidate", "champion"))

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats import bootstrap as stats

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
        _check_task(ctx, metric)
        rows, pos, (candidate, incumbent) = model_figures(ctx, metric, ("candidate", "champion"))
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
            rows=rows,
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
        evidence = check_evidence(metric, candidate, metric.suite.target, pos)
        if evidence.problems:
            insufficient(metric, result, evidence)
            return result
        delta = f"{diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        head = (
            f"candidate {ctx.candidate.ref.describe()} {metric.item} = {float(candidate.summary):.4f}, "
            f"champion {champion.ref.describe()} = {float(incumbent.summary):.4f}; "
            f"worsening {delta}"
        )
        if metric.policy.stats.decide_on == "point":
            result.passed = bool(np.isfinite(diff.value) and diff.value <= margin)
            result.message = (
                head
                if result.passed
                else f"{head}: point value {diff.value:.4f} exceeds champion_margin {margin:g}. "
                "The candidate may not be less fair than the champion by more than the margin."
            )
            return result

        def describe(decided: Decided) -> str:
            name = decided.interval_name()
            if decided.verdict == "pass":
                return f"{head}{decided.correction_text()}"
            if decided.verdict == "fail":
                return (
                    f"{head}: upper bound of the {decided.section_name()} "
                    f"{decided.section_high:.4f} exceeds champion_margin {margin:g}, and so does "
                    f"the whole {name} {decided.interval_text()}{decided.correction_text()}. The "
                    "candidate may not be less fair than the champion by more than the margin."
                )
            return (
                f"INCONCLUSIVE, not enough evidence: {head}: upper bound of the {name} "
                f"{decided.high:.4f} exceeds champion_margin {margin:g} but its lower bound "
                f"{decided.low:.4f} does not{decided.correction_text()}; "
                f"{decided.rows_text()}."
            )

        result.claim = interval_claim(
            result,
            worse_draws,
            worse,
            rows=rows,
            confidence=metric.policy.stats.confidence,
            describe=describe,
            maximum=margin,
            statistic=f"{metric.item} worsening vs champion v{champion.ref.version}",
        )
        return result
