"""The wheel installed beside the oldest pandas, numpy, scikit-learn and pytest its ranges
allow (``installs/older-releases.txt``): pip keeps them, and the plugin gates with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from .userenv import (
    CONSTRAINTS,
    PASSED,
    REPO,
    UserEnv,
    check_isolated,
    make_user,
    readme_commands,
    without_extras,
)

COMPAT = REPO / "installs" / "older-releases.txt"


def pins(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name.lower(): version for name, version in pairs}


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> UserEnv:
    tmp = tmp_path_factory.mktemp("older")
    older = pins(COMPAT)
    # the lock's pins, less the ones this environment replaces with older releases
    relaxed = tmp / "constraints.txt"
    kept = [line for line in CONSTRAINTS.read_text().splitlines()
            if line.split("==")[0].strip().lower() not in older]  # fmt: skip
    relaxed.write_text("\n".join(kept) + "\n")
    first = [f"{k}=={v}" for k, v in older.items()]
    return make_user(tmp, None, wheel, first=first, constraints=relaxed)


def test_installing_the_wheel_keeps_the_older_releases(
    user: UserEnv, record_property: pytest.RecordProperty
) -> None:
    record_property("install", {"env": "oldest releases", **check_isolated(user)})
    installed = user.installed()
    for name, version in pins(COMPAT).items():
        assert installed.get(name) == version, (name, installed.get(name))


def test_the_plugin_gates_with_them(user: UserEnv) -> None:
    _, init, gate, _, _ = readme_commands()
    done = user.run(*user.readme(without_extras(init), version=1))
    assert done.returncode == 0, done.stdout + done.stderr
    gated = user.run(*user.readme(gate, version=1))
    assert gated.returncode == 0, gated.stdout[-4000:] + gated.stderr[-2000:]
    assert PASSED in gated.stdout
    assert "pytest-8.4.2" in gated.stdout
