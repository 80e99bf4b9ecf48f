"""The calibration gate kind: each metric is an item, with its champion comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Check, gate_required
from pytest_modelgate.gates.calibration.checks import ChampionCalibration, ThresholdCalibration
from pytest_modelgate.gates.calibration.spec import GATE, SECTION_KEYS, parse_metrics
from pytest_modelgate.gates.policy import parse_policy

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class CalibrationGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        policy = parse_policy(node)
        required = gate_required(node)
        checks: list[Check] = []
        for metric in parse_metrics(node, policy, suite):
            if metric.maximum is not None:
                run = ThresholdCalibration(metric)
                checks.append(Check(GATE, metric.name, run, required, policy.family))
            if metric.max_increase is not None:
                run_vs = ChampionCalibration(metric)
                name = f"{metric.name}-vs-champion"
                checks.append(Check(GATE, name, run_vs, required, policy.family))
        return checks
