"""Running one fairness item: per-group figures, the decision, the table and the chart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.fairness.spec import FairnessMetric, threshold_of

if TYPE_CHECKING:
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.stats.groups import Component, Groups


@dataclass
class Figures:
    """One model's per-group values and the between-group summary, with intervals."""

    groups: Groups
    components: tuple[str, ...]
    point: np.ndarray  # components x groups
    low: np.ndarray
    high: np.ndarray
    draws: np.ndarray  # resamples x components x groups
    used: np.ndarray  # groups the decision looks at
    summary: np.ndarray  # point summary (scalar array)
    summary_draws: np.ndarray


@dataclass
class Evidence:
    """Why the groups cannot be decided on: small groups and undefined values."""

    problems: list[str]
    small: list[dict[str, Any]]


def _components(metric: FairnessMetric, pos_label: Any) -> tuple[Component, ...]:
    from pytest_modelgate.stats.groups import Component, rate_components

    if metric.spec is None:
        return rate_components(metric.components, pos_label)
    return (Component(metric.spec.name, metric.spec.function, metric.spec.function),)


def _pos_label(metric: FairnessMetric, y_true: np.ndarray) -> Any:
    from pytest_modelgate.candidate.datasets import DataError

    present = set(np.unique(y_true).tolist())
    chosen = metric.policy.pos_label
    if chosen is None and metric.spec is None:
        if not present <= {0, 1}:
            raise DataError(
                f"{metric.item}: the target has labels {sorted(map(str, present))}; set "
                "'pos_label' in the fairness section to the favourable outcome"
            )
        chosen = 1
    if chosen is not None and chosen not in present:
        raise DataError(
            f"{metric.item}: pos_label {chosen!r} is not among the target's labels "
            f"{sorted(map(str, present))}"
        )
    return chosen


def _inputs(ctx: GateContext, metric: FairnessMetric, handle: ModelHandle) -> tuple[Any, Any]:
    from pytest_modelgate.candidate.datasets import DataError
    from pytest_modelgate.stats.metrics import score_input

    data = ctx.eval_data(metric.suite)
    missing = [c for c in metric.by if c not in data.frame.columns]
    if missing:
        raise DataError(
            f"sensitive column(s) {', '.join(missing)} of {metric.suite.path.name} are not in "
            f"{data.source}"
        )
    predictions = handle.predictions(data)
    if metric.spec is None:
        return data, predictions.labels
    proba = predictions.proba if metric.spec.needs_proba else None
    return data, score_input(metric.spec, predictions.labels, proba, predictions.classes)


def compute(
    metric: FairnessMetric, groups: Groups, y_true: Any, scored: list[Any], pos_label: Any
) -> list[Figures]:
    """Figures for each model's outputs, all from the same resampled rows."""
    from pytest_modelgate.stats import groups as fs

    components = _components(metric, pos_label)
    policy = metric.policy
    draws = fs.Resampler(groups, y_true, scored, pos_label).draws(
        components, policy.stats.resamples, policy.stats.seed
    )
    eligible = groups.sizes >= policy.min_group_size
    used = eligible if policy.on_small_group == "exclude" else np.ones_like(eligible)
    out = []
    for model_scored, model_draws in zip(scored, draws, strict=True):
        point = fs.point_by_group(components, y_true, model_scored, groups)
        low, high = fs.interval(model_draws, policy.stats.confidence)
        out.append(
            Figures(
                groups=groups,
                components=tuple(c.name for c in components),
                point=point,
                low=low,
                high=high,
                draws=model_draws,
                used=used,
                summary=fs.summarise(point, metric.summary, used, metric.greater_is_better),
                summary_draws=fs.summarise(
                    model_draws, metric.summary, used, metric.greater_is_better
                ),
            )
        )
    return out


def check_evidence(metric: FairnessMetric, figures: Figures, target: str, pos: Any) -> Evidence:
    """Groups too small to decide on, groups where a rate is undefined, too few groups."""
    sizes, labels, minimum = (
        figures.groups.sizes,
        figures.groups.labels,
        metric.policy.min_group_size,
    )
    small = [
        {"group": labels[g], "rows": int(sizes[g])}
        for g in range(len(labels))
        if sizes[g] < minimum
    ]
    problems = []
    if small and metric.policy.on_small_group == "fail":
        listed = ", ".join(f"{s['group']} has {s['rows']} rows" for s in small)
        problems.append(f"{listed}; below min_group_size {minimum}")
    for g in np.flatnonzero(figures.used):
        for c, name in enumerate(figures.components):
            if not np.isfinite(figures.point[c, g]):
                problems.append(
                    f"{name} is undefined in {labels[g]} ({_why_undefined(name, target, pos)})"
                )
    needed = 1 if metric.summary == "worst" else 2
    if int(figures.used.sum()) < needed:
        problems.append(
            f"only {int(figures.used.sum())} group(s) of {metric.item} have at least "
            f"{minimum} rows; at least {needed} are needed to compare"
        )
    return Evidence(problems, small)


def _why_undefined(name: str, target: str, pos: Any) -> str:
    if name == "true_positive_rate":
        return f"no rows with {target}={pos}"
    if name == "false_positive_rate":
        return f"no rows with {target}!={pos}"
    return "the metric cannot be computed on this group's rows"


def insufficient(metric: FairnessMetric, result: GateResult, evidence: Evidence) -> None:
    result.passed = False
    result.decided_on = "evidence"
    result.message = (
        "insufficient evidence: "
        + "; ".join(evidence.problems)
        + ". Collect more evaluation rows for these groups, or set 'on_small_group: exclude' "
        "to gate without small groups (they are then reported, not decided on)."
    )


def group_table(
    metric: FairnessMetric, figures: Figures, failing: frozenset[int] | set[int] = frozenset()
) -> str:
    """A fixed-width per-group table for the failure text."""
    labels = figures.groups.labels
    width = max(len("group"), *(len(label) for label in labels))
    header = f"{'group'.ljust(width)}  {'rows':>6}  " + "  ".join(
        f"{name:<26}" for name in figures.components
    )
    lines = [header.rstrip()]
    for g, label in enumerate(labels):
        cells = [
            _cell(figures.point[c, g], figures.low[c, g], figures.high[c, g])
            for c in range(len(figures.components))
        ]
        note = ""
        if figures.groups.sizes[g] < metric.policy.min_group_size:
            note = f"  below min_group_size {metric.policy.min_group_size}"
        elif g in failing:
            note = "  fails " + ", ".join(f"{k} {v:g}" for k, v in threshold_of(metric).items())
        row = f"{label.ljust(width)}  {int(figures.groups.sizes[g]):>6}  "
        lines.append((row + "  ".join(f"{cell:<26}" for cell in cells)).rstrip() + note)
    return "\n".join(lines)


def _cell(value: float, low: float, high: float) -> str:
    if not np.isfinite(value):
        return "undefined"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def table_rows(metric: FairnessMetric, figures: Figures) -> list[dict[str, Any]]:
    """The per-group table as report data."""
    rows = []
    for g, label in enumerate(figures.groups.labels):
        row: dict[str, Any] = {
            "group": label,
            "rows": int(figures.groups.sizes[g]),
            "decided_on": bool(figures.used[g]),
            "below_min_group_size": bool(figures.groups.sizes[g] < metric.policy.min_group_size),
        }
        for c, name in enumerate(figures.components):
            row[name] = _plain([figures.point[c, g], figures.low[c, g], figures.high[c, g]])
        rows.append(row)
    return rows


def _plain(values: list[float]) -> dict[str, float | None]:
    keys = ("value", "low", "high")
    return {k: float(v) if np.isfinite(v) else None for k, v in zip(keys, values, strict=True)}


def chart(ctx: GateContext, metric: FairnessMetric, figures: Figures) -> dict[str, str]:
    """Draw the per-group chart next to the report and attach it to the candidate's run."""
    from pytest_modelgate.candidate.registry import RegistryError
    from pytest_modelgate.report.fairness_chart import draw

    ref = ctx.candidate.ref
    safe = re.sub(r"[^A-Za-z0-9_.@+-]", "_", metric.item)
    path = ctx.artifact_dir / f"fairness-{ref.name}-v{ref.version}-{safe}.png"
    level = f"{metric.policy.stats.confidence:.0%}"
    draw(
        path,
        f"{ref.describe()}: {metric.item} (bars: {level} intervals; grey: not decided on)",
        figures.components,
        figures.groups.labels,
        figures.point,
        figures.low,
        figures.high,
        figures.used,
        _lines(metric, figures),
    )
    out = {"chart": str(path)}
    try:
        out["chart_artifact"] = ctx.log_artifact(path, "modelgate/fairness")
    except RegistryError as exc:  # the chart illustrates the decision; it is not the evidence
        out["chart_artifact_error"] = str(exc)
    return out


def _lines(metric: FairnessMetric, figures: Figures) -> list[Any]:
    from pytest_modelgate.report.fairness_chart import Line

    if metric.summary == "worst":
        return [Line(0, value, f"{key} {value:g}") for key, value in threshold_of(metric).items()]
    lines = []
    for c in range(len(figures.components)):
        used = figures.point[c, figures.used]
        if not used.size or not np.isfinite(used).all():
            continue
        highest = float(used.max())
        if metric.summary == "difference" and metric.maximum is not None:
            lines.append(Line(c, highest - metric.maximum, f"highest - max {metric.maximum:g}"))
        if metric.summary == "ratio" and metric.minimum is not None:
            lines.append(Line(c, highest * metric.minimum, f"highest x min {metric.minimum:g}"))
    return lines


class ThresholdFairness:
    """``fairness[METRIC@GROUPING]``: the candidate's measure against its thresholds."""

    def __init__(self, metric: FairnessMetric) -> None:
        self.metric = metric

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats import bootstrap as stats
        from pytest_modelgate.stats.groups import make_groups

        metric = self.metric
        data, scored = _inputs(ctx, metric, ctx.candidate)
        pos = _pos_label(metric, data.y)
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
        result.details["groups"] = table_rows(metric, figures)
        result.details["small_groups"] = evidence.small
        result.details.update(chart(ctx, metric, figures))
        result.message += "\n" + group_table(metric, figures, failing)
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
        return f"{labels[g]} {_cell(figures.point[c, g], figures.low[c, g], figures.high[c, g])}"

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
        value = _cell(values[g], figures.low[0, g], figures.high[0, g])
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
            return _missing_champion(ctx, metric, margin)
        data, cand = _inputs(ctx, metric, ctx.candidate)
        _, champ = _inputs(ctx, metric, champion)
        pos = _pos_label(metric, data.y)
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
                f"the margin.\ncandidate:\n{group_table(metric, candidate)}\n"
                f"champion:\n{group_table(metric, incumbent)}"
            )
        return result


def _missing_champion(ctx: GateContext, metric: FairnessMetric, margin: float) -> GateResult:
    policy = metric.policy.stats.on_missing_champion
    message = (
        f"no champion: model {ctx.candidate.ref.name!r} has no {ctx.champion_alias!r} alias; "
        f"policy on_missing_champion={policy}"
    )
    if policy == "fail":
        message += ". For a first release set 'on_missing_champion: pass' in the fairness section."
    return GateResult(
        passed=policy == "pass",
        metric=metric.item,
        threshold={"champion_margin": margin},
        decided_on="policy",
        message=message,
        details={"champion": None, "on_missing_champion": policy},
    )
