"""``pip install pytest-modelgate`` with no extra: gating works, with pytest-xdist absent, with
it disabled and with it installed later; promotion and serving say which extra they need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .userenv import (
    MODEL,
    PASSED,
    UserEnv,
    check_isolated,
    make_user,
    outcome_line,
    readme_commands,
    without_extras,
)


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> UserEnv:
    return make_user(tmp_path_factory.mktemp("gating-only"), None, wheel)


def verdicts(path: Path) -> dict[str, object]:
    report = json.loads(path.read_text())
    return {
        "items": {i["nodeid"]: i["outcome"] for i in report["items"]},
        "promotable": report["promotable"],
    }


def test_the_environment_holds_only_the_wheel_and_what_pip_resolved(
    user: UserEnv, record_property: pytest.RecordProperty
) -> None:
    record_property("install", {"env": "gating only (no extra)", **check_isolated(user)})
    installed = user.installed()
    assert "pytest-modelgate" in installed
    assert not {"bentoml", "locust", "fairlearn"} & set(installed)


def test_the_readme_gate_run_passes_without_pytest_xdist(user: UserEnv) -> None:
    _, init, gate, _, _ = readme_commands()
    done = user.run(*user.readme(without_extras(init), version=1))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wrote gates/{MODEL}.yaml" in done.stdout
    gated = user.run(*user.readme(gate, version=1), "--gate-report", "alone.json")
    assert gated.returncode == 0, gated.stdout[-4000:] + gated.stderr[-2000:]
    assert PASSED in gated.stdout
    assert "INTERNALERROR" not in gated.stdout + gated.stderr


def test_the_same_run_with_xdist_disabled_and_warnings_as_errors_agrees(user: UserEnv) -> None:
    _, _, gate, _, _ = readme_commands()
    gated = user.run(
        *user.readme(gate, version=1), "-p", "no:xdist", "-W", "error", "--gate-report", "no.json"
    )
    assert gated.returncode == 0, gated.stdout[-4000:] + gated.stderr[-2000:]
    assert verdicts(user.root / "no.json") == verdicts(user.root / "alone.json")


def test_promotion_and_serving_name_the_serve_extra_and_move_nothing(user: UserEnv) -> None:
    _, _, _, promote, serve = readme_commands()
    refused = user.run(*user.readme(promote, version=1))
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert "pip install 'pytest-modelgate[serve]'" in refused.stdout + refused.stderr
    assert f"promoted {MODEL}" not in refused.stdout
    assert "staging" not in user.aliases()
    served = user.run(*user.readme(serve, version=1))
    assert served.returncode != 0
    assert "pip install 'pytest-modelgate[serve]'" in served.stderr, served.stderr


def test_the_readme_suite_as_written_names_the_extras_its_gates_need(
    user: UserEnv, tmp_path: Path
) -> None:
    _, init, gate, _, _ = readme_commands()
    other = tmp_path / "as-written"
    (other / "data").mkdir(parents=True)
    for name in ("train.csv", "eval.csv"):
        (other / "data" / name).write_bytes((user.root / "data" / name).read_bytes())
    written = user.run(*user.readme(init, version=1), cwd=other)
    assert written.returncode == 0, written.stdout + written.stderr
    gated = user.run(*user.readme(gate, version=1), cwd=other)
    assert gated.returncode != 0
    output = gated.stdout + gated.stderr
    assert "pip install 'pytest-modelgate[fairness]'" in output, outcome_line(gated.stdout)
    assert "Traceback" not in output


def test_pytest_xdist_installed_later_gives_the_same_verdicts(user: UserEnv) -> None:
    user.install("pytest-xdist")
    _, _, gate, _, _ = readme_commands()
    gated = user.run(*user.readme(gate, version=1), "-n", "2", "--gate-report", "two.json")
    assert gated.returncode == 0, gated.stdout[-4000:] + gated.stderr[-2000:]
    assert "2 workers" in gated.stdout
    assert verdicts(user.root / "two.json") == verdicts(user.root / "alone.json")
