"""What an accuracy metric scores of a model's outputs: labels, probabilities, or a regressor's
numbers, with a clear error when the metric does not fit the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import MetricError
from pytest_modelgate.gates.accuracy.spec import MetricGate
from pytest_modelgate.gates.api import GateContext
from pytest_modelgate.stats.metrics import check_task, no_probabilities, score_input
from pytest_modelgate.suite.nodes import unquoted_bool_hint

if TYPE_CHECKING:
    import numpy as np

    from pytest_modelgate.candidate.predictions import ModelHandle


def scored_outputs(ctx: GateContext, gate: MetricGate, role: str) -> tuple[np.ndarray, np.ndarray]:
    """The target and what the metric scores of this model's outputs: labels, probabilities,
    or a regressor's numbers; MetricError when the metric does not fit the model."""
    data = ctx.eval_data(gate.suite)
    handle = ctx.candidate if role == "candidate" else ctx.champion
    assert handle is not None
    task = ctx.task(gate.suite)
    check_task(gate.spec, task.name, handle.ref.describe(), task.why)
    predictions = handle.predictions(data)
    proba = predictions.proba if gate.spec.needs_proba else None
    if gate.spec.needs_proba and proba is None:
        raise no_probabilities(gate.spec, handle.ref.describe(), handle.loaded.note)
    scored = score_input(gate.spec, predictions.labels, proba, predictions.classes)
    _check_point(gate, handle, data.y, scored)
    return data.y, scored


def _check_point(gate: MetricGate, handle: ModelHandle, y_true: Any, scored: Any) -> None:
    """The metric on every row, so that a metric sklearn refuses (a binary metric on string
    labels, roc_auc on three classes) says why before any resampling."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gate.spec.function(y_true, scored)
    except ValueError as exc:
        text = str(exc)
        hint = ""
        if "pos_label" in text:
            labels = sorted(map(str, set(_unique(y_true))))
            hint = (
                f"; name the positive class with params: {{pos_label: ...}} (labels: "
                f"{', '.join(labels)}) or use a macro average such as f1_macro"
                + unquoted_bool_hint(gate.spec.params.get("pos_label"))
            )
        elif "multi_class" in text or "multiclass" in text:
            hint = "; for several classes use roc_auc_ovr, f1_macro or another averaged form"
        raise MetricError(
            f"metric {gate.spec.name!r} ({gate.label}) cannot score {handle.ref.describe()}'s "
            f"outputs: {text}{hint}"
        ) from None


def _unique(values: Any) -> list[Any]:
    import numpy as np

    return list(np.unique(np.asarray(values)).tolist())
