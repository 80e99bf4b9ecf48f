"""The fairness gate: fairlearn group metrics over the suite's sensitive columns, with
bootstrap intervals, a minimum group size and a champion comparison.

Suite section::

    sensitive: [sex, age_group]        # top level of the suite
    gates:
      fairness:
        confidence: 0.95               # as for accuracy: two-sided interval level
        resamples: 1000
        seed: 0
        decide_on: bound               # bound (default) or point
        on_missing_champion: fail      # fail (default) or pass
        by: [sex, age_group, [sex, age_group]]  # a list is one intersectional grouping;
                                       # default: all sensitive columns together
        pos_label: 1                   # the favourable prediction; default 1 (or True)
        min_group_size: 30             # smaller groups are insufficient evidence
        on_small_group: fail           # fail (default) or exclude (reported, not gated)
        metrics:
          demographic_parity_difference: {max: 0.1, champion_margin: 0.02}
          demographic_parity_ratio: {min: 0.8}
          equalized_odds_difference: {max: 0.2}
          recall_every_group: {metric: recall, group_min: 0.7}   # any sklearn metric
          mae_every_group: {metric: mae, group_max: 40}          # a regressor's error
          mae_gap: {metric: mae, max_difference: 10}             # between groups

Each metric and grouping is an item ``fairness[METRIC@sex]`` (``@sex+age_group`` for an
intersectional one); with ``champion_margin`` a second item ``...-vs-champion`` checks that
the candidate is not less fair than the champion by more than the margin, on the same rows.
A floor (``group_min``/``group_max``) is decided on every group's own interval bound: all of
them must pass for the item to pass (an intersection of claims needs no correction), and one
group failing fails it (a union, corrected over the groups). ``max_difference`` bounds the
between-group difference (max - min) of a metric, fairlearn's ``difference()``. Every item joins
the run's error control like any interval check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import MetricError
from pytest_modelgate.gates.policy import Policy
from pytest_modelgate.gates.policy import parse_policy as parse_stats_policy
from pytest_modelgate.stats.metrics import MetricSpec, resolve_metric

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite

GATE = "fairness"
SMALL_GROUP = ("fail", "exclude")
# fairlearn's between-group measures: the per-group rates they compare and how
MEASURES: dict[str, tuple[tuple[str, ...], str]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": (("true_positive_rate",), "difference"),
    "equal_opportunity_ratio": (("true_positive_rate",), "ratio"),
}
SECTION_KEYS = {
    "family",
    "confidence",
    "resamples",
    "seed",
    "decide_on",
    "on_missing_champion",
    "by",
    "pos_label",
    "min_group_size",
    "on_small_group",
    "metrics",
    "required",
}
_METRIC_KEYS = {"measure", "metric", "params", "max", "min", "group_min", "group_max"}
_METRIC_KEYS |= {"champion_margin", "max_difference"}


@dataclass(frozen=True)
class FairnessPolicy:
    stats: Policy
    pos_label: Any
    min_group_size: int
    on_small_group: str


@dataclass(frozen=True)
class FairnessMetric:
    """One measure over one grouping, with its thresholds."""

    label: str
    summary: str  # difference, ratio or worst (a per-group floor)
    components: tuple[str, ...]  # fairlearn rates, or one sklearn metric's name
    spec: MetricSpec | None  # the sklearn metric of a floor
    by: tuple[str, ...]
    minimum: float | None
    maximum: float | None
    margin: float | None
    policy: FairnessPolicy
    suite: Suite

    @property
    def item(self) -> str:
        return f"{self.label}@{'+'.join(self.by)}"

    @property
    def greater_is_better(self) -> bool:
        """Direction of the summary: a ratio or a good-metric floor is better higher."""
        if self.summary == "difference":
            return False
        if self.summary == "ratio":
            return True
        return self.spec is None or self.spec.greater_is_better


def parse_fairness_policy(node: Node) -> FairnessPolicy:
    pos_label = node.get("pos_label")
    if pos_label is not None and not isinstance(pos_label.value, str | int | bool):
        raise pos_label.error("expected a class label (a string, an integer or true/false)")
    size = node.get("min_group_size")
    small = node.get("on_small_group")
    return FairnessPolicy(
        stats=parse_stats_policy(node),
        pos_label=None if pos_label is None else pos_label.value,
        min_group_size=size.as_int(minimum=1) if size else 30,
        on_small_group=small.as_choice(SMALL_GROUP) if small else "fail",
    )


def parse_by(node: Node | None, suite: Suite) -> list[tuple[str, ...]]:
    if node is None:
        return [suite.sensitive]
    entries = node.value if isinstance(node.value, list) else [node.value]
    if not entries:
        raise node.error("expected at least one grouping")
    groupings = []
    for entry in entries:
        columns = (entry,) if isinstance(entry, str) else entry
        if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
            raise node.error(
                "expected sensitive column names, or lists of them for intersectional groups"
            )
        unknown = [c for c in columns if c not in suite.sensitive]
        if unknown:
            raise node.error(
                f"{', '.join(map(repr, unknown))} not among the suite's sensitive columns "
                f"({', '.join(suite.sensitive)})"
            )
        groupings.append(tuple(columns))
    return groupings


def parse_metric(
    label: str, node: Node, by: tuple[str, ...], policy: FairnessPolicy, suite: Suite
) -> FairnessMetric:
    node.mapping().only(_METRIC_KEYS)

    def number(key: str) -> float | None:
        child = node.get(key)
        return None if child is None else child.as_number()

    allowed: tuple[str, ...]
    forbidden: tuple[str, ...]
    if node.has("metric"):
        if node.has("measure"):
            raise node.error("expected one of 'measure' (fairlearn) or 'metric' (a floor)")
        spec, components = _floor(node), None
        if node.has("max_difference"):
            floors = [k for k in ("group_min", "group_max") if node.has(k)]
            if floors:
                raise node.require(floors[0]).error(
                    "a metric entry bounds either every group (group_min/group_max) or the "
                    "difference between groups (max_difference); use two entries for both"
                )
            summary = "difference"
            allowed, forbidden = ("max_difference",), ("min", "max")
        else:
            summary = "worst"
            allowed, forbidden = ("group_min", "group_max"), ("min", "max", "max_difference")
    else:
        measure_node = node.get("measure")
        measure = measure_node.as_choice(tuple(MEASURES)) if measure_node else label
        if measure not in MEASURES:
            raise node.error(
                f"{label!r} is not a fairlearn measure ({', '.join(MEASURES)}); name one "
                "with 'measure:', or give 'metric:' and 'group_min' for a per-group floor"
            )
        spec, (components, summary) = None, MEASURES[measure]
        allowed = ("max",) if summary == "difference" else ("min",)
        keys = ("min", "max", "group_min", "group_max", "max_difference")
        forbidden = tuple(k for k in keys if k not in allowed)
    for key in forbidden:
        if node.has(key):
            raise node.require(key).error(
                f"not a threshold of this metric; use {' or '.join(allowed)}"
            )
    bounds = {key: number(key) for key in allowed}
    margin = number("champion_margin")
    if margin is not None and margin < 0:
        raise node.require("champion_margin").error(f"expected a number >= 0, got {margin:g}")
    if all(v is None for v in bounds.values()) and margin is None:
        raise node.error(f"expected at least one of {', '.join(allowed)}, champion_margin")
    low_key, high_key = ("group_min", "group_max") if summary == "worst" else ("min", "max")
    if "max_difference" in bounds:
        high_key = "max_difference"
    return FairnessMetric(
        label=label,
        summary=summary,
        components=components or (spec.name,),  # type: ignore[union-attr]
        spec=spec,
        by=by,
        minimum=bounds.get(low_key),
        maximum=bounds.get(high_key),
        margin=margin,
        policy=policy,
        suite=suite,
    )


def _floor(node: Node) -> MetricSpec:
    params = node.get("params")
    try:
        return resolve_metric(
            node.require("metric").as_str(), params.mapping().as_plain() if params else {}
        )
    except MetricError as exc:
        raise node.require("metric").error(str(exc)) from None


def threshold_of(metric: FairnessMetric) -> dict[str, float]:
    names = ("group_min", "group_max") if metric.summary == "worst" else ("min", "max")
    if metric.spec is not None and metric.summary == "difference":
        names = ("min", "max_difference")
    pairs = zip(names, (metric.minimum, metric.maximum), strict=True)
    return {k: v for k, v in pairs if v is not None}
