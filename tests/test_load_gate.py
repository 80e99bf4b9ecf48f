"""The load gate on loopback: a real bento of the candidate, ``bentoml serve`` and locust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_modelgate.bento.load_runner import LoadPlan, locust_command
from pytest_modelgate.reference.models import train_reference

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite
from .flawed_models import SLEEP_S, slow_model

REPO = Path(__file__).resolve().parents[1]
IRIS_SUITE = """
model: iris
data: {reference: iris, split: eval}
target: species
gates:
  load:
    users: 10
    run_time_s: 3
    rows: 100
    p95_ms: 1000
    p99_ms: 2000
    max_failure_ratio: 0.0
    min_rps: 10
"""
SLOW_SUITE = """
model: m
data: {path: eval.csv}
target: y
gates:
  load:
    users: 10
    run_time_s: 3
    p95_ms: 15
    min_rps: 1
"""


@pytest.fixture(autouse=True)
def _own_bento_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")


def _args(registry: ScratchRegistry, name: str, version: int) -> list[str]:
    bentofile = ["--bentofile", str(REPO / "bentofile.yaml")]
    return [*registry.args(name, version), *bentofile, "-p", "no:cacheprovider"]


@pytest.mark.slow
def test_reference_iris_model_passes_the_load_gate_with_locust_figures(pytester, registry):
    version = train_reference("iris", tracking_uri=registry.uri).version
    write_suite(pytester.path, IRIS_SUITE)
    args = _args(registry, "iris", version)
    result = pytester.runpytest(*args, "--gate-report", "report.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*load[[]users-10[]]*p95_ms 1000, p99_ms 2000*"])
    item = json.loads((pytester.path / "report.json").read_text())["items"][0]["result"]
    stats = item["details"]["stats"]
    assert stats["requests"] > 0
    assert stats["failures"] == 0
    assert 0 < stats["p95_ms"] <= 1000
    assert stats["rps"] >= 10
    assert item["threshold"]["min_rps"] == 10
    assert item["details"]["plan"]["processes"] == 2  # figures aggregated by locust's master


@pytest.mark.slow
def test_model_that_sleeps_per_call_fails_naming_the_broken_percentile(
    pytester, registry, monkeypatch
):
    # the served bento must import the sleeping step the pickled model refers to
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    _, X = copy_column_model("a")
    version = registry.register(slow_model(X, X["a"].astype(int)), "m", X)
    eval_frame(50, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SLOW_SUITE)
    result = pytester.runpytest(*_args(registry, "m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: load[[]users-10[]]*",
            "*m v1 served, 10 users for 3s, batch 1: * requests, 0 failed, * requests/s, "
            "p95 * ms, p99 * ms (aggregated over 2 locust processes, rows bodies)*",
            "*p95 * ms exceeds p95_ms 15*",
        ]
    )
    assert SLEEP_S * 1000 > 15  # every request pays the sleep at least once


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("users: 10\n    p95: 50", "*suite.yaml:7: gates.load.p95: unknown key; expected one of*"),
        ("users: 0\n    p95_ms: 50", "*suite.yaml:6: gates.load.users: expected an integer >= 1*"),
        (
            "users: 5",
            "*suite.yaml:5: gates.load: expected at least one of p95_ms, p99_ms, min_rps*",
        ),
        (
            "body: json\n    p95_ms: 50",
            "*suite.yaml:6: gates.load.body: expected one of rows, dataframe_split, columns*",
        ),
    ],
)
def test_malformed_load_section_is_rejected_with_file_and_line(
    pytester, registry, section, expected
):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    write_suite(pytester.path, SLOW_SUITE.split("  load:")[0] + f"  load:\n    {section}\n")
    eval_frame(10, {}).to_csv(pytester.path / "eval.csv", index=False)
    result = pytester.runpytest(*_args(registry, "m", version))
    result.stdout.fnmatch_lines([expected])


def test_locust_runs_its_own_distributed_mode_on_loopback_only():
    plan = LoadPlan(users=10, spawn_rate=10, run_time_s=3, processes=2, max_requests=1000)
    command = locust_command("http://127.0.0.1:1", Path("stats"), plan, port=47001)
    assert command[command.index("--processes") + 1] == "2"
    for option in ("--master-bind-host", "--master-host"):
        assert command[command.index(option) + 1] == "127.0.0.1"
    assert command[command.index("--master-bind-port") + 1] == "47001"
    assert plan.user_requests == 100
    single = locust_command("http://127.0.0.1:1", Path("stats"), LoadPlan(10, 10, 3, processes=1))
    assert "--processes" not in single
