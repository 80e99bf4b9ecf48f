"""The GitHub workflows: linted with actionlint, and the CI entry point their steps call run
here for real on the reference iris model, down to the HTML report in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = Path(sys.executable).with_name("actionlint")
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome")
RUN_TIMEOUT_S = 300


@dataclass
class CiRun:
    returncode: int
    output: str
    out: Path
    env: dict[str, str]


def ci(args: list[str], out: Path, **env: str) -> CiRun:
    """``python -m pytest_modelgate.cli.ci`` from the repository root, as a workflow step runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GITHUB_"))}
    clean.update(env, BENTOML_HOME=str(out / "bentoml"), BENTOML_DO_NOT_TRACK="True")
    done = subprocess.run(
        [sys.executable, "-m", "pytest_modelgate.cli.ci", *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    return CiRun(done.returncode, done.stdout + done.stderr, out, clean)


@pytest.fixture(scope="module")
def pr_check(tmp_path_factory: pytest.TempPathFactory) -> CiRun:
    """The PR check on the full reference iris suite, against a registry from the environment
    (what the repository secret provides), with a job summary file as on a runner."""
    root = tmp_path_factory.mktemp("pr-check")
    step_summary = root / "step-summary.md"
    run = ci(
        ["pr-check", "--model", "iris", "--out", str(root / "out")],
        root,
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'registry.db'}",
        GITHUB_STEP_SUMMARY=str(step_summary),
    )
    assert run.returncode == 0, run.output[-4000:]
    return run


# -- actionlint ------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_actionlint_passes_on_the_workflow(workflow):
    done = subprocess.run([ACTIONLINT, workflow], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_rejects_a_workflow_with_a_broken_job_reference(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: missing\n"
        "    steps:\n      - run: echo hi\n"
    )
    done = subprocess.run([ACTIONLINT, broken], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "missing" in done.stdout


def test_workflows_run_the_pr_check_and_gate_production_behind_an_environment():
    gates = yaml.safe_load((REPO / ".github/workflows/gates.yml").read_text())
    promote = yaml.safe_load((REPO / ".github/workflows/promote.yml").read_text())
    gate_steps = " ".join(s.get("run", "") for s in gates["jobs"]["gate"]["steps"])
    assert "python -m pytest_modelgate.cli.ci pr-check" in gate_steps
    assert "pull_request" in gates[True]  # YAML 1.1 reads the key `on` as True
    assert set(gates["jobs"]["status"]["needs"]) == {"tests", "gate"}
    dispatch = promote[True]["workflow_dispatch"]["inputs"]
    assert dispatch["version"]["required"] is True
    staging, production = promote["jobs"]["staging"], promote["jobs"]["production"]
    assert "--env staging" in " ".join(s.get("run", "") for s in staging["steps"])
    assert "--env production" in " ".join(s.get("run", "") for s in production["steps"])
    assert production["environment"] == "production"
    assert production["needs"] == "staging"


# -- the PR check ----------------------------------------------------------------------------


@pytest.mark.slow
def test_pr_check_gates_the_reference_model_with_junit_markdown_and_html(pr_check):
    out = pr_check.out / "out"
    report = json.loads((out / "iris-v1.json").read_text())
    assert report["promotable"] is True
    cases = list(ET.parse(out / "iris-v1.junit.xml").getroot().iter("testcase"))
    assert len(cases) == len(report["items"]) >= 15
    assert {p.get("name") for p in cases[0].iter("property")} >= {"gate", "metric", "value"}
    summary = (out / "iris-v1.md").read_text()
    assert summary.startswith("### Model gates: ✅ iris v1: every required gate ran and passed")
    assert "`latency[batch-1]`" in summary
    html = (out / "iris-v1.html").read_text()
    assert 'id="gate-table"' in html
    assert '<img alt="Latency distribution"' in html
    assert '<img alt="Calibration: reference:iris[eval]"' in html
    assert (pr_check.out / "step-summary.md").read_text() == summary + "\n"
    assert "::error" not in pr_check.output


@pytest.mark.slow
def test_pr_check_logs_the_html_report_to_the_registered_versions_run(pr_check):
    uri = pr_check.env["MLFLOW_TRACKING_URI"]
    run_id = mlflow.MlflowClient(uri, uri).get_model_version("iris", "1").run_id
    paths = [a.path for a in mlflow.MlflowClient(uri).list_artifacts(run_id, "modelgate/report")]
    assert paths == ["modelgate/report/iris-v1.html"]


@pytest.mark.slow
def test_pr_check_without_a_tracking_server_starts_one_and_fails_closed_on_a_reduced_suite(
    tmp_path,
):
    run = ci(["pr-check", "--model", "iris", "--out", str(tmp_path / "out"), "--", "-k", "accuracy"], tmp_path)  # fmt: skip
    assert run.returncode == 1, run.output[-4000:]
    assert "started mlflow server at http://127.0.0.1:" in run.output
    assert "::error title=iris v1 is NOT promotable::- required gate gates/iris.yaml::schema" in run.output  # fmt: skip
    report = json.loads((tmp_path / "out" / "iris-v1.json").read_text())
    assert report["tracking_uri"].startswith("http://127.0.0.1:")
    assert report["summary"] == {"passed": 5, "deselected": 15}
    for suffix in (".junit.xml", ".md", ".html"):
        assert (tmp_path / "out" / f"iris-v1{suffix}").stat().st_size > 0


@pytest.mark.slow
def test_promote_reruns_the_gates_and_moves_the_staging_alias(pr_check):
    uri = pr_check.env["MLFLOW_TRACKING_URI"]
    out = pr_check.out / "promotion"
    args = ["promote", "--model", "iris", "--version", "1", "--env", "staging", "--out", str(out)]
    run = ci(args, pr_check.out, MLFLOW_TRACKING_URI=uri)
    assert run.returncode == 0, run.output[-4000:]
    assert "promoted iris v1 to staging" in run.output
    staging = mlflow.MlflowClient(uri, uri).get_model_version_by_alias("iris", "staging")
    assert str(staging.version) == "1"
    assert json.loads((out / "iris-v1-staging.json").read_text())["promotable"] is True


def test_promote_without_the_shared_registry_refuses_before_gating(tmp_path):
    args = ["promote", "--model", "iris", "--version", "1", "--env", "staging"]
    run = ci([*args, "--out", str(tmp_path)], tmp_path)
    assert run.returncode == 2
    assert "::error title=promotion::promotion needs the shared registry" in run.output


# -- the HTML report in a browser ------------------------------------------------------------


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def chromium() -> str:
    for name in CHROMIUMS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless Chromium ({', '.join(CHROMIUMS)}): `apt-get install chromium`")


def browse(html: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2600",
        *extra, html.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_html_report_renders_its_gate_table_and_plots_in_headless_chromium(pr_check, tmp_path):
    from PIL import Image

    html = pr_check.out / "out" / "iris-v1.html"
    dom = _Dom()
    dom.feed(browse(html, tmp_path, "--dump-dom").stdout)
    assert ("table", {"class": "gates", "id": "gate-table"}) in dom.tags
    images = [a for tag, a in dom.tags if tag == "img"]
    assert [a["alt"] for a in images] == [
        "Decisions (forest plot)",
        "Latency distribution",
        "Calibration: reference:iris[eval]",
    ]
    assert all((a["src"] or "").startswith("data:image/png;base64,") for a in images)
    assert sum(tag == "tr" for tag, _ in dom.tags) == 1 + 20

    shot = tmp_path / "report.png"
    browse(html, tmp_path, f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (2600, 1200, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200, "a blank or text-only page"

    def where(rgb: tuple[int, int, int], tolerance: int = 0) -> np.ndarray:
        return np.abs(pixels.astype(int) - rgb).sum(axis=2) <= tolerance

    # the plots' lines and markers in matplotlib's tab10 colours (the browser scales the
    # images, so near those colours); the table header's grey
    blue, orange, green = (where(c, 30) for c in ((31, 119, 180), (255, 127, 14), (44, 160, 44)))
    assert blue.sum() > 200
    assert orange.sum() > 200
    assert green.sum() > 100, "the calibration plot's third class is not drawn"
    assert where((246, 248, 250)).sum() > 20_000, "no gate table header"
    rows = np.flatnonzero((blue | orange | green).any(axis=1))
    assert rows.max() - rows.min() > 250, "no plot-sized region"
