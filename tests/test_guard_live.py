"""The live guard end to end on loopback: a real ``mlflow server``, ``modelgate serve staging
--follow`` in front of real ``bentoml serve`` processes, bounded locust load in its own process,
and ``modelgate guard staging`` reading the served ``/metrics``.

v1 and v3 are sound. v2 passes its gates (the evaluation data has b and c in {0, 1}) but fails
on live rows with b above 5 and stalls on rows with c above 5; drifted traffic sends b = 0.5.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from pytest_modelgate.processes import LOOPBACK, free_port, start, stop, wait_ready
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.moves import entry_problem
from pytest_modelgate.promotion.path import load_path
from pytest_modelgate.promotion.places import Places
from pytest_modelgate.promotion.registry import Registry
from pytest_modelgate.reference.models import log_and_register

from .conftest import ACCURACY_SUITE, eval_frame, write_suite
from .flawed_models import SLOW_S, traffic_flawed_model
from .mlflow_server import mlflow_server

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).with_name("guard_locustfile.py")
# staging is guarded; production needs the guard's confirmation of the version
PATH = f"""
path:
  - env: staging
    guard:
      interval: 1s
      looks: 10
      min_requests: 100
      error_rate: 0.05
      latency: {{p95: {round(SLOW_S * 1000 * 0.8)}ms}}
      drift: {{psi: 0.5}}
      prediction_mix: {{psi: 0.5}}
  - env: production
"""
LOAD_S = 60  # the longest a load may run; each test stops its load when done


def sound_model(X: pd.DataFrame, y: object) -> object:
    return make_pipeline(FunctionTransformer(), DecisionTreeClassifier(random_state=0)).fit(X, y)


@dataclass
class World:
    uri: str
    project: Path
    url: str  # the follower's front
    logs: Path

    def modelgate(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest_modelgate.cli", *args, "--tracking-uri",
                   self.uri, "--root", str(self.project)]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def gate_and_promote(self, version: int) -> None:
        report = self.project / f"report-v{version}.json"
        if report.exists():  # gated before: promote on that report again
            done = self.modelgate("promote", "m", str(version), "staging", "--report", str(report))
        else:
            command = [
                sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--model-name", "m",
                "--model-version", str(version), "--tracking-uri", self.uri, "--bentofile",
                str(REPO / "bentofile.yaml"), "--promote", "staging", "--gate-report", str(report),
            ]  # fmt: skip
            done = subprocess.run(
                command, cwd=self.project, capture_output=True, text=True, timeout=300, check=False
            )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    @property
    def registry(self) -> Registry:
        return Registry.of(mlflow.MlflowClient(self.uri, self.uri))

    def served_version(self) -> int:
        request = urllib.request.Request(
            f"{self.url}/model_info", data=b"{}", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(json.load(answer)["version"])

    def wait_served(self, version: int, timeout_s: float = 120) -> float:
        """Seconds until the front answers with ``version``."""
        began = time.monotonic()
        while time.monotonic() - began < timeout_s:
            if self.served_version() == version:
                return time.monotonic() - began
            time.sleep(0.2)
        raise AssertionError(f"the follower did not serve v{version} within {timeout_s:.0f} s")

    def load(self, mode: str, name: str) -> subprocess.Popen[bytes]:
        """Locust in its own process, for at most LOAD_S seconds."""
        env = dict(os.environ, GUARD_TRAFFIC=mode, GUARD_RATE="10")
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "6",
            "-r", "6", "-t", f"{LOAD_S}s", "--host", self.url, "--csv",
            str(self.logs / name), "--only-summary", "--stop-timeout", "5",
        ]  # fmt: skip
        return start(command, self.logs / f"{name}.log", env=env)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("guard")
    project, logs = root / "project", root / "logs"
    project.mkdir()
    logs.mkdir()
    eval_frame(400, {"a": 0.05, "b": 0.5, "c": 0.5}).to_csv(project / "eval.csv", index=False)
    write_suite(project, ACCURACY_SUITE)
    (project / "modelgate.yaml").write_text(PATH, encoding="utf-8")
    X = eval_frame(60, {"a": 0.0, "b": 0.5, "c": 0.5}, seed=1)
    y, X = X.pop("y"), X
    with pytest.MonkeyPatch.context() as patch, mlflow_server(root) as uri:
        patch.setenv("BENTOML_HOME", str(root / "bentoml"))
        patch.setenv("BENTOML_DO_NOT_TRACK", "True")
        patch.setenv("MODELGATE_MONITOR_INTERVAL_S", "0.3")  # the bins a 1 s guard reads
        # the other test worker may hold both cores: no shedding for a stalled event loop
        patch.setenv("MODELGATE_MAX_LATENCY_MS", "5000")
        # the flawed model's code (tests.flawed_models) for the gate run and the bentos
        patch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        for fit in (sound_model, traffic_flawed_model, sound_model):
            log_and_register(fit(X, y), "m", X, tracking_uri=uri)
        port = free_port()
        world = World(uri, project, f"http://{LOOPBACK}:{port}", logs)
        world.gate_and_promote(1)
        command = [
            sys.executable, "-m", "pytest_modelgate.cli", "serve", "staging", "--model-name",
            "m", "--follow", "--poll", "0.5", "--port", str(port), "--tracking-uri", uri,
            "--root", str(project),
        ]  # fmt: skip
        follower = start(command, logs / "follow.log", env=dict(os.environ))
        try:
            wait_ready(f"{world.url}/readyz", follower, logs / "follow.log", 180, "the follower")
            yield world
        finally:
            stop(follower)
        # the follower stopped every bento it started before it exited
        backends = re.findall(r" at (http://[\d.:]+)\)", (logs / "follow.log").read_text())
        assert backends
        assert [url for url in backends if answers(url)] == []


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/livez", timeout=5):
            return True
    except OSError:
        return False


def failures(world: World, name: str) -> dict[str, int]:
    """Locust's failures by message (after checking that it wrote its figures)."""
    with (world.logs / f"{name}_stats.csv").open(newline="") as handle:
        total = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 100, total
    found: dict[str, int] = {}
    path = world.logs / f"{name}_failures.csv"
    if path.exists():
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                found[row["Error"]] = found.get(row["Error"], 0) + int(row["Occurrences"])
    return found


@pytest.mark.parametrize(
    ("mode", "check"),
    [("errors", "error rate"), ("slow", "latency p95"), ("drift", "drift b")],
)
def test_a_breach_under_traffic_rolls_staging_back_and_the_follower_serves_v1(
    world: World, mode: str, check: str
) -> None:
    world.gate_and_promote(2)
    world.wait_served(2)
    locust = world.load(mode, mode)
    try:
        began = time.monotonic()
        guard = world.modelgate("guard", "staging", "--model-name", "m", "--url", world.url)
        detected = time.monotonic() - began
        assert guard.returncode == 1, guard.stdout + guard.stderr
        assert f"{check}: fail" in guard.stdout, guard.stdout
        looks = [line for line in guard.stdout.splitlines() if line.startswith("  look ")]
        assert len(looks) <= 3, guard.stdout  # a gross breach fails within three intervals
        assert world.registry.pinned("m", "staging") == 1
        switched = world.wait_served(1)
        time.sleep(2)  # traffic on v1 after the switch
    finally:
        stop(locust)  # SIGTERM: locust stops its users and writes its figures
    print(
        f"{mode}: guard decided in {detected:.1f} s; the follower served v1 {switched:.1f} s later"
    )
    seen = failures(world, mode)
    # the model's own 500s before the rollback, and nothing refused or dropped by the switch
    assert set(seen) <= {"CatchResponseError('model error 500')"}, seen
    if mode == "errors":
        assert seen, "the flawed version's failures should have been recorded"
    rollback = list(ledger.events(world.registry, "m", "staging"))[-1]
    assert rollback.action == "rollback"
    assert rollback.version == 1
    assert check in rollback.get("reason"), rollback.get("reason")
    verified = world.modelgate("verify", "m")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_sound_version_under_load_is_confirmed_not_rolled_back(world: World) -> None:
    world.gate_and_promote(3)
    world.wait_served(3)
    places = Places(load_path(world.project), world.registry, "m")
    assert "confirmation" in (entry_problem(places, 3, "production", None, "") or "")
    locust = world.load("healthy", "healthy")
    try:
        guard = world.modelgate(
            "guard", "staging", "--model-name", "m", "--url", world.url, "--confirm-after", "6",
            "--looks", "12",
        )  # fmt: skip
    finally:
        stop(locust)
    assert guard.returncode == 0, guard.stdout + guard.stderr
    looks = [line for line in guard.stdout.splitlines() if line.startswith("  look ")]
    assert len(looks) >= 6, guard.stdout
    assert ": fail:" not in guard.stdout, guard.stdout
    assert world.registry.pinned("m", "staging") == 3
    assert failures(world, "healthy") == {}
    event = list(ledger.events(world.registry, "m", "staging"))[-1]
    assert (event.action, event.version) == ("confirm", 3)
    assert entry_problem(places, 3, "production", None, "") is None
    status = world.modelgate("status", "m")
    assert "guard: v3 confirmed" in status.stdout, status.stdout
    history = world.modelgate("history", "m")
    assert "staging confirm v3" in history.stdout, history.stdout


PROMETHEUS = """
global: {{scrape_interval: 500ms, evaluation_interval: 10s}}
scrape_configs:
  - job_name: staging
    static_configs: [{{targets: ["{target}"]}}]
"""


def test_a_guard_of_a_fleet_reads_prometheus_and_rolls_drift_back(world: World) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus package is not installed (.ci/run installs it)")
    world.wait_served(3)  # confirmed by the test before; its predecessor is v1
    port = free_port()
    config = world.logs / "prometheus.yml"
    config.write_text(PROMETHEUS.format(target=world.url.removeprefix("http://")), "utf-8")
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={world.logs / 'tsdb'}",
               f"--web.listen-address={LOOPBACK}:{port}"]  # fmt: skip
    prometheus = start(command, world.logs / "prometheus.log")
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_ready(f"{url}/-/ready", prometheus, world.logs / "prometheus.log", 60, "prometheus")
        locust = world.load("drift", "fleet")
        try:
            guard = world.modelgate(
                "guard", "staging", "--model-name", "m", "--prometheus", url, "--selector",
                'job="staging"',
            )  # fmt: skip
        finally:
            stop(locust)
    finally:
        stop(prometheus)
    assert guard.returncode == 1, guard.stdout + guard.stderr
    assert "drift b: fail" in guard.stdout, guard.stdout
    assert world.registry.pinned("m", "staging") == 1
    world.wait_served(1)


def test_the_follower_never_serves_a_version_whose_evidence_does_not_verify(world: World) -> None:
    pinned = world.registry.pinned("m", "staging")
    assert pinned is not None
    X = eval_frame(60, {"a": 0.0, "b": 0.5, "c": 0.5}, seed=2)
    y = X.pop("y")
    unvetted = int(log_and_register(sound_model(X, y), "m", X, tracking_uri=world.uri).version)
    client = mlflow.MlflowClient(world.uri, world.uri)
    client.set_registered_model_alias("m", "staging", str(unvetted))  # outside modelgate
    try:
        deadline = time.monotonic() + 30
        log = world.logs / "follow.log"
        while f"not serving m v{unvetted}" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert f"not serving m v{unvetted} as staging" in log.read_text()
        assert world.served_version() == pinned
    finally:
        client.set_registered_model_alias("m", "staging", str(pinned))
