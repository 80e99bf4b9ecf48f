"""Gate metrics per slice of the evaluation data, decided together with Holm's correction.

Suite syntax, inside a gate section that supports it (accuracy)::

    slices:
      columns: [sex, age_group]            # one slice per value: accuracy[f1@sex=female]
      queries:                             # named pandas DataFrame.query filters
        young_women: "sex == 'female' and age < 26"
      metrics: [f1]                        # default: every metric with min/max;
                                           # or {f1: {min: 0.6}} to set slice thresholds
      min_rows: 30                         # smaller slices are insufficient evidence
      on_small_slice: fail                 # fail (default) or pass
      correction: holm                     # holm (default) or none

Column values are read from the suite's data when the suite is collected, so each slice
is its own pytest item and a missing column or a bad query is a suite error with its line.

Each slice item claims "this slice meets the threshold". Deciding many slices at the
usual level would let some false claims through by chance, so with ``correction: holm``
every slice of a metric gets a one-sided bootstrap p-value for "the slice violates the
threshold" and Holm's step-down adjustment controls the chance that any claim in the
family is wrong. The family is computed once, on the first slice item that runs; the other
items read their decision from it. Slices below ``min_rows`` are not in the family.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.gates.api import Check, GateContext, GateResult

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite

CORRECTIONS = ("holm", "none")
SMALL_SLICE = ("fail", "pass")
_KEYS = {"columns", "queries", "metrics", "min_rows", "on_small_slice", "correction"}

# (ctx, row mask) -> (point value, the metric on every resample)
Distribution = Callable[[GateContext, np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class Slice:
    name: str
    column: str | None = None
    value: Any = None
    query: str | None = None

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        if self.query is not None:
            return np.asarray(frame.index.isin(frame.query(self.query).index))
        return np.asarray((frame[self.column] == self.value).to_numpy(dtype=bool))


@dataclass(frozen=True)
class SlicePolicy:
    min_rows: int
    on_small_slice: str
    correction: str
    confidence: float
    decide_on: str


@dataclass(frozen=True)
class SliceMetric:
    """What a gate hands over for one metric: its label, thresholds and resampler."""

    label: str
    minimum: float | None
    maximum: float | None
    distribution: Distribution


def parse_slices(node: Node, suite: Suite) -> list[Slice]:
    """The slices a ``slices:`` section names, checked against the suite's data."""
    node.mapping().only(_KEYS)
    if not (node.has("columns") or node.has("queries")):
        raise node.error("expected 'columns', 'queries' or both")
    frame = _frame(node, suite)
    slices: list[Slice] = []
    if node.has("columns"):
        columns = node.require("columns")
        for column in columns.as_str_list():
            if column not in frame.columns:
                raise columns.error(
                    f"column {column!r} is not in the suite's data; columns: "
                    f"{', '.join(map(str, frame.columns))}"
                )
            for value in sorted(frame[column].dropna().unique().tolist(), key=str):
                slices.append(Slice(f"{column}={value}", column=column, value=value))
    if node.has("queries"):
        for name, query in node.require("queries").items():
            expression = query.as_str()
            try:
                frame.query(expression)
            except Exception as exc:  # pandas raises many types for a bad expression
                raise query.error(
                    f"DataFrame.query cannot evaluate {expression!r}: {type(exc).__name__}: {exc}"
                ) from None
            if any(s.name == name for s in slices):
                raise query.error(f"slice name {name!r} is already a column slice")
            slices.append(Slice(name, query=expression))
    return slices


def _frame(node: Node, suite: Suite) -> pd.DataFrame:
    from pytest_modelgate.candidate.datasets import read_frame
    from pytest_modelgate.errors import DataError

    try:
        frame, _ = read_frame(suite.data)
    except DataError as exc:
        raise node.error(f"slices need the suite's data: {exc}") from None
    return frame


def parse_policy(node: Node, confidence: float, decide_on: str) -> SlicePolicy:
    rows = node.get("min_rows")
    small = node.get("on_small_slice")
    correction = node.get("correction")
    return SlicePolicy(
        min_rows=rows.as_int(minimum=1) if rows else 30,
        on_small_slice=small.as_choice(SMALL_SLICE) if small else "fail",
        correction=correction.as_choice(CORRECTIONS) if correction else "holm",
        confidence=confidence,
        decide_on=decide_on,
    )


def slice_checks(
    gate: str,
    slices: list[Slice],
    policy: SlicePolicy,
    metrics: Sequence[SliceMetric],
    suite: Suite,
    required: bool,
) -> list[Check]:
    checks = []
    for metric in metrics:
        family = SliceFamily(metric, slices, policy, suite)
        for item in slices:
            checks.append(
                Check(gate, f"{metric.label}@{item.name}", family.reader(item.name), required)
            )
    return checks


class SliceFamily:
    """Every slice of one metric, decided together the first time any of them runs."""

    def __init__(
        self, metric: SliceMetric, slices: list[Slice], policy: SlicePolicy, suite: Suite
    ) -> None:
        self.metric, self.slices, self.policy, self.suite = metric, slices, policy, suite
        self._results: dict[str, GateResult] | None = None

    def reader(self, name: str) -> Callable[[GateContext], GateResult]:
        def run(ctx: GateContext) -> GateResult:
            if self._results is None:
                self._results = self._decide(ctx)
            return self._results[name]

        return run

    def _decide(self, ctx: GateContext) -> dict[str, GateResult]:
        from pytest_modelgate.stats import bootstrap as stats

        frame = ctx.eval_data(self.suite).frame
        results: dict[str, GateResult] = {}
        draws: dict[str, np.ndarray] = {}
        for item in self.slices:
            mask = item.mask(frame)
            rows = int(mask.sum())
            if rows < self.policy.min_rows:
                results[item.name] = self._small(item, rows)
                continue
            point, values = self.metric.distribution(ctx, mask)
            estimate = stats.summarise(point, values, self.policy.confidence, values.size)
            results[item.name] = GateResult(
                passed=True,
                metric=f"{self.metric.label}@{item.name}",
                value=estimate.value,
                low=estimate.low,
                high=estimate.high,
                threshold=self._threshold(),
                decided_on=self.policy.decide_on,
                rows=rows,
                details={"slice": item.name, "query": item.query, "bootstrap": estimate.as_dict()},
            )
            draws[item.name] = values
        self._apply(results, draws)
        return results

    def _threshold(self) -> dict[str, float]:
        pairs = (("min", self.metric.minimum), ("max", self.metric.maximum))
        return {k: v for k, v in pairs if v is not None}

    def _small(self, item: Slice, rows: int) -> GateResult:
        allowed = self.policy.on_small_slice == "pass"
        message = (
            f"insufficient evidence: slice {item.name} has {rows} rows, below min_rows "
            f"{self.policy.min_rows}"
        )
        message += (
            "; passed by policy on_small_slice=pass"
            if allowed
            else ". Collect more evaluation rows for this slice, or set 'on_small_slice: pass'."
        )
        return GateResult(
            passed=allowed,
            metric=f"{self.metric.label}@{item.name}",
            threshold=self._threshold(),
            decided_on="evidence",
            rows=rows,
            message=message,
            details={"slice": item.name, "query": item.query, "insufficient_evidence": True},
        )

    def _apply(self, results: dict[str, GateResult], draws: dict[str, np.ndarray]) -> None:
        from pytest_modelgate.stats.bootstrap import holm, violation_p_value

        names = list(draws)
        lo, hi = self.metric.minimum, self.metric.maximum
        raw = [violation_p_value(draws[n], lo, hi) for n in names]
        holm_applies = self.policy.correction == "holm" and self.policy.decide_on == "bound"
        adjusted = holm(raw) if holm_applies and names else raw
        alpha = (1.0 - self.policy.confidence) / 2.0
        for name, p, q in zip(names, raw, adjusted, strict=True):
            result = results[name]
            result.details.update(
                {
                    "p_value": p,
                    "adjusted_p": q if holm_applies else None,
                    "alpha": alpha,
                    "correction": "holm" if holm_applies else "none",
                    "family_size": len(names),
                    "family": names,
                }
            )
            if holm_applies:
                self._holm_decision(result, p, q, alpha, len(names))
            else:
                self._plain_decision(result)

    def _holm_decision(
        self, result: GateResult, p: float, q: float, alpha: float, size: int
    ) -> None:
        result.decided_on = f"bound, Holm over {size} slices"
        result.passed = q <= alpha
        text = (
            f"Holm-adjusted p {q:.4f} (raw {p:.4f}; {size} slices of {self.metric.label} "
            f"decided together) {'<=' if result.passed else 'is above'} alpha {alpha:g}"
        )
        if result.passed:
            result.message = text
            return
        result.message = (
            f"{self.metric.label} on slice {result.details['slice']} = {result.value_text()}: "
            f"{text}: not enough evidence that this slice meets {result.threshold_text()} once "
            "the whole family of slices is accounted for. Evaluate on more rows for this "
            "slice, or improve the model on it."
        )

    def _plain_decision(self, result: GateResult) -> None:
        assert result.value is not None
        assert result.low is not None
        assert result.high is not None
        on_bound = self.policy.decide_on == "bound"
        low = result.low if on_bound else result.value
        high = result.high if on_bound else result.value
        problems = []
        if self.metric.minimum is not None and not low >= self.metric.minimum:
            problems.append(f"{low:.4f} is below min {self.metric.minimum:g}")
        if self.metric.maximum is not None and not high <= self.metric.maximum:
            problems.append(f"{high:.4f} is above max {self.metric.maximum:g}")
        result.passed = not problems
        what = "interval bound" if on_bound else "point value"
        note = "no multiple-comparison correction (correction: none"
        note += ")" if on_bound else "; decided on point values)"
        result.message = (
            f"{self.metric.label} on slice {result.details['slice']}: {what} "
            + ("; ".join(problems) if problems else "within the threshold")
            + f"; {note}"
        )
