"""False alarms of the live guard's error-rate check against a repeated point check and a
repeated fixed-sample test, on simulated streams of a healthy version: how many of N guards
ever fail a version whose true error rate is at or below the limit, as the looks add up; then
how many looks the check takes to fail a version that breaches the limit.

Run: python3 dev.py bench guard_false_alarms
"""

from __future__ import annotations

import time

import numpy as np

from pytest_modelgate.stats.sequential import rate_interval

ALPHA, LIMIT, PER_LOOK, RUNS = 0.05, 0.01, 200, 20_000
Z_ONE_SIDED = 1.6449  # the 95% one-sided normal quantile


def alarms(rate: float, looks: int, seed: int) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(seed)
    errors = rng.binomial(PER_LOOK, rate, size=(RUNS, looks)).cumsum(axis=1)
    requests = np.broadcast_to(PER_LOOK * np.arange(1, looks + 1), errors.shape)
    started = time.perf_counter()
    low, _ = rate_interval(errors, requests, ALPHA, LIMIT)
    spent = time.perf_counter() - started
    share = errors / requests
    point = (share > LIMIT).any(axis=1).mean()
    z = ((share - LIMIT) / np.sqrt(LIMIT * (1 - LIMIT) / requests) > Z_ONE_SIDED).any(axis=1)
    return float((low > LIMIT).any(axis=1).mean()), float(point), float(z.mean()), spent


def main() -> None:
    print(
        f"{RUNS} guards, {PER_LOOK} requests per look, error limit {LIMIT:.0%}, alpha {ALPHA:.0%}"
    )
    print("| true rate | looks | confidence sequence | point > limit | z-test at every look | "
          "decided in |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for rate in (LIMIT, LIMIT * 0.5):
        for looks in (1, 10, 30, 100):
            sequential, point, z, spent = alarms(rate, looks, seed=looks)
            per = spent / (RUNS * looks) * 1e6
            print(f"| {rate:.1%} | {looks} | {sequential:.2%} | {point:.2%} | {z:.2%} | "
                  f"{per:.1f} µs per look |")  # fmt: skip


def looks_to_fail(rate: float, looks: int = 100) -> tuple[float, float]:
    """(median looks until the check fails, share failed within ``looks``)."""
    rng = np.random.default_rng(1)
    errors = rng.binomial(PER_LOOK, rate, size=(RUNS // 10, looks)).cumsum(axis=1)
    requests = np.broadcast_to(PER_LOOK * np.arange(1, looks + 1), errors.shape)
    low, _ = rate_interval(errors, requests, ALPHA, LIMIT)
    failed = low > LIMIT
    first = np.where(failed.any(axis=1), failed.argmax(axis=1) + 1, looks + 1)
    return float(np.median(first)), float(failed.any(axis=1).mean())


def breaches() -> None:
    print("\n| true rate | median looks to fail | failed within 100 looks |")
    print("|---|---|---|")
    for factor in (1.5, 2, 5, 20):
        median, share = looks_to_fail(LIMIT * factor)
        print(f"| {LIMIT * factor:.1%} ({factor:g}x the limit) | {median:g} | {share:.1%} |")


if __name__ == "__main__":
    main()
    breaches()
