"""The accuracy gate kind: each metric is an item, with its champion comparison and slices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_modelgate.gates.accuracy.checks import ChampionComparison, GateThreshold
from pytest_modelgate.gates.accuracy.draws import SectionDraws
from pytest_modelgate.gates.accuracy.slices import accuracy_slice_checks
from pytest_modelgate.gates.accuracy.spec import GATE, SECTION_KEYS, parse_metric
from pytest_modelgate.gates.api import Check, gate_required
from pytest_modelgate.gates.policy import parse_policy

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class AccuracyGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        policy = parse_policy(node)
        required = gate_required(node)
        metrics = node.require("metrics")
        if not metrics.mapping().keys():
            raise metrics.error("expected at least one metric")
        checks: list[Check] = []
        gates = [parse_metric(label, entry, policy, suite) for label, entry in metrics.items()]
        draws = SectionDraws(gates)
        for gate in gates:
            label = gate.label
            absolute = gate.minimum is not None or gate.maximum is not None
            family = policy.family if absolute else None
            checks.append(Check(GATE, label, GateThreshold(gate, draws), required, family))
            if gate.max_drop is not None:
                name = f"{label}-vs-champion"
                checks.append(
                    Check(GATE, name, ChampionComparison(gate, draws), required, policy.family)
                )
        slices = node.get("slices")
        if slices is not None:
            checks += accuracy_slice_checks(slices, gates, policy, suite, required)
        return checks
