"""The robustness gate kind: its suite section becomes one item per property."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.api import Check, GateResult, gate_required
from pytest_modelgate.gates.robustness.checks import (
    check_edges,
    check_jitter,
    check_monotonic,
    check_noise,
)
from pytest_modelgate.gates.robustness.spec import GATE, SECTION_KEYS, parse_spec

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class RobustnessGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(SECTION_KEYS)
        spec = parse_spec(node, suite)
        required = gate_required(node)

        def check(name: str, run: Callable[..., GateResult], *args: Any) -> Check:
            return Check(GATE, name, functools.partial(run, spec, *args), required)

        checks = []
        if spec.noise is not None:
            checks.append(check("noise", check_noise))
        if spec.jitter is not None:
            checks.append(check("jitter", check_jitter))
        checks += [check(f"monotonic-{m.feature}", check_monotonic, m) for m in spec.monotonic]
        if spec.edge_timeout_s is not None:
            checks.append(check("edge-inputs", check_edges))
        if not checks:
            raise node.error("expected at least one of noise, jitter, monotonic, edge_inputs")
        return checks
