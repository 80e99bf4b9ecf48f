"""The documented extension API of pytest-modelgate.

Implement these in a conftest.py or a plugin; pytest registers them on start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import GateKind
    from pytest_modelgate.promotion.moves import PromotionRequest, PromotionResult


def pytest_modelgate_gate_kinds() -> list[GateKind]:  # type: ignore[empty-body]
    """Return extra gate kinds (objects with ``name`` and ``checks(node, suite)``).

    A suite file may then use ``gates: {<name>: {...}}``; a kind with a built-in's name
    replaces it.
    """


def pytest_modelgate_report(config: pytest.Config, report: dict[str, Any]) -> None:
    """Observe (or add to) the gate report before it is written."""


def pytest_modelgate_promotion_veto(config: pytest.Config, request: PromotionRequest) -> str | None:
    """Return a reason to refuse this promotion, or None to let it go ahead.

    Asked after every required gate passed and before anything is built or moved; every
    implementation is asked, and any reason refuses the promotion (the run then fails).
    """


def pytest_modelgate_promotion(
    config: pytest.Config,
    request: PromotionRequest,
    result: PromotionResult | None,
    error: str | None,
) -> None:
    """Observe a promotion: ``result`` when the alias moved, else ``error`` says why not."""
