"""Benchmark: what the latency and schema gates cost themselves.

- latency harness overhead: the median time the harness measures for a no-op predict, as a
  share of a 100 us model call (target: under 5%), and what it measures for a ~100 us call;
- schema gate: lazy pandera validation of 100k eval rows with the reference schemas.

    python bench/gate_costs.py [--rows 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

CALL_NS = 100_000  # the reference model call: 100 us


def spin(_: object) -> None:
    """A ~100 us call that does not sleep (sleep granularity would dominate)."""
    end = time.perf_counter_ns() + CALL_NS
    while time.perf_counter_ns() < end:
        pass


def harness(repeats: int) -> None:
    import numpy as np

    from pytest_modelgate.stats.timing import harness_overhead_ns, measure

    overheads = [harness_overhead_ns(20_000) for _ in range(repeats)]
    overhead = statistics.median(overheads)
    print(
        f"latency harness overhead (no-op predict): median {overhead:.0f} ns per call "
        f"(spread {min(overheads):.0f}-{max(overheads):.0f} over {repeats} runs) = "
        f"{overhead / CALL_NS:.2%} of a 100 us call (target < 5%)"
    )
    m = measure(spin, [None], batch=1, warmup=50, repeats=repeats, calls=2000)
    p50 = m.median("p50") * 1e6
    pooled = np.concatenate(m.all_ns)
    print(
        f"~100 us call measured: p50 {p50 / 1000:.2f} us, p99 {m.median('p99') * 1000:.2f} us "
        f"(excess over 100 us at p50: {(p50 - CALL_NS) / CALL_NS:.2%}; {len(pooled)} calls)"
    )


def schema_cost(rows: int, repeats: int) -> None:
    from pytest_modelgate.candidate.input_schema import as_schema, validate
    from pytest_modelgate.reference import datasets, schemas
    from pytest_modelgate.reference.models import CREDIT_CATEGORICAL, CREDIT_NUMERIC

    cases = [
        ("iris", schemas.IrisInput, None),
        ("german-credit", schemas.CreditInput, CREDIT_CATEGORICAL + CREDIT_NUMERIC),
    ]
    for name, model, columns in cases:
        frame = datasets.load(name, "all")
        target = datasets.target_of(name)
        X = frame[columns] if columns else frame.drop(columns=[target])
        X = X.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
        schema = as_schema(model, name)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            outcome = validate(schema, X)
            times.append(time.perf_counter() - start)
        assert outcome.passed, outcome.summary()
        best, median = min(times), statistics.median(times)
        print(
            f"schema gate eval-data on {rows} rows of {name} ({X.shape[1]} columns): "
            f"median {median * 1000:.0f} ms (min {best * 1000:.0f} ms) = "
            f"{rows / median:,.0f} rows/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    harness(args.repeats)
    schema_cost(args.rows, args.repeats)


if __name__ == "__main__":
    main()
