"""A malformed suite fails at collection with file:line, key and what was expected."""

from __future__ import annotations

import pytest

from .conftest import copy_column_model, eval_frame, write_suite

VALID_HEAD = """
model: m
data: {path: eval.csv}
target: y
"""


@pytest.fixture
def gated(pytester, registry):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    eval_frame(50, {"a": 0.0}).to_csv(pytester.path / "eval.csv", index=False)
    return registry.args("m", version)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "gates:\n  accuracy:\n    metrics:\n      accuracy: {min: high}\n",
            "*suite.yaml:7: gates.accuracy.metrics.accuracy.min: expected a number, got a string 'high'*",
        ),
        (
            "gates:\n  accuracy:\n    metrics:\n      acuracy: {min: 0.5}\n",
            "*suite.yaml:7: gates.accuracy.metrics.acuracy: unknown metric 'acuracy'*did you mean accuracy*",
        ),
        (
            "gates:\n  accuracy:\n    confidance: 0.9\n    metrics:\n      accuracy: {min: 0.5}\n",
            "*suite.yaml:6: gates.accuracy.confidance: unknown key; expected one of*confidence*",
        ),
        (
            "gates:\n  accuracy:\n    metrics:\n      accuracy: {}\n",
            "*gates.accuracy.metrics.accuracy: expected at least one of min, max, max_drop*",
        ),
        (
            "gates:\n  acuracy:\n    metrics: {}\n",
            "*suite.yaml:5: gates.acuracy: unknown gate; known gates:*accuracy*",
        ),
        (
            "gates:\n  accuracy:\n    confidence: 1.5\n    metrics:\n      accuracy: {min: 0.5}\n",
            "*gates.accuracy.confidence: expected a number strictly between 0 and 1, got 1.5*",
        ),
        (
            "gates:\n  accuracy:\n    metrics:\n      accuracy: {min: 0.5, params: {averge: macro}}\n",
            "*metric 'accuracy' does not take averge*",
        ),
        ("gates:\n  accuracy: [\n", "*suite.yaml:*: <top>: not valid YAML*"),
    ],
)
def test_malformed_suite_fails_collection_naming_file_line_and_key(pytester, gated, body, expected):
    write_suite(pytester.path, VALID_HEAD + body)
    result = pytester.runpytest(*gated)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*malformed gate suite: *" + expected.lstrip("*")])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_missing_target_key_is_named(pytester, gated):
    write_suite(pytester.path, "model: m\ndata: {path: eval.csv}\ngates: {}\n")
    result = pytester.runpytest(*gated)
    result.stdout.fnmatch_lines(["*suite.yaml:1: target: missing required key*"])


def test_missing_data_file_is_named_at_collection(pytester, gated):
    write_suite(
        pytester.path,
        "model: m\ndata: {path: nowhere.csv}\ntarget: y\n"
        "gates:\n  accuracy:\n    metrics:\n      accuracy: {min: 0.5}\n",
    )
    result = pytester.runpytest(*gated)
    result.stdout.fnmatch_lines(["*suite.yaml:2: data.path: no such file: *nowhere.csv*"])


def test_a_target_absent_from_the_data_fails_the_gate_with_the_columns_listed(pytester, gated):
    write_suite(
        pytester.path,
        "model: m\ndata: {path: eval.csv}\ntarget: label\n"
        "gates:\n  accuracy:\n    metrics:\n      accuracy: {min: 0.5}\n",
    )
    result = pytester.runpytest(*gated)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*could not run: target column 'label'*is not in*eval.csv; columns: y, a*"]
    )


def test_suites_of_other_models_are_not_collected(pytester, gated):
    write_suite(pytester.path, "model: other\ngates: {nonsense: 1}\n", name="other.yaml")
    write_suite(
        pytester.path,
        VALID_HEAD + "gates:\n  accuracy:\n    metrics:\n      accuracy: {min: 0.5}\n",
    )
    result = pytester.runpytest(*gated)
    result.assert_outcomes(passed=1)
