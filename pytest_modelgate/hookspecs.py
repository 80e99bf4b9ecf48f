"""The documented extension API of pytest-modelgate.

Implement these in a conftest.py or a plugin; pytest registers them on start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .gates.base import GateKind


def pytest_modelgate_gate_kinds() -> list[GateKind]:  # type: ignore[empty-body]
    """Return extra gate kinds (objects with ``name`` and ``checks(node, suite)``).

    A suite file may then use ``gates: {<name>: {...}}``; a kind with a built-in's name
    replaces it.
    """


def pytest_modelgate_report(config: pytest.Config, report: dict[str, Any]) -> None:
    """Observe (or add to) the gate report before it is written."""
