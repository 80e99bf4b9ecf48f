"""The latency gate kind: one item per batch size, and one against the champion."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Check, gate_required
from pytest_modelgate.gates.latency.checks import check_batch, check_champion
from pytest_modelgate.gates.latency.spec import GATE, SECTION_KEYS, parse_spec

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class LatencyGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        spec = parse_spec(node, suite)
        required = gate_required(node)
        checks = [
            Check(GATE, f"batch-{b.size}", functools.partial(check_batch, spec, b), required)
            for b in spec.batches
        ]
        if spec.max_regression is not None:
            checks.append(
                Check(GATE, "vs-champion", functools.partial(check_champion, spec), required)
            )
        return checks
