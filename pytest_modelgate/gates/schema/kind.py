"""The schema gate kind: four items, one per contract the input schema sets."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Check, gate_required
from pytest_modelgate.gates.schema.checks import (
    check_eval_data,
    check_malformed,
    check_output,
    check_signature,
)
from pytest_modelgate.gates.schema.spec import GATE, SECTION_KEYS, parse_spec

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class SchemaGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        spec = parse_spec(node, suite)
        required = gate_required(node)
        return [
            Check(GATE, "signature", functools.partial(check_signature, spec), required),
            Check(GATE, "eval-data", functools.partial(check_eval_data, spec), required),
            Check(GATE, "output", functools.partial(check_output, spec), required),
            Check(GATE, "malformed-input", functools.partial(check_malformed, spec), required),
        ]
