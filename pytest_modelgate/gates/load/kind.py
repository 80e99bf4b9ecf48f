"""The load gate kind: one item, named by its number of users."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Check, gate_required, require_extra
from pytest_modelgate.gates.load.checks import check_load
from pytest_modelgate.gates.load.spec import GATE, SECTION_KEYS, parse_spec

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class LoadGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        require_extra(node, "the load gate", "bentoml", "locust")
        spec = parse_spec(node, suite)
        name = f"users-{spec.plan.users}"
        return [Check(GATE, name, functools.partial(check_load, spec), gate_required(node))]
