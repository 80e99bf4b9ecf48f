"""``pip install 'pytest-modelgate[serve]'``: the README's commands without the fairness and
load gates (their extras are not installed): init, the gate run, ``--promote staging``,
``modelgate serve staging`` and a prediction."""

from __future__ import annotations

from pathlib import Path

import pytest

from .userenv import (
    MODEL,
    PASSED,
    UserEnv,
    assert_serves_staging,
    check_isolated,
    make_user,
    readme_commands,
    serving,
    without_extras,
)


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> UserEnv:
    return make_user(tmp_path_factory.mktemp("serve"), "serve", wheel)


def test_the_environment_holds_the_serve_extra_and_nothing_of_the_others(
    user: UserEnv, record_property: pytest.RecordProperty
) -> None:
    record_property("install", {"env": "serve", **check_isolated(user)})
    installed = set(user.installed())
    assert "bentoml" in installed
    assert not {"locust", "fairlearn"} & installed


def test_the_readme_commands_gate_promote_and_serve(user: UserEnv) -> None:
    _, init, gate, promote, serve = readme_commands()
    done = user.run(*user.readme(without_extras(init), version=1))
    assert done.returncode == 0, done.stdout + done.stderr
    gated = user.run(*user.readme(gate, version=1))
    assert gated.returncode == 0, gated.stdout[-4000:] + gated.stderr[-2000:]
    assert PASSED in gated.stdout
    promoted = user.run(*user.readme(promote, version=1))
    assert promoted.returncode == 0, promoted.stdout[-4000:] + promoted.stderr[-2000:]
    assert f"promoted {MODEL} v1 to staging" in promoted.stdout
    assert user.aliases() == {"staging": "1"}
    with serving(user, user.readme(serve, version=1)) as url:
        assert_serves_staging(user, url)
