"""Fresh-install environments: each module is one user environment (an extra set), built once
for the module. The closing summary lists each environment's install: packages and seconds."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

from .userenv import build_wheel

INSTALLED: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per run: pytest-xdist workers share the base temp directory's parent, and
    two builds of one source tree at once collide in its build directory."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "modelgate-dist"
    shared.mkdir(exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = sorted(shared.glob("pytest_modelgate-*.whl"))
        return built[0] if built else build_wheel(shared)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    for key, value in report.user_properties:
        if key == "install" and value not in [v for _, v in INSTALLED]:
            INSTALLED.append((report.nodeid, value))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not INSTALLED:
        return
    terminalreporter.section("fresh-install environments")
    terminalreporter.write_line(f"{'environment':<28}{'packages':>10}{'install s':>12}")
    for _, figures in sorted(INSTALLED, key=lambda entry: entry[1]["env"]):
        terminalreporter.write_line(
            f"{figures['env']:<28}{figures['packages']:>10}{figures['install_s']:>12.1f}"
        )
