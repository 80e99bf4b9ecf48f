"""pytest-xdist: two workers give the report one process gives (xdist loaded or disabled with
``-p no:xdist``), and only the controller promotes, once, after every worker's results are in."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite

REPO = Path(__file__).resolve().parents[1]
BENTOFILE = REPO / "bentofile.yaml"

# a run-wide family across gates (accuracy, its champion comparison, a slice, fairness), an
# advisory section with an inconclusive item, and a custom gate: every kind of record crosses
# workers, and the run is promotable
SUITE = """
model: m
data: {path: eval.csv}
target: y
sensitive: [g]
gates:
  accuracy:
    resamples: 200
    seed: 2
    metrics:
      accuracy: {min: 0.7, max_drop: 0.05}
      f1: {min: 0.75}
    slices: {columns: [g], metrics: [accuracy], min_rows: 30}
  fairness:
    required: false
    resamples: 200
    seed: 2
    min_group_size: 20
    metrics:
      demographic_parity_difference: {max: 0.5}
      recall_every_group: {metric: recall, group_min: 0.88}
  schema:
    columns: {a: float64}
"""

CUSTOM = """
import pytest

@pytest.mark.gate("copies-a", model="m")
def test_predictions_copy_column_a(predictions, eval_data):
    assert (predictions.labels == eval_data.frame["a"].to_numpy()).all()
"""


def comparable(path: Path) -> dict:
    """The report without what differs between any two runs: when it was written."""
    report = json.loads(path.read_text())
    report.pop("generated_at")
    return report


@pytest.mark.slow
def test_two_workers_write_the_report_one_process_writes_and_only_the_controller_promotes(
    pytester, registry: ScratchRegistry, bentoml_home
):
    champion, X = copy_column_model("b")
    registry.set_alias("m", "production", registry.register(champion, "m", X))
    candidate, X = copy_column_model("a")
    version = registry.register(candidate, "m", X)
    frame = eval_frame(200, {"a": 0.1, "b": 0.15})
    frame["g"] = ["x", "y"] * 100
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE)
    pytester.makepyfile(test_custom=CUSTOM)
    args = [*registry.args("m", version), "-p", "no:cacheprovider", "--bentofile", str(BENTOFILE)]

    alone = pytester.runpytest(*args, "-n", "0", "--gate-report", "alone.json")
    without = pytester.runpytest(*args, "-p", "no:xdist", "--gate-report", "without.json")
    two = pytester.runpytest_subprocess(
        *args, "-n", "2", "--gate-report", "two.json", "--promote", "staging"
    )
    # the advisory inconclusive item fails as a test (pytest's exit status says so) but does
    # not block the verdict
    assert alone.ret == without.ret == two.ret == pytest.ExitCode.TESTS_FAILED, two.stdout.str()
    assert comparable(pytester.path / "two.json") == comparable(pytester.path / "alone.json")
    assert comparable(pytester.path / "without.json") == comparable(pytester.path / "alone.json")
    report = comparable(pytester.path / "two.json")
    outcomes = {i["nodeid"].split("::")[-1]: i["outcome"] for i in report["items"]}
    assert outcomes["accuracy[accuracy-vs-champion]"] == "passed"
    assert outcomes["fairness[recall_every_group@g]"] == "inconclusive"  # advisory
    assert outcomes["test_predictions_copy_column_a"] == "passed"
    assert len(report["error_control"]["run"]["members"]) == 7
    assert report["promotable"] is True
    two.stdout.fnmatch_lines(
        [
            "*INCONCLUSIVE GATES*",
            "*model gates*",
            "INCONCLUSIVE*fairness[[]recall_every_group@g[]]*",
            "*verdict: every required gate ran and passed*",
            f"*promoted m v{version} to staging (alias 'staging' was nothing)*",
        ]
    )
    # only the controller promoted, once, after both workers were done
    assert two.stdout.str().count(f"promoted m v{version} to staging") == 1
    client = mlflow.MlflowClient(registry.uri, registry.uri)
    assert PromotionRegistry.of(client).pinned("m", "staging") == version
    moves = [e for e in ledger.events(PromotionRegistry.of(client), "m", "staging") if e.moved]
    assert [e.version for e in moves] == [version]
