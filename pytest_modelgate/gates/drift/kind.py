"""The drift gate kind: one item, ``drift[psi]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Check, gate_required
from pytest_modelgate.gates.drift.checks import DriftCheck
from pytest_modelgate.gates.drift.spec import GATE, SECTION_KEYS, parse_spec

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class DriftGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        spec = parse_spec(node, suite)
        return [Check(GATE, "psi", DriftCheck(spec), gate_required(node))]
