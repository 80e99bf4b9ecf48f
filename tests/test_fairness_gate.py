"""The fairness gate against registered models whose per-group rates are known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from pytest_modelgate.reference.biased import train_biased_credit
from pytest_modelgate.reference.models import train_reference

from .conftest import ScratchRegistry, assert_verdicts, copy_column_model, write_suite

REPO = Path(__file__).resolve().parents[1]

SUITE = """
model: m
data: {{path: eval.csv}}
target: y
sensitive: {sensitive}
gates:
  fairness:
    resamples: 200
    seed: 1
{extra}
    metrics:
{metrics}
"""


def cell(rows: int, tpr: float, fpr: float, column: str = "a", **groups: str) -> pd.DataFrame:
    """Half positives; ``column`` (the model's prediction) hits exactly ``tpr`` of the
    positives and ``fpr`` of the negatives."""
    pos, neg = rows // 2, rows - rows // 2
    frame = pd.DataFrame(
        {
            "y": np.r_[np.ones(pos), np.zeros(neg)].astype(int),
            column: np.r_[np.arange(pos) < round(tpr * pos), np.arange(neg) < round(fpr * neg)],
        }
    )
    frame[column] = frame[column].astype(float)
    return frame.assign(**groups)


def project(
    pytester: pytest.Pytester,
    registry: ScratchRegistry,
    frame: pd.DataFrame,
    metrics: str,
    *,
    extra: str = "",
    sensitive: str = "[g]",
) -> int:
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(
        pytester.path,
        SUITE.format(
            sensitive=sensitive,
            extra="\n".join("    " + line for line in extra.splitlines()),
            metrics="\n".join("      " + line for line in metrics.splitlines()),
        ),
    )
    return version


def report(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "report.json").read_text())


def unequal() -> pd.DataFrame:
    """Selection rates 0.5 (g=a) and 0.2 (g=b)."""
    return pd.concat([cell(400, 0.8, 0.2, g="a"), cell(400, 0.3, 0.1, g="b")])


def test_near_equal_selection_rates_pass_with_fairlearns_own_value(pytester, registry):
    frame = pd.concat([cell(1000, 0.8, 0.2, g="a"), cell(1000, 0.84, 0.2, g="b")])
    version = project(pytester, registry, frame, "demographic_parity_difference: {max: 0.1}")
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    result.assert_outcomes(passed=1)
    item = report(pytester)["items"][0]["result"]
    expected = demographic_parity_difference(frame.y, frame.a, sensitive_features=frame.g)
    assert item["value"] == pytest.approx(expected)
    assert item["interval"][0] < expected < item["interval"][1] < 0.1
    assert [g["group"] for g in item["details"]["groups"]] == ["g=a", "g=b"]


def test_lower_selection_rate_fails_naming_the_group_value_interval_and_threshold(
    pytester, registry
):
    version = project(pytester, registry, unequal(), "demographic_parity_difference: {max: 0.1}")
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: fairness[[]demographic_parity_difference@g[]]*",
            "*demographic_parity_difference@g = 0.3000 [[]0.2*, 0.3*[]]: upper bound of the 95% "
            "interval 0.3* is above max 0.1. lowest selection_rate: g=b 0.2000 [[]*[]]; "
            "highest: g=a 0.5000*",
            "*group*rows*selection_rate*",
            "*g=a*400*0.5000 [[]*",
            "*g=b*400*0.2000 [[]*",
            "*verdict: NOT promotable*",
        ]
    )


def test_selection_rate_ratio_below_min_fails_on_its_lower_bound(pytester, registry):
    version = project(pytester, registry, unequal(), "demographic_parity_ratio: {min: 0.8}")
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*demographic_parity_ratio@g = 0.4000 [[]*: lower bound of the 95% interval * is below min 0.8*"
        ]
    )


def test_equalized_odds_catches_unequal_error_rates_behind_equal_selection_rates(
    pytester, registry
):
    frame = pd.concat([cell(600, 0.9, 0.1, g="a"), cell(600, 0.6, 0.4, g="b")])
    metrics = "demographic_parity_difference: {max: 0.1}\nequalized_odds_difference: {max: 0.1}"
    version = project(pytester, registry, frame, metrics)
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*equalized_odds_difference@g = 0.3000*", "*true_positive_rate*false_positive_rate*"]
    )
    items = {i["nodeid"].split("::")[-1]: i for i in report(pytester)["items"]}
    value = items["fairness[equalized_odds_difference@g]"]["result"]["value"]
    assert value == pytest.approx(
        equalized_odds_difference(frame.y, frame.a, sensitive_features=frame.g)
    )


def test_group_floor_on_any_metric_names_only_the_group_below_it(pytester, registry):
    frame = pd.concat([cell(400, 0.9, 0.1, g="a"), cell(400, 0.5, 0.1, g="b")])
    version = project(pytester, registry, frame, "recall_floor: {metric: recall, group_min: 0.7}")
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recall in g=b = 0.5000 [[]*]: lower bound of the 95% interval * is below "
            "group_min 0.7*",
            "*g=b*400*0.5000*fails group_min 0.7*",
        ]
    )
    result.stdout.no_fnmatch_line("*recall in g=a*")


def crossed() -> pd.DataFrame:
    """Each column alone has equal selection rates (0.5); its intersections do not."""
    return pd.concat(
        [
            cell(500, 0.7, 0.7, s1="x", s2="p"),
            cell(500, 0.3, 0.3, s1="x", s2="q"),
            cell(500, 0.3, 0.3, s1="y", s2="p"),
            cell(500, 0.7, 0.7, s1="y", s2="q"),
        ]
    )


def test_several_sensitive_columns_form_intersectional_groups_by_default(pytester, registry):
    metrics = "demographic_parity_difference: {max: 0.2}"
    version = project(pytester, registry, crossed(), metrics, sensitive="[s1, s2]")
    result = pytester.runpytest(*registry.args("m", version), "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*fairness[[]demographic_parity_difference@s1+s2[]] FAILED*",
            "*lowest selection_rate: s1=x & s2=q 0.3000*; highest: s1=x & s2=p 0.7000*",
        ]
    )


def test_intersection_reveals_a_gap_that_each_column_alone_hides(pytester, registry):
    version = project(
        pytester,
        registry,
        crossed(),
        "demographic_parity_difference: {max: 0.2}",
        sensitive="[s1, s2]",
        extra="by: [s1, s2, [s1, s2]]",
    )
    result = pytester.runpytest(*registry.args("m", version), "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*fairness[[]demographic_parity_difference@s1[]] PASSED*",
            "*fairness[[]demographic_parity_difference@s2[]] PASSED*",
            "*fairness[[]demographic_parity_difference@s1+s2[]] FAILED*",
        ]
    )


def test_group_below_min_group_size_blocks_promotion_and_names_it(pytester, registry):
    # too little data is inconclusive (it blocks promotion), and the advice is to collect data
    frame = pd.concat([cell(400, 0.8, 0.2, g="a"), cell(20, 0.8, 0.2, g="b")])
    version = project(pytester, registry, frame, "demographic_parity_difference: {max: 0.3}")
    result = pytester.runpytest(*registry.args("m", version))
    assert_verdicts(result, inconclusive=1)
    result.stdout.fnmatch_lines(
        [
            "*insufficient evidence: g=b has 20 rows; below min_group_size 30. Collect more data "
            "for group g=b (at least 30 rows each)*",
            "*g=b*20*below min_group_size 30*",
            "*verdict: NOT promotable*",
        ]
    )


def test_small_group_can_be_excluded_by_policy_and_is_still_reported(pytester, registry):
    frame = pd.concat(
        [cell(400, 0.8, 0.2, g="a"), cell(20, 0.0, 0.0, g="b"), cell(400, 0.8, 0.2, g="c")]
    )
    version = project(
        pytester,
        registry,
        frame,
        "demographic_parity_difference: {max: 0.15}",
        extra="min_group_size: 50\non_small_group: exclude",
    )
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    result.assert_outcomes(passed=1)
    details = report(pytester)["items"][0]["result"]["details"]
    assert details["small_groups"] == [{"group": "g=b", "rows": 20}]
    small = next(g for g in details["groups"] if g["group"] == "g=b")
    assert small["decided_on"] is False
    assert small["selection_rate"]["value"] == 0.0


def champion_project(pytester, registry, candidate_b_rates: tuple[float, float]) -> int:
    """Champion predicts column a (equal rates), candidate column b (g=b's rates given)."""
    champion, Xa = copy_column_model("a")
    candidate, Xb = copy_column_model("b")
    registry.set_alias("m", "production", registry.register(champion, "m", Xa))
    version = registry.register(candidate, "m", Xb)
    frame = pd.concat([cell(600, 0.8, 0.2, g="a"), cell(600, 0.8, 0.2, g="b")])
    b_rows = pd.concat([cell(600, 0.8, 0.2, column="b"), cell(600, *candidate_b_rates, column="b")])
    frame["b"] = b_rows["b"].to_numpy()
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(
        pytester.path,
        SUITE.format(
            sensitive="[g]",
            extra="",
            metrics="      demographic_parity_difference: {max: 0.5, champion_margin: 0.05}",
        ),
    )
    return version


def test_candidate_less_fair_than_champion_beyond_the_margin_fails(pytester, registry):
    version = champion_project(pytester, registry, (0.5, 0.1))
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: fairness[[]demographic_parity_difference@g-vs-champion[]]*",
            "*champion*v1: 0.0000*",
            "*candidate m v2 demographic_parity_difference@g = 0.2000, champion m v1 = 0.0000; "
            "worsening +0.2000 [[]*]: upper bound of the 95% interval * exceeds champion_margin 0.05*",
        ]
    )


def test_candidate_as_fair_as_champion_within_the_margin_passes(pytester, registry):
    version = champion_project(pytester, registry, (0.8, 0.2))
    result = pytester.runpytest(*registry.args("m", version), "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*demographic_parity_difference@g-vs-champion*PASSED*"])


def test_chart_is_written_next_to_the_report_and_logged_to_the_candidates_run(pytester, registry):
    version = project(pytester, registry, unequal(), "demographic_parity_difference: {max: 0.1}")
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "out/report.json")
    result.assert_outcomes(failed=1)
    chart = pytester.path / "out" / f"fairness-m-v{version}-demographic_parity_difference@g.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    client = mlflow.MlflowClient(registry.uri, registry.uri)
    run_id = client.get_model_version("m", str(version)).run_id
    logged = [a.path for a in client.list_artifacts(run_id, "modelgate/fairness")]
    assert logged == [f"modelgate/fairness/{chart.name}"]
    details = json.loads((pytester.path / "out" / "report.json").read_text())["items"][0]
    assert details["result"]["details"]["chart_artifact"].startswith(f"runs:/{run_id}/")


@pytest.mark.parametrize(
    ("sensitive", "section", "expected"),
    [
        ("[]", "metrics: {demographic_parity_difference: {max: 0.1}}",
         "*suite.yaml:6: gates.fairness: the fairness gate needs the suite's 'sensitive:'*"),
        ("[g]", "by: [g, region]\nmetrics: {demographic_parity_difference: {max: 0.1}}",
         "*suite.yaml:7: gates.fairness.by: 'region' not among the suite's sensitive columns (g)*"),
        ("[g]", "metrics:\n  demographic_parity_difference: {min: 0.1}",
         "*suite.yaml:8: gates.fairness.metrics.demographic_parity_difference.min: not a threshold "
         "of this metric; use max*"),
        ("[g]", "metrics:\n  parity: {max: 0.1}",
         "*suite.yaml:8: gates.fairness.metrics.parity: 'parity' is not a fairlearn measure*"),
    ],
)  # fmt: skip
def test_malformed_fairness_sections_are_reported_with_file_and_line(
    pytester, registry, sensitive, section, expected
):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    cell(40, 0.5, 0.5, g="a").to_csv(pytester.path / "eval.csv", index=False)
    body = "\n".join("    " + line for line in section.splitlines())
    text = (
        "model: m\ndata: {path: eval.csv}\ntarget: y\n"
        f"sensitive: {sensitive}\ngates:\n  fairness:\n{body}\n"
    )
    (pytester.path / "suite.yaml").write_text(text)
    result = pytester.runpytest(*registry.args("m", version))
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines([expected])


def credit_project(pytester: pytest.Pytester) -> None:
    """The repo's credit-risk suite with only its fairness section, at 200 resamples."""
    suite = yaml.safe_load((REPO / "gates" / "credit-risk.yaml").read_text())
    fairness = {**suite["gates"]["fairness"], "resamples": 200}
    suite["gates"] = {"fairness": fairness}
    (pytester.path / "credit.yaml").write_text(yaml.safe_dump(suite))


def test_reference_credit_model_passes_the_repo_fairness_section(pytester, registry):
    version = train_reference(
        "credit-risk", tracking_uri=registry.uri, artifact_root=registry.root / "artifacts"
    ).version
    credit_project(pytester)
    result = pytester.runpytest(*registry.args("credit-risk", version), "-v")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*fairness[[]demographic_parity_difference@sex[]] PASSED*"])


def test_biased_credit_model_fails_naming_group_metric_interval_and_threshold(pytester, registry):
    version = train_biased_credit(
        tracking_uri=registry.uri, artifact_root=registry.root / "artifacts"
    ).version
    credit_project(pytester)
    result = pytester.runpytest(*registry.args("credit-risk", version))
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: fairness[[]demographic_parity_difference@sex[]]*",
            "*demographic_parity_difference@sex = 0.* [[]0.*, 0.*[]]: upper bound of the 95% "
            "interval * is above max 0.35. lowest selection_rate: sex=female 0.* [[]*[]]*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_thin_groups_are_inconclusive_and_the_advice_is_more_data_not_a_disparity(
    pytester, registry
):
    # 60 rows a group: the gap (0.15) may or may not be under 0.2, and nothing more is said
    frame = pd.concat([cell(60, 0.6, 0.4, g="a"), cell(60, 0.4, 0.3, g="b")])
    version = project(pytester, registry, frame, "demographic_parity_difference: {max: 0.2}")
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    assert_verdicts(result, inconclusive=1)
    result.stdout.fnmatch_lines(
        [
            "*INCONCLUSIVE, not enough evidence: demographic_parity_difference@g = 0.1500 [[]*]: "
            "upper bound of the 95% interval * is above max 0.2*: the groups' data cannot show "
            "whether the threshold holds; collect more data for group g=* (60 rows, the widest "
            "interval): at the observed rates about *x the rows of every group would settle it*",
        ]
    )
    result.stdout.no_fnmatch_line("*Retrain*")
    item = report(pytester)["items"][0]["result"]
    assert item["rows_needed"] > 120
    assert set(item["details"]["group_rows_needed"]) == {"g=a", "g=b"}


def test_string_labels_need_a_quoted_favourable_outcome(pytester, registry):
    """Labels 'yes'/'no' need pos_label; YAML reads an unquoted yes as true, and the error says
    to quote it rather than that True is not a label."""
    from sklearn.tree import DecisionTreeClassifier

    frame = unequal()
    frame["y"] = np.where(frame["y"] == 1, "yes", "no")
    model = DecisionTreeClassifier(random_state=0).fit(frame[["a"]], frame["y"])
    version = registry.register(model, "m", frame[["a"]])
    frame.to_csv(pytester.path / "eval.csv", index=False)
    metrics = "      demographic_parity_difference: {max: 0.5}"
    for label, expected in (
        ("yes", "*pos_label True is not among the target's labels [[]'no', 'yes'[]] (YAML reads an "
                "unquoted yes/no/on/off/true/false as the boolean True: quote the label*"),
        ("'yes'", None),
    ):  # fmt: skip
        extra = f"    pos_label: {label}"
        write_suite(pytester.path, SUITE.format(sensitive="[g]", extra=extra, metrics=metrics))
        result = pytester.runpytest(*registry.args("m", version))
        if expected is None:
            assert_verdicts(result, passed=1)
        else:
            assert_verdicts(result, failed=1)
            result.stdout.fnmatch_lines([expected])
