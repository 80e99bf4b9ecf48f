"""``pip install 'pytest-modelgate[serve]'``: the README's commands without the fairness and
load gates (their extras are not installed): init, the gate run, ``--promote staging``,
``modelgate serve staging`` and a prediction; then ``serve staging --follow`` with
``modelgate guard staging`` confirming the version under a bounded stream of requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from .userenv import (
    MODEL,
    PASSED,
    UserEnv,
    assert_serves_staging,
    check_isolated,
    eval_rows,
    make_user,
    post,
    readme_commands,
    serving,
    without_extras,
)

TRAFFIC_S = 40.0  # the longest the requests run; they stop when the guard is done


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


def test_serve_follow_and_the_guard_confirm_the_staging_version(user: UserEnv) -> None:
    assert user.aliases() == {"staging": "1"}  # the test before promoted it
    command = ["modelgate", "serve", "staging", "--model-name", MODEL, "--follow"]
    with serving(user, command) as url:
        rows, done, statuses = eval_rows(user, 200), threading.Event(), []

        def traffic() -> None:  # ten of the user's rows per request, bounded in time
            began, offset = time.monotonic(), 0
            while not done.is_set() and time.monotonic() - began < TRAFFIC_S:
                status, _ = post(f"{url}/predict", {"rows": rows[offset : offset + 10]})
                statuses.append(status)
                offset = (offset + 10) % len(rows)

        sender = threading.Thread(target=traffic, daemon=True)
        sender.start()
        try:
            guard = user.run(
                "modelgate", "guard", "staging", "--model-name", MODEL, "--url", url,
                "--interval", "2", "--looks", "15", "--confirm-after", "2", timeout=120,
            )  # fmt: skip
        finally:
            done.set()
            sender.join(timeout=30)
    assert guard.returncode == 0, guard.stdout[-4000:] + guard.stderr[-2000:]
    assert set(statuses) == {200}, sorted(set(statuses))
    assert f"guard confirmed {MODEL} v1 in staging" in guard.stdout
    history = user.run("modelgate", "history", MODEL)
    assert "staging confirm v1" in history.stdout, history.stdout
