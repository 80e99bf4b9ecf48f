"""The live guard's statistics and decisions, without servers: confidence sequences, the
checks on synthetic counts, the loop's outcomes, and a simulation of thousands of guards on a
healthy version's metric streams (the false-alarm rate stays within alpha however many looks;
a repeated point check does not)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pytest_modelgate.errors import SuiteError
from pytest_modelgate.guard.checks import (
    References,
    difference,
    distribution,
    evaluate,
    histogram_quantile,
    latency,
)
from pytest_modelgate.guard.counts import Counts, parse_text
from pytest_modelgate.guard.watch import Watch
from pytest_modelgate.promotion.guard_spec import GuardSpec, parse_guard
from pytest_modelgate.stats.sequential import (
    psi_bounds,
    rate_bounds,
    rate_interval,
    trials_to_settle,
)
from pytest_modelgate.suite.nodes import Node

ALPHA = 0.05
LIMIT = 0.02
RUNS, LOOKS, PER_LOOK = 4000, 30, 150


def healthy_streams(rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (errors, requests) at each look of RUNS guards on a version whose true
    error rate is ``rate``."""
    rng = np.random.default_rng(seed)
    errors = rng.binomial(PER_LOOK, rate, size=(RUNS, LOOKS)).cumsum(axis=1)
    requests = np.broadcast_to(PER_LOOK * np.arange(1, LOOKS + 1), errors.shape)
    return errors, requests


def test_the_sequential_check_keeps_false_alarms_within_alpha_where_repeated_point_checks_do_not() -> (
    None
):
    rows = []
    for rate in (LIMIT, LIMIT / 2):  # at the limit (the worst case) and comfortably below it
        errors, requests = healthy_streams(rate, seed=int(rate * 1e4))
        low, _ = rate_interval(errors, requests, ALPHA, LIMIT)
        sequential = (low > LIMIT).any(axis=1).mean()
        point = (errors / requests > LIMIT).any(axis=1).mean()  # "error rate above 2%" each look
        # a fixed-sample one-sided test at alpha, repeated at every look (peeking)
        se = np.sqrt(LIMIT * (1 - LIMIT) / requests)
        peeking = ((errors / requests - LIMIT) / se > 1.6449).any(axis=1).mean()
        rows.append((rate, sequential, point, peeking))
    for rate, sequential, point, peeking in rows:
        print(f"true rate {rate:.1%}: sequential {sequential:.2%}, point {point:.2%}, "
              f"repeated z-test {peeking:.2%} (alpha {ALPHA:.0%}, {LOOKS} looks, {RUNS} guards)")  # fmt: skip
    monte_carlo = 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)
    at_limit, below = rows
    assert at_limit[1] <= ALPHA + monte_carlo
    assert below[1] <= ALPHA + monte_carlo
    assert at_limit[2] > 2 * ALPHA
    assert at_limit[3] > 2 * ALPHA
    assert below[3] > below[1]


def test_a_gross_error_rate_fails_within_three_looks_in_nearly_every_run() -> None:
    errors, requests = healthy_streams(0.2, seed=7)  # a fifth of requests failing
    low, _ = rate_interval(errors[:, :3], requests[:, :3], ALPHA / 6, 0.05)
    assert (low > 0.05).any(axis=1).mean() > 0.99


def test_confidence_sequences_cover_the_estimate_and_narrow_with_data() -> None:
    wide, narrow = rate_bounds(4, 100, ALPHA, LIMIT), rate_bounds(40, 1000, ALPHA, LIMIT)
    assert wide.low < 0.04 < wide.high
    assert narrow.low < 0.04 < narrow.high
    assert narrow.high - narrow.low < wide.high - wide.low
    assert rate_bounds(0, 0, ALPHA, LIMIT).verdict(LIMIT) == "inconclusive"
    assert rate_bounds(0, 5000, ALPHA, LIMIT).verdict(LIMIT) == "pass"
    assert rate_bounds(300, 1000, ALPHA, LIMIT).verdict(LIMIT) == "fail"


def test_trials_to_settle_is_where_the_interval_clears_the_limit() -> None:
    needed = trials_to_settle(0.01, LIMIT, ALPHA, 100)
    assert needed is not None
    assert needed > 100
    assert rate_bounds(round(0.01 * needed), needed, ALPHA, LIMIT).verdict(LIMIT) == "pass"
    assert trials_to_settle(LIMIT, LIMIT, ALPHA, 100) is None


def test_psi_bounds_hold_the_point_value_and_decide_gross_drift() -> None:
    reference = np.array([0.25, 0.25, 0.25, 0.25])
    same = psi_bounds(np.array([250, 250, 250, 250]), reference, ALPHA)
    assert same.low == 0.0
    assert same.estimate < same.high < 0.5
    shifted = psi_bounds(np.array([400, 0, 0, 0]), reference, ALPHA)
    assert shifted.low <= shifted.estimate
    assert shifted.verdict(0.5) == "fail"
    assert psi_bounds(np.array([3, 2, 4, 1]), reference, ALPHA).verdict(0.5) == "inconclusive"


def counts(requests: float, errors: float = 0.0, **kwargs: object) -> Counts:
    return Counts(frozenset({"2"}), requests, errors, **kwargs)  # type: ignore[arg-type]


def test_latency_is_decided_from_the_buckets_either_side_of_the_budget() -> None:
    buckets = {0.05: 900.0, 0.1: 960.0, 0.25: 1000.0, math.inf: 1000.0}
    # p95 within 75 ms: requests above 50 ms (100) may be slower, those above 100 ms (40) are
    slow = latency(counts(1000, buckets=buckets), 0.95, 0.075, ALPHA)
    assert slow.verdict == "inconclusive"
    assert "40 to 100 of 1000" in slow.text
    assert latency(counts(1000, buckets=buckets), 0.8, 0.1, ALPHA).verdict == "pass"
    assert latency(counts(1000, buckets=buckets), 0.99, 0.05, ALPHA).verdict == "fail"
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.05 * 500 / 900)


def test_drift_counts_are_compared_bin_by_bin_with_the_reference() -> None:
    refs = References({"x": (["0", "1"], [0.5, 0.5])}, {"a": 0.5, "b": 0.5})
    spec = GuardSpec(url="http://x", error_rate=None)
    drifted = counts(500, bins={"x": {"0": 500.0}}, predictions={"a": 250.0, "b": 250.0})
    found = {f.check: f.verdict for f in evaluate(spec, drifted, refs)}
    assert found == {"drift x": "fail", "prediction mix": "pass"}
    unseen_class = distribution("prediction mix", [0, 300, 200], [0.5, 0.5, 0.0], 0.25, ALPHA)
    assert unseen_class.verdict == "fail"


METRICS = """# TYPE bentoml_service_request_total counter
bentoml_service_request_total{endpoint="/predict",http_response_code="200"} 90.0
bentoml_service_request_total{endpoint="/predict",http_response_code="500"} 10.0
bentoml_service_request_total{endpoint="/metrics",http_response_code="200"} 7.0
# TYPE bentoml_service_request_duration_seconds histogram
bentoml_service_request_duration_seconds_bucket{endpoint="/predict",le="0.1"} 95.0
bentoml_service_request_duration_seconds_bucket{endpoint="/predict",le="+Inf"} 100.0
# TYPE modelgate_errors_total counter
modelgate_errors_total{kind="model",reason="ValueError"} 4.0
modelgate_errors_total{kind="validation",reason="missing"} 3.0
# TYPE modelgate_predictions_total counter
modelgate_predictions_total{endpoint="predict",label="a"} 60.0
# TYPE modelgate_feature_bin_rows_total counter
modelgate_feature_bin_rows_total{feature="x",bin="1"} 90.0
# TYPE modelgate_model_info gauge
modelgate_model_info{alias="staging",name="m",run_id="r",version="2"} 1.0
"""


def test_the_service_metrics_are_read_as_prediction_traffic_only() -> None:
    found = parse_text(METRICS)
    assert (found.requests, found.errors, found.model_errors) == (100.0, 10.0, 4.0)
    assert found.buckets == {0.1: 95.0, math.inf: 100.0}
    assert found.predictions == {"a": 60.0}
    assert found.bins == {"x": {"1": 90.0}}
    assert found.versions == {"2"}
    later = parse_text(METRICS.replace(" 90.0\n", " 140.0\n", 1))
    assert later.since(found).requests == 50.0
    restarted = counts(5.0)
    assert restarted.since(counts(100.0)).requests == 5.0  # a reset counts again from zero


class Stream:
    """A synthetic metric source: ``per_look`` requests each look, a share of them failing;
    ``None`` entries in ``broken`` are looks whose scrape fails."""

    def __init__(self, per_look: int, error_share: float, broken: tuple[int, ...] = ()) -> None:
        self.per_look, self.error_share, self.broken, self.calls = per_look, error_share, broken, 0

    def __call__(self) -> Counts:
        self.calls += 1
        if self.calls - 1 in self.broken:
            raise OSError("connection refused")
        n = self.per_look * (self.calls - 1)
        return counts(float(n), float(round(n * self.error_share)))


def watch(stream: Stream, **spec: object) -> Watch:
    settings = {"url": "http://x", "interval_s": 1.0, "looks": 5, "min_requests": 50,
                "drift_psi": None, "mix_psi": None, **spec}  # fmt: skip
    return Watch(GuardSpec(**settings), stream, References({}, None), "2",  # type: ignore[arg-type]
                 still_pinned=lambda: True, sleep=lambda s: None)  # fmt: skip


def test_the_loop_fails_confirms_or_says_what_traffic_would_settle_it() -> None:
    failed = watch(Stream(200, 0.25)).run()
    assert failed.verdict == "fail"
    assert len(failed.looks) == 1
    assert "error rate" in failed.why
    confirmed = watch(Stream(400, 0.0), confirm_after=3).run()
    assert confirmed.verdict == "pass"
    assert len(confirmed.looks) == 3
    quiet = watch(Stream(5, 0.0)).run()
    assert quiet.verdict == "inconclusive"
    assert "more requests" in quiet.why
    assert "no traffic is not a pass" in quiet.why


def test_unreadable_metrics_are_counted_apart_and_end_the_guard_inconclusive() -> None:
    flaky = watch(Stream(400, 0.0, broken=(1,)), confirm_after=2).run()
    assert flaky.verdict == "pass"
    assert flaky.looks[0].counts is None
    down = watch(Stream(400, 0.0, broken=(1, 2, 3, 4, 5)), measurement_errors=2).run()
    assert down.verdict == "inconclusive"
    assert "could not read the metrics" in down.why


def test_a_guard_whose_alias_moves_stops_without_acting() -> None:
    moved = watch(Stream(400, 0.5))
    moved.still_pinned = lambda: False
    outcome = moved.run()
    assert outcome.verdict == "inconclusive"
    assert outcome.stopped


def node(value: object) -> Node:
    return Node(value, Path("modelgate.yaml"), "path[0].guard", 3)


def test_a_guard_section_is_parsed_with_units_and_bad_keys_named() -> None:
    spec = parse_guard(node({"interval": "500ms", "looks": 4, "latency": {"p99": "250ms"},
                             "drift": {"psi": 0.3, "features": ["x"]}, "error_rate": None}))  # fmt: skip
    assert (spec.interval_s, spec.looks, spec.latency) == (0.5, 4, {0.99: 0.25})
    assert spec.error_rate is None
    assert (spec.drift_psi, spec.drift_features) == (0.3, ("x",))
    for bad, said in [
        ({"latncy": {}}, "unknown key"),
        ({"latency": {"p100": 1}}, "quantile"),
        ({"interval": "soon"}, "duration"),
        ({"looks": 2, "confirm_after": 3}, "exceeds looks"),
        ({"url": "http://a", "prometheus": "http://b"}, "not both"),
    ]:
        with pytest.raises(SuiteError, match=said):
            parse_guard(node(bad))


def test_a_canary_is_compared_with_its_baseline_within_a_margin() -> None:
    worse = difference("error rate vs baseline", (100, 100, 1000), (10, 10, 1000), 0.01, ALPHA)
    assert worse.verdict == "fail"
    assert "difference in" in worse.text
    same = difference("error rate vs baseline", (10, 10, 3000), (12, 12, 3000), 0.05, ALPHA)
    assert same.verdict == "pass"
    assert difference("x", (1, 1, 20), (0, 0, 20), 0.01, ALPHA).verdict == "inconclusive"


def test_the_loop_fails_a_canary_worse_than_its_baseline_though_within_its_own_limit() -> None:
    guard = watch(Stream(400, 0.04), error_rate=0.05, baseline_url="http://stable")
    guard.baseline = Stream(400, 0.0)
    outcome = guard.run()
    assert outcome.verdict == "fail"
    assert "error rate vs baseline failed" in outcome.why
