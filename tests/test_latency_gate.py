"""The latency gate against registered models whose cost per call we control."""

from __future__ import annotations

import json
import re

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite
from .flawed_models import SLEEP_S, slow_model

SUITE = """
model: m
data: {{path: eval.csv}}
target: y
gates:
  latency:
    warmup: 2
    repeats: 3
    calls: 15
    batches:
{batches}
{extra}
"""
GENEROUS = "      - {size: 1, p50_ms: 1000, p99_ms: 2000}\n      - {size: 8, min_rows_per_s: 1}"


def _write(pytester, batches: str = GENEROUS, extra: str = "") -> None:
    eval_frame(50, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE.format(batches=batches, extra=extra))


def _slow(registry: ScratchRegistry) -> int:
    _, X = copy_column_model("a")
    return registry.register(slow_model(X, X["a"].astype(int)), "m", X)


def test_fast_model_within_budget_passes_and_reports_each_batch_size(pytester, registry):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    _write(pytester)
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*latency[[]batch-1[]]*p50_ms 1000, p99_ms 2000*"])
    report = json.loads((pytester.path / "report.json").read_text())
    details = report["items"][0]["result"]["details"]
    assert len(details["measurement"]["repeats"]) == 3
    assert 0 < details["harness_overhead_ns"] < 100_000


def test_model_over_its_budget_fails_showing_the_distribution(pytester, registry):
    version = _slow(registry)
    _write(pytester, batches="      - {size: 1, p50_ms: 5}")
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: latency[[]batch-1[]]*",
            "*m v1 predict() at batch size 1: p50 *ms exceeds p50_ms 5 (median of 3 repeats, "
            "spread *); p50 per repeat: *, *, *; all 45 calls (ms): min *, p10 *, * max *",
        ]
    )
    assert SLEEP_S * 1000 > 5  # the sleep alone is over the budget
    # however busy the machine, a call cannot take less than its sleep
    assert _milliseconds(result, r"p50 ([\d.]+) ms exceeds p50_ms") >= SLEEP_S * 1000


def test_candidate_slower_than_the_champion_fails_the_interleaved_comparison(pytester, registry):
    fast, X = copy_column_model("a")
    registry.set_alias("m", "production", registry.register(fast, "m", X))
    version = _slow(registry)
    _write(pytester, extra="    max_regression: 0.5")
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: latency[[]vs-champion[]]*",
            "*champion*v1: *",
            "*candidate's p50 is *ms vs the champion v1's *ms, timed interleaved: +*% "
            "(per repeat: +*%, +*%, +*%) exceeds max_regression 50%*",
            "candidate p50 per repeat: *",
            "champion p50 per repeat: *",
        ]
    )
    assert _milliseconds(result, r"candidate's p50 is ([\d.]+) ms") >= SLEEP_S * 1000


def _milliseconds(result, pattern: str) -> float:
    found = re.search(pattern, result.stdout.str())
    assert found is not None, result.stdout.str()
    return float(found.group(1))


def test_suite_without_a_single_row_batch_is_rejected_with_file_and_line(pytester, registry):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    _write(pytester, batches="      - {size: 8, p50_ms: 5}")
    result = pytester.runpytest(*registry.args("m", version))
    result.stdout.fnmatch_lines(
        ["*suite.yaml:9: gates.latency.batches: expected a batch of size 1*"]
    )
