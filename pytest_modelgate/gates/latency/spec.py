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

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


GATE = "latency"


BUDGETS = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}


STATISTICS = ("p50", "p95", "p99")


METHODS = ("predict", "predict_proba")


SECTION_KEYS = {
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
