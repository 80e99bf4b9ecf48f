"""Where the plugin keeps its working objects: in ``config.stash``, never on private fields.
The gate session puts the run there when a model is named, and its report when it is built."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_modelgate.run import GateRun

RUN_KEY = pytest.StashKey[GateRun]()
REPORT_KEY = pytest.StashKey[dict[str, Any]]()


def gate_run(config: pytest.Config) -> GateRun | None:
    """The gate run, or None when no model is named."""
    return config.stash.get(RUN_KEY, None)


def gate_report(config: pytest.Config) -> dict[str, Any] | None:
    """The run's gate report once the session has built it."""
    return config.stash.get(REPORT_KEY, None)
