"""Accuracy metrics per slice: ``accuracy[f1@sex=female]`` (see slices.py for the syntax)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.accuracy.outputs import scored_outputs
from pytest_modelgate.gates.slices import SliceMetric, parse_policy, parse_slices, slice_checks

if TYPE_CHECKING:
    import numpy as np

    from pytest_modelgate.gates.accuracy.spec import MetricGate
    from pytest_modelgate.gates.api import Check, GateContext
    from pytest_modelgate.gates.policy import Policy
    from pytest_modelgate.gates.slices import Slice
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


def accuracy_slice_checks(
    node: Node, gates: list[MetricGate], policy: Policy, suite: Suite, required: bool
) -> list[Check]:
    slices = parse_slices(node, suite)
    metrics = [_slice_metric(*choice) for choice in _chosen(node, gates)]
    return slice_checks(
        "accuracy",
        slices,
        parse_policy(node, policy.confidence, policy.decide_on, policy.family),
        metrics,
        suite,
        required,
    )


Choice = tuple["MetricGate", "Node | None", "Node"]


def _chosen(node: Node, gates: list[MetricGate]) -> list[Choice]:
    """The metrics asked per slice: (gate, its slice thresholds if set, where it is named)."""
    by_label = {gate.label: gate for gate in gates}
    picked = node.get("metrics")
    if picked is None:
        chosen = [g for g in gates if g.minimum is not None or g.maximum is not None]
        if not chosen:
            raise node.error("no accuracy metric has min or max; name slice thresholds in metrics")
        return [(g, None, node) for g in chosen]
    entries: list[tuple[str, Node | None, Node]]
    if isinstance(picked.value, dict):
        entries = [(name, entry, entry) for name, entry in picked.items()]
    else:
        entries = [(name, None, picked) for name in picked.as_str_list()]
    out: list[Choice] = []
    for label, override, where in entries:
        if label not in by_label:
            raise picked.error(
                f"{label!r} is not one of this section's metrics ({', '.join(by_label)})"
            )
        out.append((by_label[label], override, where))
    return out


def _slice_metric(gate: MetricGate, override: Node | None, where: Node) -> SliceMetric:
    minimum, maximum = gate.minimum, gate.maximum
    if override is not None:
        override.mapping().only({"min", "max"})
        minimum = override.get("min").as_number() if override.has("min") else None  # type: ignore[union-attr]
        maximum = override.get("max").as_number() if override.has("max") else None  # type: ignore[union-attr]
    if minimum is None and maximum is None:
        raise where.error(f"{gate.label} has no min or max to decide its slices on")
    return SliceMetric(
        gate.label,
        minimum,
        maximum,
        _distribution(gate),
        streamed=functools.partial(_streamed, gate),
        requests=functools.partial(_requests, gate),
    )


def _requests(gate: MetricGate, ctx: GateContext, item: Slice) -> list[Any]:
    from pytest_modelgate.gates.accuracy import streamed

    return streamed.requests(ctx, gate, ("candidate",), item)


def _streamed(gate: MetricGate, ctx: GateContext, item: Slice) -> tuple[int, float, np.ndarray]:
    from pytest_modelgate.gates.accuracy import streamed

    rows, ((point, values),) = streamed.sliced(ctx, gate, item)
    return rows, point, values


def _distribution(gate: MetricGate):  # type: ignore[no-untyped-def]
    def distribution(ctx: GateContext, mask: np.ndarray) -> tuple[float, np.ndarray]:
        from pytest_modelgate.stats.bootstrap import bootstrap_distribution

        y_true, scored = scored_outputs(ctx, gate, "candidate")
        return bootstrap_distribution(
            gate.spec.function,
            y_true[mask],
            scored[mask],
            resamples=gate.policy.resamples,
            seed=gate.policy.seed,
        )

    return distribution
