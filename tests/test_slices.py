"""Accuracy metrics per slice: one item per slice, Holm's correction, small slices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from .conftest import ScratchRegistry, assert_verdicts, copy_column_model, write_suite

SUITE = """
model: m
data: {{path: eval.csv}}
target: y
gates:
  accuracy:
    resamples: {resamples}
    seed: 3
    metrics:
      accuracy: {{min: 0.8}}
    slices:
{slices}
"""


def rows(n: int, accuracy: float, **columns: object) -> pd.DataFrame:
    """``n`` rows where the model (column a) is right on exactly ``accuracy`` of them."""
    y = np.tile([0, 1], n // 2 + 1)[:n]
    a = y.copy()
    wrong = round((1 - accuracy) * n)
    a[:wrong] = 1 - a[:wrong]
    return pd.DataFrame({"y": y, "a": a.astype(float), **columns})


def project(
    pytester: pytest.Pytester,
    registry: ScratchRegistry,
    frame: pd.DataFrame,
    slices: str,
    resamples: int = 200,
) -> int:
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    frame.to_csv(pytester.path / "eval.csv", index=False)
    body = "\n".join("      " + line for line in slices.strip().splitlines())
    write_suite(pytester.path, SUITE.format(resamples=resamples, slices=body))
    return version


def items(pytester: pytest.Pytester) -> dict[str, dict]:
    report = json.loads((pytester.path / "report.json").read_text())
    return {i["nodeid"].split("::")[-1]: i for i in report["items"]}


def test_each_column_value_and_named_query_is_its_own_item(pytester, registry):
    frame = pd.concat([rows(1200, 0.95, g="a", age=30), rows(400, 0.6, g="b", age=70)])
    slices = 'columns: [g]\nqueries: {old: "age >= 60"}\ncorrection: none'
    version = project(pytester, registry, frame, slices)
    result = pytester.runpytest(*registry.args("m", version), "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*accuracy[[]accuracy@g=a[]] PASSED*",
            "*accuracy[[]accuracy@g=b[]] FAILED*",
            "*accuracy[[]accuracy@old[]] FAILED*",
            "*accuracy on slice g=b: interval bound * is below min 0.8; no multiple-comparison "
            "correction (correction: none)*",
        ]
    )


def holm_frame() -> pd.DataFrame:
    """Four slices at 0.84 accuracy on 400 rows: each clears min 0.8 on its own (one-sided
    p about 0.011), but not once they are decided together with the whole-data item
    (Holm: the slices' p-values are compared with 0.025 / 4 and up, 4 x 0.011 > 0.025)."""
    return pd.concat([rows(400, 0.84, g=g) for g in "abcd"])


def test_slices_that_pass_one_at_a_time_are_inconclusive_under_holms_correction(pytester, registry):
    # the run's error control decides every slice with the whole-data item in one family; the
    # slices' evidence is then too thin to decide either way: inconclusive, not failed
    version = project(pytester, registry, holm_frame(), "columns: [g]", resamples=2000)
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    assert_verdicts(result, passed=1, inconclusive=4)
    result.stdout.fnmatch_lines(
        [
            "*accuracy on slice g=a = 0.8400 [[]*]: lower bound of the * interval (Holm-adjusted: "
            "5 checks in family 'run', alpha 0.05) * is below min 0.8 (Holm-adjusted p 0.0*, raw "
            "0.01*, that it violates the threshold; 5 checks of family 'run' decided together, "
            "alpha 0.05): the point value clears the threshold but the evidence is too thin*",
            "*threshold*min 0.8 (decided on bound, Holm over 5 checks)*",
        ]
    )
    result = items(pytester)["accuracy[accuracy@g=c]"]["result"]
    control = result["error_control"]
    assert control["method"] == "holm"
    assert (control["family"], control["family_size"]) == ("run", 5)
    assert control["p_value"] < 0.025 < control["adjusted_p"]
    assert result["rows_needed"] > 400
    report = json.loads((pytester.path / "report.json").read_text())
    assert [m.split("::")[-1] for m in report["error_control"]["run"]["members"]] == [
        "accuracy[accuracy]",
        *(f"accuracy[accuracy@g={g}]" for g in "abcd"),
    ]


def test_the_same_slices_pass_without_correction(pytester, registry):
    slices = "columns: [g]\ncorrection: none"
    version = project(pytester, registry, holm_frame(), slices, resamples=2000)
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(passed=5)


def test_slices_with_strong_evidence_pass_holms_correction(pytester, registry):
    frame = pd.concat([rows(400, 0.95, g=g) for g in "abc"])
    version = project(pytester, registry, frame, "columns: [g]")
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    result.assert_outcomes(passed=4)
    result = items(pytester)["accuracy[accuracy@g=b]"]["result"]
    assert result["error_control"]["adjusted_p"] <= 0.025
    assert "Holm-adjusted p" in result["message"]


def test_small_slice_is_insufficient_evidence_and_left_out_of_the_family(pytester, registry):
    # a slice too small to decide on is inconclusive (it blocks promotion) and makes no claim
    frame = pd.concat([rows(400, 0.95, g="a"), rows(400, 0.95, g="b"), rows(12, 1.0, g="c")])
    version = project(pytester, registry, frame, "columns: [g]\nmin_rows: 30")
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    assert_verdicts(result, passed=3, inconclusive=1)
    result.stdout.fnmatch_lines(
        [
            "*insufficient evidence: slice g=c has 12 rows, below min_rows 30. Collect more*",
            "*verdict: NOT promotable*",
        ]
    )
    # the whole-data item and the two decidable slices
    assert items(pytester)["accuracy[accuracy@g=a]"]["result"]["error_control"]["family_size"] == 3


def test_small_slice_passes_only_under_an_explicit_policy(pytester, registry):
    frame = pd.concat([rows(400, 0.95, g="a"), rows(12, 0.5, g="c")])
    slices = "columns: [g]\nmin_rows: 30\non_small_slice: pass"
    version = project(pytester, registry, frame, slices)
    result = pytester.runpytest(*registry.args("m", version), "-rP")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*slice g=c has 12 rows*passed by policy on_small_slice=pass*"])


def test_slices_can_have_their_own_thresholds(pytester, registry):
    frame = pd.concat([rows(1200, 0.95, g="a"), rows(400, 0.7, g="b")])
    version = project(pytester, registry, frame, "columns: [g]\nmetrics: {accuracy: {min: 0.6}}")
    result = pytester.runpytest(*registry.args("m", version), "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*accuracy[[]accuracy@g=b[]] PASSED*"])


@pytest.mark.parametrize(
    ("slices", "expected"),
    [
        ("columns: [region]",
         "*suite.yaml:11: gates.accuracy.slices.columns: column 'region' is not in the suite's "
         "data; columns: y, a, g*"),
        ('queries: {old: "age >= "}',
         "*suite.yaml:11: gates.accuracy.slices.queries.old: DataFrame.query cannot evaluate*"),
        ("columns: [g]\nmetrics: [f1]",
         "*suite.yaml:12: gates.accuracy.slices.metrics: 'f1' is not one of this section's "
         "metrics (accuracy)*"),
        ("min_rows: 30",
         "*suite.yaml:10: gates.accuracy.slices: expected 'columns', 'queries' or both*"),
    ],
)  # fmt: skip
def test_malformed_slices_are_reported_with_file_and_line(pytester, registry, slices, expected):
    version = project(pytester, registry, rows(40, 0.9, g="a"), slices)
    result = pytester.runpytest(*registry.args("m", version))
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines([expected])
