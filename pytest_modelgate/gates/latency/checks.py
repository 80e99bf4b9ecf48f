"""The latency gate: in-process timing of the loaded candidate, robust to a noisy machine.

Suite section::

    latency:
      warmup: 20              # untimed calls first (caches, lazy imports)
      repeats: 5              # independent estimates; the decision is on their median
      calls: 200              # timed calls per repeat
      method: predict         # or predict_proba
      batches:                # batch size 1 is required: it is what one request pays
        - {size: 1, p50_ms: 5, p95_ms: 10, p99_ms: 20}
        - {size: 64, p99_ms: 50, min_rows_per_s: 5000}
      max_regression: 0.25    # optional: candidate at most 25% slower than the champion
      regression_statistic: p50
      on_missing_champion: pass

Items: ``latency[batch-N]`` for each batch size, and ``latency[vs-champion]`` with
``max_regression`` (both models timed in the same run, interleaved call by call).
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.api import Check, GateContext, GateResult, gate_required

if TYPE_CHECKING:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.stats.timing import Measurement
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite

GATE = "latency"
BUDGETS = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}
STATISTICS = ("p50", "p95", "p99")
METHODS = ("predict", "predict_proba")
_SECTION_KEYS = {
    "warmup",
    "repeats",
    "calls",
    "method",
    "batches",
    "max_regression",
    "regression_statistic",
    "on_missing_champion",
    "required",
}
_BATCH_KEYS = {"size", *BUDGETS, "min_rows_per_s"}
_DISTINCT_BATCHES = 8  # rotate through a few different batches, not one cached object


@dataclass(frozen=True)
class Timing:
    warmup: int
    repeats: int
    calls: int
    method: str


@dataclass(frozen=True)
class Batch:
    size: int
    budgets: dict[str, float]  # p50_ms / p95_ms / p99_ms -> ms
    min_rows_per_s: float | None


@dataclass(frozen=True)
class LatencySpec:
    timing: Timing
    batches: tuple[Batch, ...]
    max_regression: float | None
    statistic: str
    on_missing_champion: str
    suite: Suite


class LatencyGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(_SECTION_KEYS)
        spec = parse_spec(node, suite)
        required = gate_required(node)
        checks = [
            Check(GATE, f"batch-{b.size}", functools.partial(check_batch, spec, b), required)
            for b in spec.batches
        ]
        if spec.max_regression is not None:
            checks.append(
                Check(GATE, "vs-champion", functools.partial(check_champion, spec), required)
            )
        return checks


# -- parsing ---------------------------------------------------------------------------------


def parse_spec(node: Node, suite: Suite) -> LatencySpec:
    def integer(key: str, default: int, minimum: int) -> int:
        return node.require(key).as_int(minimum=minimum) if node.has(key) else default

    def choice(key: str, choices: tuple[str, ...], default: str) -> str:
        return node.require(key).as_choice(choices) if node.has(key) else default

    timing = Timing(
        warmup=integer("warmup", 20, 0),
        repeats=integer("repeats", 5, 1),
        calls=integer("calls", 200, 10),
        method=choice("method", METHODS, "predict"),
    )
    max_regression = None
    if node.has("max_regression"):
        regression = node.require("max_regression")
        max_regression = regression.as_number()
        if max_regression < 0:
            raise regression.error(f"expected a number >= 0, got {max_regression:g}")
    return LatencySpec(
        timing=timing,
        batches=_batches(node.require("batches")),
        max_regression=max_regression,
        statistic=choice("regression_statistic", STATISTICS, "p50"),
        on_missing_champion=choice("on_missing_champion", ("fail", "pass"), "fail"),
        suite=suite,
    )


def _batches(node: Node) -> tuple[Batch, ...]:
    from pytest_modelgate.suite.nodes import Node

    if not isinstance(node.value, list) or not node.value:
        raise node.error("expected a list of batches such as [{size: 1, p95_ms: 10}]")
    batches: list[Batch] = []
    for i, value in enumerate(node.value):
        entry = Node(value, node.path, f"{node.key}[{i}]", getattr(value, "line", node.line))
        batch = _batch(entry)
        if any(b.size == batch.size for b in batches):
            raise entry.error(f"batch size {batch.size} is declared twice")
        batches.append(batch)
    if not any(b.size == 1 for b in batches):
        raise node.error("expected a batch of size 1: single-row latency is what a request pays")
    return tuple(batches)


def _batch(entry: Node) -> Batch:
    entry.mapping().only(_BATCH_KEYS)
    size = entry.require("size").as_int(minimum=1)
    budgets = {}
    for key in BUDGETS:
        if entry.has(key):
            budget = entry.require(key)
            budgets[key] = budget.as_number()
            if budgets[key] <= 0:
                raise budget.error(f"expected a number > 0, got {budgets[key]:g}")
    rate = entry.require("min_rows_per_s").as_number() if entry.has("min_rows_per_s") else None
    if not budgets and rate is None:
        raise entry.error(f"expected at least one of {', '.join(BUDGETS)}, min_rows_per_s")
    return Batch(size, budgets, rate)


# -- running ---------------------------------------------------------------------------------


def batch_inputs(handle: ModelHandle, data: Dataset, size: int) -> list[Any]:
    """A few distinct batches of ``size`` eval rows in the columns this model takes."""
    import numpy as np

    wanted = handle.ref.input_names
    frame = data.frame
    frame = frame.loc[:, list(wanted)] if wanted and set(wanted) <= set(frame) else data.X
    rows = len(frame)
    return [
        frame.iloc[(np.arange(size) + k * size) % rows].reset_index(drop=True)
        for k in range(_DISTINCT_BATCHES)
    ]


def _method(handle: ModelHandle, name: str) -> Any:
    method = getattr(handle.model, name, None)
    if method is None:
        raise AttributeError(f"{handle.ref.describe()} has no {name}(); set 'method: predict'")
    return method


def check_batch(spec: LatencySpec, batch: Batch, ctx: GateContext) -> GateResult:
    from pytest_modelgate.stats.timing import harness_overhead_ns, measure

    t = spec.timing
    inputs = batch_inputs(ctx.candidate, ctx.eval_data(spec.suite), batch.size)
    call = _method(ctx.candidate, t.method)
    m = measure(call, inputs, batch=batch.size, warmup=t.warmup, repeats=t.repeats, calls=t.calls)
    overhead = harness_overhead_ns(2000)
    return decide_batch(batch, m, overhead, f"{ctx.candidate.ref.describe()} {t.method}()")


def decide_batch(batch: Batch, m: Measurement, overhead_ns: float, what: str) -> GateResult:
    problems, headroom = [], []
    for key, budget in batch.budgets.items():
        stat = BUDGETS[key]
        observed = m.median(stat)
        headroom.append((observed / budget, stat, key))
        if not observed <= budget:
            low, high = m.spread(stat)
            problems.append(
                f"{stat} {observed:.3f} ms exceeds {key} {budget:g} (median of "
                f"{len(m.repeats)} repeats, spread {low:.3f}-{high:.3f}); "
                + m.distribution_text(stat)
            )
    if batch.min_rows_per_s is not None:
        rate = m.median("rows_per_s")
        headroom.append((batch.min_rows_per_s / rate if rate else float("inf"), "rows_per_s", ""))
        if not rate >= batch.min_rows_per_s:
            low, high = m.spread("rows_per_s")
            problems.append(
                f"throughput {rate:.0f} rows/s is below min_rows_per_s {batch.min_rows_per_s:g} "
                f"(spread {low:.0f}-{high:.0f}); " + m.distribution_text("rows_per_s")
            )
    _, stat, _ = max(headroom)  # the statistic closest to (or furthest over) its limit
    low, high = m.spread(stat)
    threshold = dict(batch.budgets)
    if batch.min_rows_per_s is not None:
        threshold["min_rows_per_s"] = batch.min_rows_per_s
    result = GateResult(
        passed=not problems,
        metric=f"{stat} ms" if stat != "rows_per_s" else "rows/s",
        value=m.median(stat),
        low=low,
        high=high,
        threshold=threshold,
        decided_on="median of repeats",
        rows=batch.size,
        details={"measurement": m.as_dict(), "harness_overhead_ns": overhead_ns},
    )
    prefix = f"{what} at batch size {batch.size}: "
    if problems:
        result.message = (
            prefix + "\n".join(problems) + ". Make the model faster or revisit the budget."
        )
    else:
        summary = ", ".join(f"{s} {m.median(s):.3f} ms" for s in STATISTICS)
        result.message = (
            prefix + f"{summary}, {m.median('rows_per_s'):.0f} rows/s; harness overhead "
            f"{overhead_ns / 1000:.2f} us/call"
        )
    return result


def _call_on(method: Any, index: int, pair: tuple[Any, Any]) -> object:
    """Each model gets the batch in its own columns: pair holds (candidate's, champion's)."""
    return method(pair[index])


def check_champion(spec: LatencySpec, ctx: GateContext) -> GateResult:
    from pytest_modelgate.stats.timing import measure_pair

    threshold = {"max_regression": spec.max_regression or 0.0}
    champion = ctx.champion
    if champion is None:
        passed = spec.on_missing_champion == "pass"
        return GateResult(
            passed=passed,
            metric=f"{spec.statistic} regression",
            threshold=threshold,
            decided_on="policy",
            message=(
                f"no champion: model {ctx.candidate.ref.name!r} has no {ctx.champion_alias!r} "
                f"alias; policy on_missing_champion={spec.on_missing_champion}"
            ),
        )
    t, data = spec.timing, ctx.eval_data(spec.suite)
    ours, theirs = _method(ctx.candidate, t.method), _method(champion, t.method)
    worst: tuple[float, int, list[float], Measurement, Measurement] | None = None
    per_batch = {}
    for batch in spec.batches:
        inputs = list(
            zip(
                *(batch_inputs(h, data, batch.size) for h in (ctx.candidate, champion)), strict=True
            )
        )
        cand, champ = measure_pair(
            functools.partial(_call_on, ours, 0),
            functools.partial(_call_on, theirs, 1),
            inputs,
            batch=batch.size,
            warmup=t.warmup,
            repeats=t.repeats,
            calls=t.calls,
        )
        ratios = [
            c.get(spec.statistic) / h.get(spec.statistic) - 1
            for c, h in zip(cand.repeats, champ.repeats, strict=True)
        ]
        regression = statistics.median(ratios)
        per_batch[batch.size] = {
            "regression": regression,
            "per_repeat": ratios,
            "candidate": cand.as_dict(),
            "champion": champ.as_dict(),
        }
        if worst is None or regression > worst[0]:
            worst = (regression, batch.size, ratios, cand, champ)
    assert worst is not None
    regression, size, ratios, cand, champ = worst
    stat = spec.statistic
    result = GateResult(
        passed=regression <= threshold["max_regression"],
        metric=f"{stat} regression (batch {size})",
        value=regression,
        low=min(ratios),
        high=max(ratios),
        threshold=threshold,
        decided_on="median of repeats",
        rows=size,
        champion_version=champion.ref.version,
        champion_value=champ.median(stat),
        details={"statistic": stat, "batches": per_batch},
    )
    text = (
        f"at batch size {size} the candidate's {stat} is {cand.median(stat):.3f} ms vs the "
        f"champion v{champion.ref.version}'s {champ.median(stat):.3f} ms, timed interleaved: "
        f"{regression:+.1%} (per repeat: {', '.join(f'{r:+.1%}' for r in ratios)})"
    )
    if result.passed:
        result.message = text
    else:
        result.message = (
            text
            + f" exceeds max_regression {threshold['max_regression']:.0%}.\ncandidate "
            + cand.distribution_text(stat)
            + "\nchampion "
            + champ.distribution_text(stat)
        )
    return result
