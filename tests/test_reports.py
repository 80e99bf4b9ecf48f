"""The reports a gate run writes: JSON against its schema, markdown, JUnit properties, HTML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib.resources import files
from typing import Any

import jsonschema
import mlflow
import pytest

from pytest_modelgate.cli.ci import gate_annotations
from pytest_modelgate.report.build import SCHEMA_VERSION
from pytest_modelgate.report.outputs import HTML_ARTIFACT_PATH

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite

SUITE = """
model: m
data: {path: eval.csv}
target: y
sensitive: [g]
gates:
  accuracy:
    resamples: 200
    seed: 1
    metrics:
      accuracy: {min: 0.7, max_drop: 0.05}
      f1: {min: 0.99}
  latency:
    warmup: 2
    repeats: 3
    calls: 20
    batches: [{size: 1, p99_ms: 1000}]
  fairness:
    resamples: 200
    seed: 1
    min_group_size: 10
    metrics:
      demographic_parity_difference: {max: 0.5}
"""


def schema() -> dict[str, Any]:
    text = files("pytest_modelgate").joinpath("report/schemas/gate-report.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


@pytest.fixture
def project(pytester: pytest.Pytester, registry: ScratchRegistry) -> list[str]:
    """Champion v1 copies column b (80% right), candidate v2 copies a (90% right): accuracy
    passes with a +0.1 delta over the champion, f1 misses its 0.99 floor."""
    frame = eval_frame(200, {"a": 0.1, "b": 0.2})
    frame["g"] = ["x", "y"] * 100
    frame.to_csv(pytester.path / "eval.csv", index=False)
    champion, X = copy_column_model("b")
    registry.register(champion, "m", X)
    registry.set_alias("m", "production", 1)
    candidate, X = copy_column_model("a")
    version = registry.register(candidate, "m", X)
    write_suite(pytester.path, SUITE)
    return [
        *registry.args("m", version),
        "--gate-report", "out/report.json",
        "--gate-summary", "out/summary.md",
        "--gate-html", "out/report.html",
        "--junitxml", "out/junit.xml",
    ]  # fmt: skip


def read(pytester: pytest.Pytester, name: str) -> str:
    return (pytester.path / "out" / name).read_text(encoding="utf-8")


def test_schema_is_a_valid_json_schema_of_the_current_version():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["schema_version"] == {"const": SCHEMA_VERSION}


def test_reports_of_passing_and_failing_runs_validate_against_the_schema(pytester, project):
    result = pytester.runpytest(*project)
    result.assert_outcomes(passed=4, failed=1)
    report = json.loads(read(pytester, "report.json"))
    assert list(validator().iter_errors(report)) == []
    promotable = dict(report, promotable=True)  # claims promotable with blocking reasons
    assert not validator().is_valid(promotable)
    del report["items"][0]["result"]["metric"]
    assert not validator().is_valid(report)


def test_markdown_summary_puts_failures_first_with_interval_threshold_champion_and_delta(
    pytester, project, tmp_path, monkeypatch
):
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    pytester.runpytest(*project).assert_outcomes(passed=4, failed=1)
    text = read(pytester, "summary.md")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert rows[0].startswith("| ❌ failed | `accuracy[f1]` | f1 | 0.9")
    assert "| min 0.99 |" in rows[0]
    vs_champion = next(r for r in rows if "accuracy[accuracy-vs-champion]" in r)
    assert "| v1: 0.8000 | +0.1000 |" in vs_champion
    assert "❌ m v2: NOT promotable" in text
    assert "- required gate suite.yaml::accuracy[f1] failed" in text
    assert "Why the failed gates failed" in text
    assert step_summary.read_text() == "earlier step\n" + text + "\n"


def test_junit_xml_carries_each_gate_items_figures_as_properties(pytester, project):
    pytester.runpytest(*project).assert_outcomes(passed=4, failed=1)
    cases = {c.get("name"): c for c in ET.fromstring(read(pytester, "junit.xml")).iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["accuracy[accuracy-vs-champion]"].iter("property")}  # fmt: skip
    assert props["gate"] == "accuracy"
    assert props["metric"] == "accuracy"
    assert float(props["value"]) == pytest.approx(0.9)
    assert float(props["champion_value"]) == pytest.approx(0.8)
    assert float(props["champion_delta"]) == pytest.approx(0.1)
    assert props["champion_version"] == "1"
    assert props["threshold_max_drop"] == "0.05"
    failed = {p.get("name"): p.get("value") for p in cases["accuracy[f1]"].iter("property")}
    assert failed["passed"] == "False"
    assert float(failed["low"]) < float(failed["value"]) < float(failed["high"])
    assert failed["threshold_min"] == "0.99"


def test_html_report_embeds_the_table_and_plots_and_is_logged_to_the_candidates_run(
    pytester, project, registry
):
    result = pytester.runpytest(*project)
    result.stdout.fnmatch_lines(["gate html: *report.html (4 plots)", "  logged to runs:/*"])
    html = read(pytester, "report.html")
    assert 'id="gate-table"' in html
    assert html.index("accuracy[f1]") < html.index("accuracy[accuracy]")  # failures first
    assert html.index('id="forest-plot"') < html.index('id="gate-table"')  # it opens the report
    for title in (
        "Decisions (forest plot)",
        "Latency distribution",
        "Fairness: fairness[demographic_parity_difference@g]",
        "Calibration: ",
    ):
        assert f'<img alt="{title}' in html
    assert html.count('src="data:image/png;base64,') == 4
    run_id = json.loads(read(pytester, "report.json"))["model"]["run_id"]
    client = mlflow.MlflowClient(registry.uri)
    logged = [a.path for a in client.list_artifacts(run_id, HTML_ARTIFACT_PATH)]
    assert logged == [f"{HTML_ARTIFACT_PATH}/report.html"]


def test_gate_summary_path_that_is_a_directory_is_a_usage_error(pytester, registry):
    (pytester.path / "somewhere").mkdir()
    result = pytester.runpytest(*registry.args("m", 1), "--gate-summary", "somewhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Invalid gate summary path 'somewhere' from --gate-summary*"])


def test_annotations_mark_failed_gates_on_their_suite_file_and_escape_newlines():
    report = {
        "promotable": False,
        "model": {"name": "m", "version": 3},
        "blocking_reasons": ["required gate gates/m.yaml::accuracy[f1] failed"],
        "items": [
            {"nodeid": "gates/m.yaml::accuracy[f1]", "gate": "accuracy", "required": True,
             "outcome": "failed", "error": None,
             "result": {"metric": "f1", "value": 0.5, "interval": [0.4, 0.6], "threshold": {"min": 0.9},
                        "decided_on": "bound", "champion_version": None, "champion_value": None,
                        "message": "f1 is low\n100% sure"}},
            {"nodeid": "gates/m.yaml::accuracy[acc]", "gate": "accuracy", "required": True,
             "outcome": "passed", "error": None, "result": None},
        ],
    }  # fmt: skip
    lines = gate_annotations(report)
    assert lines == [
        "::error file=gates/m.yaml,title=gate accuracy[f1] failed::f1 = 0.5000 [0.4000, 0.6000]; "
        "threshold min 0.9%0Af1 is low%0A100%25 sure",
        "::error title=m v3 is NOT promotable::- required gate gates/m.yaml::accuracy[f1] failed",
    ]


def test_fairness_chart_keeps_a_threshold_far_above_the_bars_inside_its_panel(tmp_path):
    """A ceiling ten times the groups' errors used to leave its label outside the panel, and
    constrained layout warned and collapsed the axes (the suite runs with warnings as errors)."""
    import warnings

    import numpy as np
    from PIL import Image

    from pytest_modelgate.report.fairness_chart import Line, draw

    point = np.array([[8.1, 7.9]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # whatever the ini's filters say
        png = draw(
            tmp_path / "chart.png",
            "mae_every_group@group",
            ("mae",),
            ("a", "b"),
            point,
            point - 0.2,
            point + 0.2,
            np.array([True, True]),
            [Line(0, 80.0, "group_max 80")],
        )
    with Image.open(png) as image:
        assert image.size[1] == 420
