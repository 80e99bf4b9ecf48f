"""End to end against a real ``mlflow server`` on loopback: the repository's own iris suite
gates a version registered over HTTP, by number and by alias, exactly as on sqlite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.reference.models import train_reference

from .mlflow_server import mlflow_server

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri


def _gate(
    uri: str, tmp_path: Path, *selector: str
) -> tuple[subprocess.CompletedProcess[str], dict]:
    report = tmp_path / "report.json"
    command = [
        sys.executable, "-m", "pytest", str(REPO / "gates" / "iris.yaml"), "-p", "no:cacheprovider",
        "--model-name", "iris", *selector, "--tracking-uri", uri, "--gate-report", str(report),
        "-k", "accuracy",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    return done, json.loads(report.read_text()) if report.exists() else {}


def test_a_version_registered_on_a_tracking_server_is_gated_like_on_sqlite(server, tmp_path):
    registered = train_reference("iris", tracking_uri=server)
    done, report = _gate(server, tmp_path, "--model-version", str(registered.version))
    assert "accuracy[accuracy]" in done.stdout, done.stdout + done.stderr
    assert report["model"]["version"] == registered.version
    assert report["model"]["run_id"] == registered.run_id
    assert report["tracking_uri"] == server
    outcomes = {i["nodeid"].split("::")[-1]: i["outcome"] for i in report["items"]}
    assert outcomes["accuracy[accuracy]"] == "passed"
    assert report["data"][str(REPO / "gates" / "iris.yaml")]["rows"] == 45


def test_an_alias_on_the_server_selects_its_version(server, tmp_path):
    registered = train_reference("iris", tracking_uri=server)
    client = mlflow.MlflowClient(server, server)
    client.set_registered_model_alias("iris", "candidate", str(registered.version))
    done, report = _gate(server, tmp_path, "--model-alias", "candidate")
    assert report["model"]["version"] == registered.version, done.stdout
    assert "candidate" in report["model"]["aliases"]


def test_an_unknown_model_on_the_server_is_a_clear_usage_error(server, tmp_path):
    command = [
        sys.executable, "-m", "pytest", str(REPO / "gates"), "-p", "no:cacheprovider",
        "--model-name", "nobody", "--model-version", "1", "--tracking-uri", server,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"cannot gate: no registered model 'nobody' in {server}" in done.stderr
