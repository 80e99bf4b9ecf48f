"""A suite's one pass over its data on its engine: the models it needs and the columns each
reads, then the streaming or the Spark pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.input_schema import Validation
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.gates.api import GateContext
    from pytest_modelgate.gates.engines.requests import SumsRequest
    from pytest_modelgate.stats.sums import CellSums
    from pytest_modelgate.suite.parse import Suite


def run_pass(ctx: GateContext, suite: Suite, requests: list[SumsRequest]) -> dict[str, CellSums]:
    data = ctx.eval_data(suite)
    assert data.stream is not None, "a pass reads a streamed dataset"
    roles = {role for r in requests for role, _ in r.outputs}
    models: dict[str, ModelHandle] = {"candidate": ctx.candidate}
    if "champion" in roles and ctx.champion is not None:
        models["champion"] = ctx.champion
    inputs = {role: model_inputs(handle, data) for role, handle in models.items()}
    if suite.data.engine == "spark":
        from pytest_modelgate.gates.engines.spark import run_spark

        return run_spark(data, requests, models, inputs, suite.data)
    from pytest_modelgate.gates.engines.local import run_local

    return run_local(data.stream, requests, models, inputs, suite.data.batch_rows)


def model_inputs(handle: ModelHandle, data: Dataset) -> list[str]:
    """The columns a model takes: its own signature's when the data has them (a champion may
    use other features than the candidate), else the suite's features."""
    wanted = handle.ref.input_names
    if wanted and all(c in data.frame.columns for c in wanted):
        return list(wanted)
    return list(data.features)


def validate_batches(ctx: GateContext, suite: Suite, schema: object, first: int) -> Validation:
    """The eval data validated against a pandera schema a batch at a time (on Spark, a
    partition at a time), the failures merged in row order."""
    from pytest_modelgate.candidate.input_schema import Validation, validate

    data = ctx.eval_data(suite)
    assert data.stream is not None
    features = list(data.features)
    if suite.data.engine == "spark":
        from pytest_modelgate.gates.engines.spark import validate_partitions

        return validate_partitions(data, suite.data, schema, features, first)
    outcome = Validation(0)
    for batch in data.stream.batches(features, suite.data.batch_rows):
        found = validate(schema, batch.frame, first=first).shifted(batch.first)
        outcome = outcome.merge(found, first)
    return outcome
