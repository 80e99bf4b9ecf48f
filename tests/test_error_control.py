"""Run-wide error control: every check of a run that decides on an interval is one family,
decided with Holm's correction; its level, correction and grouping are configurable, and each
check's adjusted level is in every report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from .conftest import ScratchRegistry, assert_verdicts, copy_column_model, write_suite
from .test_reports import validator

SUITE = """
model: m
data: {{path: eval.csv}}
target: y
sensitive: [g]
{top}
gates:
  accuracy:
    resamples: 1000
    seed: 4
    metrics:
      accuracy: {{min: 0.8}}
      balanced_accuracy: {{min: 0.8}}
      recall_macro: {{min: 0.8}}
  fairness:
    resamples: 1000
    seed: 4
{family}    metrics:
      demographic_parity_difference: {{max: 0.3}}
"""

MARGINAL = ["accuracy[accuracy]", "accuracy[balanced_accuracy]", "accuracy[recall_macro]"]


def frame() -> pd.DataFrame:
    """400 rows the model (column a) gets right on 84% of, in two groups with equal rates:
    each accuracy metric clears 0.8 on its own (one-sided p about 0.012), the fairness gap
    is near 0 (p tiny)."""
    y = np.tile([0, 1], 200)
    a = y.copy()
    a[:64] = 1 - a[:64]
    return pd.DataFrame({"y": y, "a": a.astype(float), "g": np.repeat(["x", "y"], 200)})


@pytest.fixture
def project(pytester: pytest.Pytester, registry: ScratchRegistry):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    frame().to_csv(pytester.path / "eval.csv", index=False)

    def run(*args: str, top: str = "", family: str = "") -> pytest.RunResult:
        write_suite(pytester.path, SUITE.format(top=top, family=family))
        return pytester.runpytest(
            *registry.args("m", version), "--gate-report", "report.json", *args
        )

    return run


def report(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "report.json").read_text())


def items(pytester: pytest.Pytester) -> dict[str, dict]:
    return {i["nodeid"].split("::")[-1]: i for i in report(pytester)["items"]}


def test_checks_that_pass_alone_are_inconclusive_in_the_runs_holm_family(pytester, project):
    result = project("--junitxml", "junit.xml", "--gate-summary", "summary.md")
    assert_verdicts(result, passed=1, inconclusive=3)
    done = report(pytester)
    assert list(validator().iter_errors(done)) == []
    family = done["error_control"]["run"]
    assert (family["alpha"], family["method"], family["source"]) == (0.05, "holm", "default")
    assert len(family["members"]) == 4
    for name in MARGINAL:
        control = items(pytester)[name]["result"]["error_control"]
        assert control["verdict"] == "inconclusive"
        assert control["p_value"] < 0.025 < control["adjusted_p"]  # passes alone, not here
        assert control["level"] < 0.025 / 3 + 1e-12
    fairness = items(pytester)["fairness[demographic_parity_difference@g]"]["result"]
    assert fairness["error_control"]["level"] == pytest.approx(0.025 / 4)
    result.stdout.fnmatch_lines(
        [
            "*INCONCLUSIVE GATES*",
            "*GATE INCONCLUSIVE: accuracy[[]accuracy[]]*",
            "*threshold  min 0.8 (decided on bound, Holm over 4 checks)*",
            "*rows needed *",
            "INCONCLUSIVE  accuracy[[]accuracy[]]*min 0.8*",
            "*required gate suite.yaml::accuracy[[]accuracy[]] inconclusive: not enough evidence "
            "either way (about * rows would settle it)*",
        ]
    )
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "junit.xml").iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["accuracy[accuracy]"].iter("property")}
    assert (props["verdict"], props["error_control"], props["family_size"]) == (
        "inconclusive",
        "holm",
        "4",
    )
    assert float(props["decision_level"]) < 0.0084
    assert int(props["rows_needed"]) > 400
    summary = (pytester.path / "summary.md").read_text()
    assert "| ❔ inconclusive | `accuracy[accuracy]` |" in summary
    assert "Why the inconclusive gates could not decide" in summary


def test_the_runs_level_and_correction_are_options_and_a_suite_may_set_them(pytester, project):
    # each check decided alone at its section's confidence: the three pass
    assert_verdicts(project("--gate-error-control", "none"), passed=4)
    assert items(pytester)["accuracy[accuracy]"]["result"]["error_control"]["method"] == "none"
    # a looser family-wise level: Holm passes them too
    assert_verdicts(project("--gate-alpha", "0.2"), passed=4)
    assert (
        report(pytester)["error_control"]["run"]["source"] == "alpha: --gate-alpha; method: default"
    )
    # the suite's own error control, which the command line would win over
    assert_verdicts(
        project(top="error_control: {alpha: 0.05, method: bonferroni}"), passed=1, inconclusive=3
    )
    family = report(pytester)["error_control"]["run"]
    assert family["method"] == "bonferroni"
    assert family["source"].endswith("suite.yaml:5")
    # a section may form its own family: fairness alone, the accuracy metrics together
    assert_verdicts(project(family="    family: fairness\n"), passed=1, inconclusive=3)
    assert sorted(report(pytester)["error_control"]) == ["fairness", "run"]
    control = items(pytester)["accuracy[accuracy]"]["result"]["error_control"]
    assert (control["family"], control["family_size"]) == ("run", 3)


def test_an_invalid_error_level_is_a_usage_error_naming_its_source(pytester, registry):
    result = pytester.runpytest(*registry.args("m", 1), "--gate-alpha", "5%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*Invalid error level '5%' from --gate-alpha: expected a number strictly between 0 and 1*"]
    )
