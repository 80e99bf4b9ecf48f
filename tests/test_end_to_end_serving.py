"""End to end on loopback: a real ``mlflow server``, gate runs that promote, and real
``bentoml serve`` processes, each environment answering with the version its alias pins.

v1 copies column ``a``, v2 copies column ``b`` (both pass the accuracy gate), v3 copies ``c``
(fails it). A row with a=1, b=0 therefore says which version answered.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.bento.loopback import post, served
from pytest_modelgate.plugin.promotion import NOT_PROMOTED
from pytest_modelgate.processes import free_port, stop
from pytest_modelgate.promotion.evidence import tag
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry
from pytest_modelgate.reference.models import log_and_register

from .conftest import ACCURACY_SUITE, copy_column_model, eval_frame, write_suite
from .mlflow_server import mlflow_server

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
ROW = {"a": 1.0, "b": 0.0, "c": 1.0}
CUSTOM_GATE = """
import pytest

@pytest.mark.gate("smoke")
def test_smoke_gate(candidate):
    assert candidate.ref.version >= 1
"""


@dataclass
class World:
    uri: str
    project: Path
    versions: dict[str, int]  # column the version copies -> version

    @property
    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(self.uri, self.uri)

    def gate(self, version: int, env: str, *extra: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--model-name", "m",
            "--model-version", str(version), "--tracking-uri", self.uri,
            "--bentofile", str(REPO / "bentofile.yaml"), "--promote", env, *extra,
        ]  # fmt: skip
        return subprocess.run(
            command, cwd=self.project, capture_output=True, text=True, timeout=300, check=False
        )

    def pinned(self, env: str) -> int | None:
        return PromotionRegistry.of(self.client).pinned("m", env)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("e2e")
    project = root / "project"
    project.mkdir()
    eval_frame(400, {"a": 0.05, "b": 0.08, "c": 0.4}).to_csv(project / "eval.csv", index=False)
    write_suite(project, ACCURACY_SUITE)
    (project / "test_custom_gate.py").write_text(CUSTOM_GATE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch, mlflow_server(root) as uri:
        # the bento builds and `bentoml serve` children inherit their own BentoML store
        patch.setenv("BENTOML_HOME", str(root / "bentoml"))
        patch.setenv("BENTOML_DO_NOT_TRACK", "True")
        versions = {}
        for column in ("a", "b", "c"):
            model, X = copy_column_model(column)
            versions[column] = log_and_register(model, "m", X, tracking_uri=uri).version
        yield World(uri, project, versions)


def _answer(world: World, url: str) -> tuple[int, float]:
    """(version that answered, its label for ROW): each version takes only its own column."""
    status, info = post(f"{url}/model_info", {})
    assert status == 200, info
    column = {v: c for c, v in world.versions.items()}[int(info["version"])]
    status, labels = post(f"{url}/predict", {"rows": [{column: ROW[column]}]})
    assert status == 200, labels
    return int(info["version"]), float(labels[0])


def test_each_environment_answers_with_the_version_its_alias_pins(world: World) -> None:
    v1, v2 = world.versions["a"], world.versions["b"]
    started = time.monotonic()
    for version, env in ((v1, "staging"), (v1, "production"), (v2, "staging")):
        done = world.gate(version, env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert f"promoted m v{version} to {env}" in done.stdout
    assert (world.pinned("staging"), world.pinned("production")) == (v2, v1)
    evidence = world.client.get_model_version("m", str(v2)).tags
    assert evidence[tag("staging", "drift_reference")].startswith("modelgate/drift-reference-")
    logs = world.project.parent
    with (
        served("staging", "m", world.uri, logs / "staging.log") as staging,
        served("production", "m", world.uri, logs / "production.log") as production,
    ):
        assert _answer(world, staging) == (v2, ROW["b"])
        assert _answer(world, production) == (v1, ROW["a"])
        status, drift = post(f"{staging}/drift", {})  # the promotion baked the eval data's profile
        assert status == 200, drift
        assert (drift["reference_rows"], sorted(drift["features"])) == (400, ["a", "b", "c"]), drift
        status, body = post(f"{production}/predict_proba", {"rows": [{"a": 1.0}]})
        assert status == 200, body
        assert body[0]["1"] > body[0]["0"]
        status, body = post(f"{staging}/predict", {"rows": [{"b": "zero"}]})
        assert status == 400
        assert body["detail"][0]["loc"][-1] == "b", body
    rollback = subprocess.run(
        [sys.executable, "-m", "pytest_modelgate.cli", "rollback", "staging", "--model-name", "m",
         "--tracking-uri", world.uri, "--reason", "v2 misbehaves"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert rollback.returncode == 0, rollback.stderr
    assert f"back from v{v2} to v{v1}" in rollback.stdout
    with served("staging", "m", world.uri, logs / "staging-rolled-back.log") as staging:
        assert _answer(world, staging) == (v1, ROW["a"])
    print(f"lifecycle took {time.monotonic() - started:.1f}s")


def test_a_bento_refuses_to_serve_an_environment_that_pins_another_version(world: World) -> None:
    v2 = world.versions["b"]
    bento = world.client.get_model_version("m", str(v2)).tags.get(tag("staging", "bento"))
    if bento is None or world.pinned("staging") == v2:
        pytest.fail("needs the lifecycle test before it: v2 built for staging, then rolled back")
    bentoml = Path(sys.executable).with_name("bentoml")
    env = dict(os.environ, MODELGATE_ENV="staging", MLFLOW_TRACKING_URI=world.uri)
    process = subprocess.Popen(
        [str(bentoml), "serve", bento, "--host", "127.0.0.1", "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        stop(process)
    assert process.returncode != 0
    assert b"refusing to start: alias 'staging' pins m v" in output, output[-2000:]


def test_a_failing_version_is_never_promoted(world: World) -> None:
    v3 = world.versions["c"]
    before = world.pinned("staging")
    done = world.gate(v3, "staging")
    assert done.returncode == 1, done.stdout[-3000:]
    assert NOT_PROMOTED.format(env="staging") in done.stdout
    assert world.pinned("staging") == before != v3
    assert tag("staging", "verdict") not in world.client.get_model_version("m", str(v3)).tags


def test_a_k_subset_run_does_not_promote(world: World) -> None:
    v1, v2 = world.versions["a"], world.versions["b"]
    world.client.set_registered_model_alias("m", "staging", str(v2))  # v2 holds staging again
    done = world.gate(v2, "production", "-k", "smoke")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "deselected" in done.stdout
    assert NOT_PROMOTED.format(env="production") in done.stdout
    assert world.pinned("production") == v1
