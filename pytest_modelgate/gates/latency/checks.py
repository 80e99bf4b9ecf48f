"""Timing and deciding a latency item: each batch size against its budgets, and the candidate
against the champion timed interleaved."""

from __future__ import annotations

import functools
import statistics
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import PredictionError
from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.latency.spec import BUDGETS, STATISTICS, Batch, LatencySpec
from pytest_modelgate.gates.policy import missing_champion

if TYPE_CHECKING:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.stats.timing import Measurement

_DISTINCT_BATCHES = 8  # rotate through a few different batches, not one cached object


def batch_inputs(handle: ModelHandle, data: Dataset, size: int) -> list[Any]:
    """A few distinct batches of ``size`` eval rows in the columns this model takes."""
    import numpy as np

    frame = handle.predictions(data).inputs
    rows = len(frame)
    return [
        frame.iloc[(np.arange(size) + k * size) % rows].reset_index(drop=True)
        for k in range(_DISTINCT_BATCHES)
    ]


def _method(handle: ModelHandle, name: str) -> Any:
    method = getattr(handle.model, name, None)
    if method is None:
        raise PredictionError(f"{handle.ref.describe()} has no {name}(); set 'method: predict'")
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
        return missing_champion(
            ctx, f"{spec.statistic} regression", threshold, spec.on_missing_champion, "latency"
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
