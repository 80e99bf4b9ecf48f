"""A fairness item's figures: per-group values with bootstrap intervals, the between-group
summary, the evidence the groups give, and the per-group table and chart lines as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.gates.api import GateContext
from pytest_modelgate.gates.fairness.spec import FairnessMetric, threshold_of

if TYPE_CHECKING:
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.gates.engines.requests import SumsRequest, View
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


def components_of(metric: FairnessMetric, pos_label: Any) -> tuple[Component, ...]:
    from pytest_modelgate.stats.groups import Component, rate_components

    if metric.spec is None:
        return rate_components(metric.components, pos_label)
    return (Component(metric.spec.name, metric.spec.function, metric.spec.function),)


def pos_label(metric: FairnessMetric, y_true: np.ndarray) -> Any:
    from pytest_modelgate.errors import DataError
    from pytest_modelgate.suite.nodes import unquoted_bool_hint

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
            f"{sorted(map(str, present))}{unquoted_bool_hint(chosen)}"
        )
    return chosen


def inputs(ctx: GateContext, metric: FairnessMetric, handle: ModelHandle) -> tuple[Any, Any]:
    from pytest_modelgate.errors import DataError
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

    components = components_of(metric, pos_label)
    resampler = fs.Resampler(groups, y_true, scored, pos_label)
    points = [fs.point_by_group(components, y_true, s, groups) for s in scored]
    return _figures(metric, groups, resampler, points, components)


def _figures(
    metric: FairnessMetric,
    groups: Groups,
    resampler: Any,
    points: list[np.ndarray],
    components: tuple[Component, ...],
) -> list[Figures]:
    from pytest_modelgate.stats import groups as fs

    policy = metric.policy
    draws = resampler.draws(components, policy.stats.resamples, policy.stats.seed)
    eligible = groups.sizes >= policy.min_group_size
    used = eligible if policy.on_small_group == "exclude" else np.ones_like(eligible)
    out = []
    for point, model_draws in zip(points, draws, strict=True):
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


def model_figures(
    ctx: GateContext, metric: FairnessMetric, roles: tuple[str, ...]
) -> tuple[int, Any, list[Figures]]:
    """The rows, the positive label and each model's figures on the same resampled rows: in
    memory, or from the suite's streaming or Spark pass."""
    from pytest_modelgate.stats.groups import make_groups

    handles = [_handle(ctx, role) for role in roles]
    data = ctx.eval_data(metric.suite)
    if data.streamed:
        return data.rows, *_streamed(ctx, metric, roles)
    scored = [inputs(ctx, metric, h)[1] for h in handles]
    pos = pos_label(metric, data.y)
    groups = make_groups(data.frame, metric.by)
    return data.rows, pos, compute(metric, groups, data.y, scored, pos)


def _handle(ctx: GateContext, role: str) -> ModelHandle:
    handle = ctx.candidate if role == "candidate" else ctx.champion
    assert handle is not None
    return handle


@dataclass(frozen=True)
class GroupRows:
    """One batch's group values (as strings, as make_groups reads them), truth and each
    model's labels (plain values: it runs in Spark's workers too)."""

    by: tuple[str, ...]
    target: str
    roles: tuple[str, ...]

    def __call__(self, view: View) -> tuple[list[Any], None]:
        from pytest_modelgate.gates.engines.requests import LABELS, target_of

        keys = [view.frame[c].astype(str).to_numpy() for c in self.by]
        keys.append(target_of(view, self.target))
        return [*keys, *(view.output(r, LABELS) for r in self.roles)], None


def sum_requests(
    ctx: GateContext, metric: FairnessMetric, roles: tuple[str, ...]
) -> list[SumsRequest]:
    """Counts of (group, truth, predictions) cells: what a label-based measure needs."""
    from pytest_modelgate.errors import MetricError
    from pytest_modelgate.gates.engines.requests import LABELS, SumsRequest

    for role in roles:
        inputs(ctx, metric, _handle(ctx, role))  # missing columns say so, as in memory
    if metric.spec is not None and (metric.spec.needs_proba or ctx.task(metric.suite).regression):
        raise MetricError(
            f"{metric.item}: the {metric.suite.data.engine} engine gates fairness measures of "
            "predicted labels (rates, label metrics per group); a regressor's error or a "
            "probability metric per group needs 'engine: memory'"
        )
    policy = metric.policy.stats
    return [
        SumsRequest(
            f"fairness:{'+'.join(metric.by)}:{'+'.join(roles)}",
            policy.resamples,
            policy.seed,
            0,
            GroupRows(metric.by, metric.suite.target, roles),
            columns=(*metric.by, metric.suite.target),
            outputs=tuple((r, LABELS) for r in roles),
        )
    ]


def _streamed(
    ctx: GateContext, metric: FairnessMetric, roles: tuple[str, ...]
) -> tuple[Any, list[Figures]]:
    import dataclasses

    from pytest_modelgate.stats import groups as fs
    from pytest_modelgate.stats.summed import cell_table

    (request,) = sum_requests(ctx, metric, roles)
    sums = ctx.sums(metric.suite, request)
    k = len(metric.by)
    table = cell_table(sums)
    pos = pos_label(metric, table.columns[k])
    groups = fs.cell_groups(metric.by, sums.keys)
    counts = sums.point[:, 0]
    sizes = np.bincount(groups.codes, weights=counts, minlength=len(groups.labels))
    groups = dataclasses.replace(groups, sizes=sizes.astype(np.int64))
    rows = stats_table(groups.codes, table.columns[k:], counts)
    resampler = fs.Resampler.drawn(groups, rows, sums.draws[:, :, 0].T, pos)
    components = components_of(metric, pos)
    y = table.columns[k]
    points = [
        fs.point_by_group(components, y, table.columns[k + 1 + m], groups, counts)
        for m in range(len(roles))
    ]
    return pos, _figures(metric, groups, resampler, points, components)


def stats_table(codes: np.ndarray, columns: tuple[np.ndarray, ...], counts: np.ndarray) -> Any:
    """The distinct rows as the resampler reads them: group code, truth, predictions."""
    from pytest_modelgate.stats.bootstrap import Table

    return Table((codes, *columns), counts, True)


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


def table_rows(
    metric: FairnessMetric,
    figures: Figures,
    failing: frozenset[int] | set[int] = frozenset(),
    undecided: frozenset[int] | set[int] = frozenset(),
) -> list[dict[str, Any]]:
    """The per-group table as report data (``fails_threshold``: the group breaks a floor;
    ``undecided``: its interval straddles the floor, so it needs more data)."""
    rows = []
    for g, label in enumerate(figures.groups.labels):
        row: dict[str, Any] = {
            "group": label,
            "rows": int(figures.groups.sizes[g]),
            "decided_on": bool(figures.used[g]),
            "below_min_group_size": bool(figures.groups.sizes[g] < metric.policy.min_group_size),
            "fails_threshold": g in failing,
            "undecided": g in undecided,
        }
        for c, name in enumerate(figures.components):
            row[name] = _cell_values([figures.point[c, g], figures.low[c, g], figures.high[c, g]])
        rows.append(row)
    return rows


def _cell_values(values: list[float]) -> dict[str, float | None]:
    keys = ("value", "low", "high")
    return {k: float(v) if np.isfinite(v) else None for k, v in zip(keys, values, strict=True)}


def chart_lines(metric: FairnessMetric, figures: Figures) -> list[dict[str, Any]]:
    """Where the chart draws the thresholds: one line per component panel, as data."""
    if metric.summary == "worst":
        return [
            {"component": 0, "value": value, "label": f"{key} {value:g}"}
            for key, value in threshold_of(metric).items()
        ]
    lines = []
    for c in range(len(figures.components)):
        used = figures.point[c, figures.used]
        if not used.size or not np.isfinite(used).all():
            continue
        highest = float(used.max())
        if metric.summary == "difference" and metric.maximum is not None:
            label = f"highest - max {metric.maximum:g}"
            lines.append({"component": c, "value": highest - metric.maximum, "label": label})
        if metric.summary == "ratio" and metric.minimum is not None:
            label = f"highest x min {metric.minimum:g}"
            lines.append({"component": c, "value": highest * metric.minimum, "label": label})
    return lines
