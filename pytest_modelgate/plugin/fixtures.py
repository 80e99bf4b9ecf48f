"""Fixtures for custom gates: plain pytest tests that use the candidate being gated.

Without a model named, every fixture skips its test: the plugin stays out of the way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_modelgate.errors import ConfigError
from pytest_modelgate.plugin.stash import gate_run as stashed_run

if TYPE_CHECKING:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle, Predictions
    from pytest_modelgate.candidate.registry import ModelRef
    from pytest_modelgate.run import GateRun
    from pytest_modelgate.suite.parse import Suite


NO_MODEL = "no model named: pass --model-name NAME with --model-version N or --model-alias A"


@pytest.fixture(scope="session")
def gate_run(request: pytest.FixtureRequest) -> GateRun:
    """The gate run's state (internal: the fixtures below are the documented ones)."""
    run = stashed_run(request.config)
    if run is None:
        pytest.skip(NO_MODEL)
    return run


@pytest.fixture(scope="session")
def candidate(gate_run: GateRun) -> ModelHandle:
    """The version being gated (loaded on first use, once per session)."""
    return gate_run.candidate


@pytest.fixture(scope="session")
def candidate_info(gate_run: GateRun) -> ModelRef:
    """The gated version's registry description: name, version, run id, signature."""
    return gate_run.candidate.ref


@pytest.fixture(scope="session")
def champion(gate_run: GateRun) -> ModelHandle | None:
    """The version the champion alias (``production``) points at, or None."""
    return gate_run.champion


@pytest.fixture
def gate_suite(request: pytest.FixtureRequest, gate_run: GateRun) -> Suite:
    try:
        return gate_run.suite_near(request.path)
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def eval_data(gate_run: GateRun, gate_suite: Suite) -> Dataset:
    """The suite's evaluation data, read once per session."""
    return gate_run.eval_data(gate_suite)


@pytest.fixture
def predictions(candidate: ModelHandle, eval_data: Dataset) -> Predictions:
    """The candidate's predictions on the evaluation data, computed once and shared."""
    return candidate.predictions(eval_data)
