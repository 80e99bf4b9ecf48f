"""Fixtures for custom gates: plain pytest tests that use the candidate being gated.

Without a model named, every fixture skips its test: the plugin stays out of the way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle, Predictions
    from pytest_modelgate.candidate.registry import ModelRef
    from pytest_modelgate.plugin.session import GateSession
    from pytest_modelgate.suite.parse import Suite

NO_MODEL = "no model named: pass --model-name NAME with --model-version N or --model-alias A"


@pytest.fixture(scope="session")
def gate_session(request: pytest.FixtureRequest) -> GateSession:
    from pytest_modelgate.plugin.session import SESSION_KEY

    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_MODEL)
    return session


@pytest.fixture(scope="session")
def candidate(gate_session: GateSession) -> ModelHandle:
    """The version being gated (loaded on first use, once per session)."""
    return gate_session.candidate


@pytest.fixture(scope="session")
def candidate_info(gate_session: GateSession) -> ModelRef:
    """The gated version's registry description: name, version, run id, signature."""
    return gate_session.candidate.ref


@pytest.fixture(scope="session")
def champion(gate_session: GateSession) -> ModelHandle | None:
    """The version the champion alias (``production``) points at, or None."""
    return gate_session.champion


@pytest.fixture
def gate_suite(request: pytest.FixtureRequest, gate_session: GateSession) -> Suite:
    try:
        return gate_session.suite_near(request.path)
    except LookupError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def eval_data(gate_session: GateSession, gate_suite: Suite) -> Dataset:
    """The suite's evaluation data, read once per session."""
    return gate_session.eval_data(gate_suite)


@pytest.fixture
def predictions(candidate: ModelHandle, eval_data: Dataset) -> Predictions:
    """The candidate's predictions on the evaluation data, computed once and shared."""
    return candidate.predictions(eval_data)
