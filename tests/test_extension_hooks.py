"""The documented extension API: plugins add gate kinds and observe the report."""

from __future__ import annotations

import json

from .conftest import copy_column_model, eval_frame, write_suite

CONFTEST = """
from pytest_modelgate.gates.api import Check, GateResult


class RowCountGate:
    name = "row_count"

    def checks(self, node, suite):
        minimum = node.require("min").as_int(minimum=1)

        def run(ctx):
            rows = ctx.eval_data(suite).rows
            return GateResult(
                passed=rows >= minimum, metric="rows", value=rows, threshold={"min": minimum},
                decided_on="point", rows=rows, message=f"{rows} rows, need {minimum}",
            )

        return [Check("row_count", "rows", run)]


def pytest_modelgate_gate_kinds():
    return [RowCountGate()]


def pytest_modelgate_report(config, report):
    report["seen_by_conftest"] = len(report["items"])
"""


def test_a_plugin_adds_a_gate_kind_and_annotates_the_report(pytester, registry):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    eval_frame(80, {"a": 0.0}).to_csv(pytester.path / "eval.csv", index=False)
    pytester.makeconftest(CONFTEST)
    write_suite(
        pytester.path,
        "model: m\ndata: {path: eval.csv}\ntarget: y\ngates:\n  row_count: {min: 100}\n",
    )
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*GATE FAILED: row_count[[]rows[]]*", "*80 rows, need 100*"])
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["seen_by_conftest"] == 1
    assert report["items"][0]["gate"] == "row_count"
