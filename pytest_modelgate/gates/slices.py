"""Gate metrics per slice of the evaluation data; each slice is a claim of the run's error control.

Suite syntax, inside a gate section that supports it (accuracy)::

    slices:
      columns: [sex, age_group]            # one slice per value: accuracy[f1@sex=female]
      queries:                             # named pandas DataFrame.query filters
        young_women: "sex == 'female' and age < 26"
      metrics: [f1]                        # default: every metric with min/max;
                                           # or {f1: {min: 0.6}} to set slice thresholds
      min_rows: 30                         # smaller slices are insufficient evidence
      on_small_slice: fail                 # fail (default: inconclusive) or pass
      correction: holm                     # holm (default) or none

Column values are read from the suite's data when the suite is collected, so each slice
is its own pytest item and a missing column or a bad query is a suite error with its line.

Each slice item claims "this slice meets the threshold". Deciding many slices at the
usual level would let some false claims through by chance, so with ``correction: holm`` every
slice joins its section's error-control family (the run's, unless the section names one):
the run decides the whole family together (Holm's step-down on the one-sided bootstrap
p-values, see ``gates.policy.decide_family``) and each item reports its raw and adjusted
p-value and the family. ``correction: none`` decides each slice alone at the section's
confidence. A slice below ``min_rows`` makes no claim: it is inconclusive (collect more data
for it), or passes by the explicit policy ``on_small_slice: pass``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.gates.api import Check, GateContext, GateResult

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.gates.policy import Decided
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite

CORRECTIONS = ("holm", "none")
SMALL_SLICE = ("fail", "pass")
_KEYS = {"columns", "queries", "metrics", "min_rows", "on_small_slice", "correction"}

# (ctx, row mask) -> (point value, the metric on every resample)
Distribution = Callable[[GateContext, np.ndarray], tuple[float, np.ndarray]]
# the streaming engines: (ctx, slice) -> (rows, point value, the metric on every resample),
# and (ctx, slice) -> the sums the suite's pass computes for it
Streamed = Callable[[GateContext, "Slice"], tuple[int, float, np.ndarray]]
Requests = Callable[[GateContext, "Slice"], list[Any]]


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
    family: str | None = None  # the section's error-control family


@dataclass(frozen=True)
class SliceMetric:
    """What a gate hands over for one metric: its label, thresholds and resampler."""

    label: str
    minimum: float | None
    maximum: float | None
    distribution: Distribution
    streamed: Streamed | None = None
    requests: Requests | None = None


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
    """The suite's data; for a streaming engine its first rows, with every distinct value of
    the slice columns (read a batch at a time, those columns only) in place of theirs."""
    from pytest_modelgate.candidate.datasets import read_frame
    from pytest_modelgate.errors import DataError

    try:
        if suite.data.engine != "memory":
            return _streamed_frame(node, suite)
        frame, _ = read_frame(suite.data)
    except DataError as exc:
        raise node.error(f"slices need the suite's data: {exc}") from None
    return frame


def _streamed_frame(node: Node, suite: Suite) -> pd.DataFrame:
    import pandas as pd

    from pytest_modelgate.candidate.batches import ParquetSource
    from pytest_modelgate.candidate.datasets import SAMPLE_ROWS

    source = ParquetSource(suite.data.location)
    sample = source.head(source.columns, SAMPLE_ROWS)
    wanted = node.get("columns")
    columns = [c for c in (wanted.as_str_list() if wanted else []) if c in source.columns]
    if not columns:
        return sample
    values: dict[str, set[Any]] = {c: set() for c in columns}
    for batch in source.batches(columns, suite.data.batch_rows):
        for c in columns:
            values[c].update(batch.frame[c].dropna().unique().tolist())
    longest = max(len(v) for v in values.values())
    distinct = {
        c: pd.Series(sorted(v, key=str) + [None] * (longest - len(v))) for c, v in values.items()
    }
    return pd.concat([sample.drop(columns=columns).head(longest), pd.DataFrame(distinct)], axis=1)


def parse_policy(
    node: Node, confidence: float, decide_on: str, family: str | None = None
) -> SlicePolicy:
    rows = node.get("min_rows")
    small = node.get("on_small_slice")
    correction = node.get("correction")
    return SlicePolicy(
        min_rows=rows.as_int(minimum=1) if rows else 30,
        on_small_slice=small.as_choice(SMALL_SLICE) if small else "fail",
        correction=correction.as_choice(CORRECTIONS) if correction else "holm",
        confidence=confidence,
        decide_on=decide_on,
        family=family,
    )


def slice_checks(
    gate: str,
    slices: list[Slice],
    policy: SlicePolicy,
    metrics: Sequence[SliceMetric],
    suite: Suite,
    required: bool,
) -> list[Check]:
    family = policy.family if policy.correction == "holm" else None
    checks = []
    for metric in metrics:
        for item in slices:
            checks.append(
                Check(
                    gate,
                    f"{metric.label}@{item.name}",
                    SliceCheck(metric, item, policy, suite),
                    required,
                    family=family,
                )
            )
    return checks


class SliceCheck:
    """One metric on one slice: a claim against the metric's slice thresholds."""

    def __init__(self, metric: SliceMetric, item: Slice, policy: SlicePolicy, suite: Suite) -> None:
        self.metric, self.item, self.policy, self.suite = metric, item, policy, suite

    def sum_requests(self, ctx: GateContext) -> list[Any]:
        return [] if self.metric.requests is None else self.metric.requests(ctx, self.item)

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.gates.api import estimate_text
        from pytest_modelgate.gates.policy import describe_bounds, interval_claim
        from pytest_modelgate.stats import bootstrap as stats

        data = ctx.eval_data(self.suite)
        if data.streamed:
            if self.metric.streamed is None:
                from pytest_modelgate.errors import MetricError

                raise MetricError(
                    f"slice {self.item.name} of {self.metric.label}: this gate's slices are not "
                    f"computed on the {self.suite.data.engine} engine; use 'engine: memory'"
                )
            rows, point, values = self.metric.streamed(ctx, self.item)
            if rows < self.policy.min_rows:
                return self._small(rows)
        else:
            mask = self.item.mask(data.frame)
            rows = int(mask.sum())
            if rows < self.policy.min_rows:
                return self._small(rows)
            point, values = self.metric.distribution(ctx, mask)
        estimate = stats.summarise(point, values, self.policy.confidence, values.size)
        label = f"{self.metric.label}@{self.item.name}"
        result = GateResult(
            passed=True,
            metric=label,
            value=estimate.value,
            low=estimate.low,
            high=estimate.high,
            threshold=self._threshold(),
            decided_on=self.policy.decide_on,
            rows=rows,
            details={
                "slice": self.item.name,
                "query": self.item.query,
                "bootstrap": estimate.as_dict(),
            },
        )
        if self.policy.decide_on == "point":
            self._point_decision(result)
            return result
        head = (
            f"{self.metric.label} on slice {self.item.name} = "
            f"{estimate_text(estimate.value, estimate.low, estimate.high)}"
        )
        lo, hi = self.metric.minimum, self.metric.maximum

        def describe(decided: Decided) -> str:
            if self.policy.correction == "none":
                return self._uncorrected(decided)
            text = describe_bounds(
                decided,
                head,
                lo,
                hi,
                fail_advice="Improve the model on this slice.",
                what=f"rows in slice {self.item.name}",
            )
            if decided.verdict == "inconclusive":
                text += f" Collect more data for slice {self.item.name}."
            return text

        result.claim = interval_claim(
            result,
            values,
            point,
            rows=rows,
            confidence=self.policy.confidence,
            describe=describe,
            minimum=lo,
            maximum=hi,
        )
        return result

    def _threshold(self) -> dict[str, float]:
        pairs = (("min", self.metric.minimum), ("max", self.metric.maximum))
        return {k: v for k, v in pairs if v is not None}

    def _small(self, rows: int) -> GateResult:
        from pytest_modelgate.gates.policy import small_sample

        allowed = self.policy.on_small_slice == "pass"
        name = self.item.name
        message = (
            f"insufficient evidence: slice {name} has {rows} rows, below min_rows "
            f"{self.policy.min_rows}"
        )
        result = GateResult(
            passed=allowed,
            metric=f"{self.metric.label}@{name}",
            threshold=self._threshold(),
            decided_on="evidence",
            rows=rows,
            details={"slice": name, "query": self.item.query, "insufficient_evidence": True},
        )
        if allowed:
            result.message = message + "; passed by policy on_small_slice=pass"
        else:
            small_sample(
                result,
                message + f". Collect more data for slice {name} (at least "
                f"{self.policy.min_rows} rows), or set 'on_small_slice: pass'.",
            )
            result.rows_needed = self.policy.min_rows
        return result

    def _uncorrected(self, decided: Decided) -> str:
        problems = []
        if self.metric.minimum is not None and not decided.low >= self.metric.minimum:
            problems.append(f"{decided.low:.4f} is below min {self.metric.minimum:g}")
        if self.metric.maximum is not None and not decided.high <= self.metric.maximum:
            problems.append(f"{decided.high:.4f} is above max {self.metric.maximum:g}")
        text = (
            f"{self.metric.label} on slice {self.item.name}: interval bound "
            + ("; ".join(problems) if problems else "within the threshold")
            + "; no multiple-comparison correction (correction: none)"
        )
        if decided.verdict == "fail":
            text += f"; the whole {decided.interval_name()} {decided.interval_text()} is beyond it"
        elif decided.verdict == "inconclusive":
            text += (
                f"; INCONCLUSIVE: the {decided.interval_name()} {decided.interval_text()} "
                f"straddles it; {decided.rows_text(f'rows in slice {self.item.name}')}. Collect "
                f"more data for slice {self.item.name}"
            )
        return text

    def _point_decision(self, result: GateResult) -> None:
        assert result.value is not None
        problems = []
        if self.metric.minimum is not None and not result.value >= self.metric.minimum:
            problems.append(f"{result.value:.4f} is below min {self.metric.minimum:g}")
        if self.metric.maximum is not None and not result.value <= self.metric.maximum:
            problems.append(f"{result.value:.4f} is above max {self.metric.maximum:g}")
        result.passed = not problems
        result.message = (
            f"{self.metric.label} on slice {self.item.name}: point value "
            + ("; ".join(problems) if problems else "within the threshold")
            + "; no multiple-comparison correction (decided on point values)"
        )
