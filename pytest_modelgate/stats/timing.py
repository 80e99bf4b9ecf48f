"""In-process latency measurement robust to a shared, noisy machine.

Each repeat times ``calls`` calls with ``perf_counter_ns`` and yields its own percentile
estimates; the decision uses the median of the repeats' estimates (one disturbed repeat
cannot move it) and reports their spread. Candidate and champion are timed interleaved,
call by call in ABBA order, so drift of the machine falls on both alike.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
# the pooled distribution a failure shows
SHOWN_QUANTILES = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 100.0)

Call = Callable[[Any], object]


def time_calls(call: Call, inputs: Sequence[Any], calls: int) -> np.ndarray:
    """Nanoseconds of each of ``calls`` calls, cycling through ``inputs``."""
    clock = time.perf_counter_ns
    out = np.empty(calls, dtype=np.int64)
    count = len(inputs)
    for i in range(calls):
        x = inputs[i % count]
        start = clock()
        call(x)
        out[i] = clock() - start
    return out


def time_interleaved(
    first: Call, second: Call, inputs: Sequence[Any], calls: int
) -> tuple[np.ndarray, np.ndarray]:
    """Time two callables on the same inputs, alternating ABBA so neither always goes first."""
    clock = time.perf_counter_ns
    a = np.empty(calls, dtype=np.int64)
    b = np.empty(calls, dtype=np.int64)
    count = len(inputs)
    for i in range(calls):
        x = inputs[i % count]
        order = ((first, a), (second, b)) if i % 2 == 0 else ((second, b), (first, a))
        for call, out in order:
            start = clock()
            call(x)
            out[i] = clock() - start
    return a, b


def harness_overhead_ns(calls: int = 20_000) -> float:
    """Median cost the harness adds to one timed call: it times a no-op."""
    inputs = [None]
    time_calls(_noop, inputs, 1000)
    return float(np.median(time_calls(_noop, inputs, calls)))


def _noop(_: object) -> None:
    return None


@dataclass
class Repeat:
    """One repeat's estimates: percentiles in ms and throughput in rows/s."""

    p50: float
    p95: float
    p99: float
    rows_per_s: float

    def get(self, name: str) -> float:
        return float(getattr(self, name))


def summarise(ns: np.ndarray, rows: int) -> Repeat:
    ms = ns / 1e6
    p50, p95, p99 = np.percentile(ms, list(PERCENTILES.values()))
    seconds = float(ns.sum()) / 1e9
    rate = rows * len(ns) / seconds if seconds > 0 else float("inf")
    return Repeat(float(p50), float(p95), float(p99), rate)


@dataclass
class Measurement:
    """Repeated estimates of one callable at one batch size, and all raw call times."""

    batch: int
    repeats: list[Repeat]
    all_ns: list[np.ndarray] = field(repr=False)

    def median(self, name: str) -> float:
        return float(np.median([r.get(name) for r in self.repeats]))

    def spread(self, name: str) -> tuple[float, float]:
        values = [r.get(name) for r in self.repeats]
        return float(min(values)), float(max(values))

    def pooled_ms(self) -> dict[str, float]:
        ms = np.concatenate(self.all_ns) / 1e6
        values = np.percentile(ms, SHOWN_QUANTILES)
        names = ["min", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "max"]
        return {n: float(v) for n, v in zip(names, values, strict=True)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "calls": int(sum(len(a) for a in self.all_ns)),
            "repeats": [vars(r) for r in self.repeats],
            "pooled_ms": self.pooled_ms(),
        }

    def distribution_text(self, name: str) -> str:
        per_repeat = ", ".join(_fmt(r.get(name)) for r in self.repeats)
        pooled = ", ".join(f"{k} {v:.3f}" for k, v in self.pooled_ms().items())
        calls = sum(len(a) for a in self.all_ns)
        return f"{name} per repeat: {per_repeat}; all {calls} calls (ms): {pooled}"


def measure(
    call: Call, inputs: Sequence[Any], *, batch: int, warmup: int, repeats: int, calls: int
) -> Measurement:
    time_calls(call, inputs, warmup)
    estimates, raw = [], []
    with _settled_heap() as settle:
        for _ in range(repeats):
            settle()
            ns = time_calls(call, inputs, calls)
            estimates.append(summarise(ns, batch))
            raw.append(ns)
    return Measurement(batch, estimates, raw)


@contextmanager
def _settled_heap() -> Iterator[Callable[[], object]]:
    """Each repeat starts from the same heap state, not a pending collection. The heap that
    exists before timing is collected once and frozen, so the collection before each repeat
    looks only at what the timed calls left behind: in a large process (a long test session,
    a notebook) a full collection per repeat would cost seconds."""
    gc.collect()
    gc.freeze()
    try:
        yield gc.collect
    finally:
        gc.unfreeze()


def measure_pair(
    first: Call,
    second: Call,
    inputs: Sequence[Any],
    *,
    batch: int,
    warmup: int,
    repeats: int,
    calls: int,
) -> tuple[Measurement, Measurement]:
    time_interleaved(first, second, inputs, warmup)
    a_est, b_est, a_raw, b_raw = [], [], [], []
    with _settled_heap() as settle:
        for _ in range(repeats):
            settle()
            a, b = time_interleaved(first, second, inputs, calls)
            a_est.append(summarise(a, batch))
            b_est.append(summarise(b, batch))
            a_raw.append(a)
            b_raw.append(b)
    return Measurement(batch, a_est, a_raw), Measurement(batch, b_est, b_raw)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 1000 else f"{value:.3f}"
