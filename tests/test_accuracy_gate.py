"""The accuracy gate against real registered models whose errors are known exactly."""

from __future__ import annotations

import json

import pytest

from .conftest import ScratchRegistry, assert_verdicts, copy_column_model, eval_frame, write_suite

SUITE = """
model: {model}
data: {{path: eval.csv}}
target: y
gates:
  accuracy:
    resamples: 400
    seed: 3
    decide_on: {decide_on}
    on_missing_champion: {missing}
    metrics:
      accuracy: {{min: {minimum}{drop}}}
"""


def _project(
    pytester: pytest.Pytester,
    registry: ScratchRegistry,
    *,
    rows: int,
    error_rate: float,
    minimum: float,
    decide_on: str = "bound",
    missing: str = "fail",
    max_drop: float | None = None,
) -> int:
    """Register a model that errs on exactly ``error_rate`` of ``rows`` eval rows."""
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    eval_frame(rows, {"a": error_rate}).to_csv(pytester.path / "eval.csv", index=False)
    drop = "" if max_drop is None else f", max_drop: {max_drop}"
    write_suite(
        pytester.path,
        SUITE.format(model="m", decide_on=decide_on, missing=missing, minimum=minimum, drop=drop),
    )
    return version


def test_model_above_threshold_passes_and_reports_its_interval(pytester, registry):
    version = _project(pytester, registry, rows=2000, error_rate=0.05, minimum=0.9)
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PASSED*accuracy[[]accuracy[]]*0.9500 [[]0.9*, 0.9*[]]*min 0.9*"])
    report = json.loads((pytester.path / "report.json").read_text())
    item = report["items"][0]
    assert item["outcome"] == "passed"
    low, high = item["result"]["interval"]
    assert low < 0.95 < high
    assert report["model"]["version"] == version
    assert report["promotable"] is True


def test_model_below_threshold_fails_with_figures_and_advice(pytester, registry):
    version = _project(pytester, registry, rows=500, error_rate=0.3, minimum=0.9)
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: accuracy[[]accuracy[]]*",
            "*observed*0.7000 [[]*",
            "*threshold*min 0.9 (decided on bound)*",
            "*rows*500*",
            "*lower bound of the 95% interval * is below min 0.9*Improve the model*",
            "*verdict: NOT promotable*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_point_value_above_threshold_is_inconclusive_when_its_lower_bound_is_below(
    pytester, registry
):
    # 40 rows at 90% accuracy: the point clears 0.85, the 95% lower bound (~0.8) does not
    version = _project(pytester, registry, rows=40, error_rate=0.1, minimum=0.85)
    result = pytester.runpytest(*registry.args("m", version))
    assert_verdicts(result, inconclusive=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*observed*0.9000*",
            "*point value clears the threshold but the evidence is too thin; about * evaluation "
            "rows (* more than the 40 here) would narrow the interval*",
        ]
    )


def test_deciding_on_the_point_value_is_a_configurable_policy(pytester, registry):
    version = _project(pytester, registry, rows=40, error_rate=0.1, minimum=0.85, decide_on="point")
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*min 0.85*"])


def _champion_project(
    pytester: pytest.Pytester,
    registry: ScratchRegistry,
    champion_error: float,
    candidate_error: float,
) -> int:
    """Champion copies column a, candidate copies column b; both scored on the same rows."""
    champion, Xa = copy_column_model("a")
    candidate, Xb = copy_column_model("b")
    champion_version = registry.register(champion, "m", Xa)
    registry.set_alias("m", "production", champion_version)
    candidate_version = registry.register(candidate, "m", Xb)
    frame = eval_frame(3000, {"a": champion_error, "b": candidate_error})
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(
        pytester.path,
        SUITE.format(
            model="m", decide_on="bound", missing="fail", minimum=0.5, drop=", max_drop: 0.01"
        ),
    )
    return candidate_version


def test_candidate_as_good_as_champion_passes_non_inferiority(pytester, registry):
    version = _champion_project(pytester, registry, champion_error=0.10, candidate_error=0.09)
    result = pytester.runpytest(*registry.args("m", version), "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*accuracy[[]accuracy-vs-champion[]]*PASSED*", "*v1: 0.9000*"])


def test_candidate_worse_than_champion_beyond_margin_fails(pytester, registry):
    version = _champion_project(pytester, registry, champion_error=0.05, candidate_error=0.10)
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: accuracy[[]accuracy-vs-champion[]]*",
            "*champion*v1: 0.9500*",
            "*difference -0.0500*worst plausible drop * exceeds max_drop 0.01*",
        ]
    )


def test_missing_champion_fails_by_default_and_says_how_to_allow_a_first_release(
    pytester, registry
):
    version = _project(pytester, registry, rows=500, error_rate=0.05, minimum=0.8, max_drop=0.01)
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*no champion: model 'm' has no 'production' alias; policy on_missing_champion=fail*"]
    )


def test_missing_champion_passes_under_an_explicit_policy_and_is_reported(pytester, registry):
    version = _project(
        pytester, registry, rows=500, error_rate=0.05, minimum=0.8, max_drop=0.01, missing="pass"
    )
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "r.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*accuracy-vs-champion*none (policy)*"])
    report = json.loads((pytester.path / "r.json").read_text())
    details = [i["result"]["details"] for i in report["items"]]
    assert {"champion": None, "on_missing_champion": "pass"} in details


def test_alias_selects_the_version_it_points_at(pytester, registry):
    version = _project(pytester, registry, rows=200, error_rate=0.0, minimum=0.9)
    registry.set_alias("m", "candidate", version)
    result = pytester.runpytest(*registry.args("m", alias="candidate"), "--gate-report", "r.json")
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "r.json").read_text())["model"]["version"] == version


def test_probability_and_regression_style_metrics_resolve_by_name(pytester, registry):
    version = _project(pytester, registry, rows=300, error_rate=0.1, minimum=0.5)
    write_suite(
        pytester.path,
        """
        model: m
        data: {path: eval.csv}
        target: y
        gates:
          accuracy:
            resamples: 200
            metrics:
              roc_auc: {min: 0.8}
              log_loss: {max: 10}
              recall_weighted: {metric: recall_score, params: {average: weighted}, min: 0.8}
        """,
    )
    result = pytester.runpytest(*registry.args("m", version), "-v")
    result.assert_outcomes(passed=3)


CUSTOM = """
import pytest

@pytest.mark.gate("copies-a", model="m")
def test_predictions_copy_column_a(predictions, eval_data):
    assert (predictions.labels == eval_data.frame["a"].to_numpy()).all()

@pytest.mark.gate("other-model", model="someone-else")
def test_not_ours():
    raise AssertionError("another model's gate must not run")
"""


def test_custom_gates_use_shared_fixtures_and_other_models_gates_are_left_out(pytester, registry):
    version = _project(pytester, registry, rows=100, error_rate=0.1, minimum=0.5)
    pytester.makepyfile(test_custom=CUSTOM)
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "r.json")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "r.json").read_text())
    assert {i["gate"] for i in report["items"]} == {"accuracy", "copies-a"}
    assert report["promotable"] is True


def test_a_skipped_required_gate_blocks_the_verdict(pytester, registry):
    version = _project(pytester, registry, rows=100, error_rate=0.1, minimum=0.5)
    pytester.makepyfile(
        test_custom="""
        import pytest

        @pytest.mark.gate("flaky-check")
        def test_skipped(candidate):
            pytest.skip("not today")
        """
    )
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "r.json")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*verdict: NOT promotable*", "*required gate *test_skipped skipped*"]
    )
    assert json.loads((pytester.path / "r.json").read_text())["promotable"] is False


def test_a_gate_deselected_with_k_blocks_the_verdict(pytester, registry):
    version = _project(
        pytester, registry, rows=100, error_rate=0.1, minimum=0.5, max_drop=0.1, missing="pass"
    )
    result = pytester.runpytest(*registry.args("m", version), "-k", "not champion")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*required gate *accuracy-vs-champion[]] deselected*"])
