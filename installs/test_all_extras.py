"""``pip install 'pytest-modelgate[all]'`` and the README's commands exactly as written there:
``modelgate init`` (fairness and load included), the gate run, ``--promote staging``,
``modelgate serve staging`` and a prediction from the served bento."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .userenv import (
    MODEL,
    PASSED,
    REPO,
    UserEnv,
    assert_serves_staging,
    check_isolated,
    make_user,
    outcome_line,
    readme_commands,
    serving,
)

ACTIONLINT = Path(sys.executable).with_name("actionlint")


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> UserEnv:
    return make_user(tmp_path_factory.mktemp("all"), "all", wheel)


def test_the_readme_installs_the_all_extra(
    user: UserEnv, record_property: pytest.RecordProperty
) -> None:
    record_property("install", {"env": "all", **check_isolated(user)})
    pip, *_ = readme_commands()
    assert pip[:3] == ["pip", "install", "pytest-modelgate[all]"], pip
    assert {"bentoml", "locust", "fairlearn"} <= set(user.installed())
    assert "pytest-xdist" not in user.installed()


def test_init_as_written_scaffolds_every_gate_and_the_workflows(user: UserEnv) -> None:
    _, init, *_ = readme_commands()
    done = user.run(*user.readme(init, version=1))
    assert done.returncode == 0, done.stdout + done.stderr
    for path in (f"gates/{MODEL}.yaml", f"gates/load/{MODEL}-load.yaml", "locustfile.py",
                 ".github/workflows/model-gates.yml", ".github/workflows/model-promote.yml"):  # fmt: skip
        assert f"wrote {path}" in done.stdout, done.stdout
    assert f"next: pytest gates/ --model-name {MODEL} --model-version 1" in done.stdout
    for workflow in (user.root / ".github" / "workflows").glob("*.yml"):
        linted = subprocess.run([str(ACTIONLINT), str(workflow)], capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout + linted.stderr
    again = user.run(*user.readme(init, version=1))
    assert again.returncode != 0
    assert f"not overwriting gates/{MODEL}.yaml" in again.stderr
    assert "--force" in again.stderr


def test_the_gate_run_as_written_passes_every_family(user: UserEnv) -> None:
    _, _, gate, _, _ = readme_commands()
    done = user.run(*user.readme(gate, version=1), "-p", "no:xdist")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert PASSED in done.stdout, outcome_line(done.stdout)
    for family in ("accuracy[", "schema[", "latency[", "robustness[", "fairness[", "drift[",
                   "load["):  # fmt: skip
        assert family in done.stdout, family


def test_promote_staging_as_written_moves_the_alias(user: UserEnv) -> None:
    _, _, _, promote, _ = readme_commands()
    done = user.run(*user.readme(promote, version=1))
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert f"promoted {MODEL} v1 to staging" in done.stdout
    assert user.aliases() == {"staging": "1"}


@pytest.fixture(scope="module")
def served(user: UserEnv) -> Iterator[str]:
    _, _, _, _, serve = readme_commands()
    with serving(user, user.readme(serve, version=1)) as url:
        yield url


def test_the_served_staging_bento_answers_with_the_users_classes(
    user: UserEnv, served: str
) -> None:
    assert_serves_staging(user, served)


def test_the_bento_carries_the_package_and_only_the_pins_the_model_asked_for(
    user: UserEnv,
) -> None:
    home = Path(user.env["BENTOML_HOME"])
    (bento,) = sorted((home / "bentos" / f"modelgate-{MODEL}").glob("v*"))
    wheels = list((bento / "env" / "python" / "wheels").glob("pytest_modelgate-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as packed:
        assert "pytest_modelgate/serving/service.py" in packed.namelist()
    model_dir = next((home / "models").glob(f"{MODEL}/*/mlflow_model"))
    asked = set(_requirements(model_dir / "requirements.txt"))
    requirements = _requirements(bento / "env" / "python" / "requirements.txt")
    assert asked <= set(requirements)
    pins = {r for r in requirements if "==" in r}
    # BentoML pins itself to the version that built the bento; every other pin is the model's
    assert {p for p in pins if not p.startswith("bentoml==")} <= asked
    assert "bentoml>=1.4.39" in requirements  # the serve extra, as a range
    assert "env/python/install.sh" in (bento / "env" / "docker" / "Dockerfile").read_text()
    assert (
        "service: pytest_modelgate.serving.service:ModelGate" in (bento / "bento.yaml").read_text()
    )
    assert str(REPO) not in (bento / "bento.yaml").read_text()


def _requirements(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
