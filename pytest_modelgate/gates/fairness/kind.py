"""The fairness gate kind: its suite section becomes one item per measure and grouping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Check, gate_required, require_extra
from pytest_modelgate.gates.fairness.checks import ChampionFairness, ThresholdFairness
from pytest_modelgate.gates.fairness.spec import (
    GATE,
    SECTION_KEYS,
    parse_by,
    parse_fairness_policy,
    parse_metric,
)

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class FairnessGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        require_extra(node, "the fairness gate", "fairlearn")
        if not suite.sensitive:
            raise node.error(
                "the fairness gate needs the suite's 'sensitive:' columns (for example "
                "sensitive: [sex, age_group]) at the top of the suite file"
            )
        policy = parse_fairness_policy(node)
        groupings = parse_by(node.get("by"), suite)
        required = gate_required(node)
        metrics = node.require("metrics")
        if not metrics.mapping().keys():
            raise metrics.error("expected at least one metric")
        checks: list[Check] = []
        for label, entry in metrics.items():
            for by in groupings:
                metric = parse_metric(label, entry, by, policy, suite)
                family = policy.stats.family
                absolute = metric.minimum is not None or metric.maximum is not None
                checks.append(
                    Check(
                        GATE,
                        metric.item,
                        ThresholdFairness(metric),
                        required,
                        family if absolute else None,
                    )
                )
                if metric.margin is not None:
                    name = f"{metric.item}-vs-champion"
                    checks.append(Check(GATE, name, ChampionFairness(metric), required, family))
        return checks
