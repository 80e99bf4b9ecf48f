"""From a parsed suite to its checks: each gate section is read by the gate kind of its name."""

from __future__ import annotations

from collections.abc import Mapping

from pytest_modelgate.gates.api import Check, GateKind
from pytest_modelgate.suite.parse import Suite


def plan(suite: Suite, kinds: Mapping[str, GateKind]) -> tuple[Check, ...]:
    """Every check the suite asks for, in the order of its sections; a SuiteError names the
    file and line of a section no kind knows or a kind refuses."""
    checks: list[Check] = []
    for name, section in suite.gates.items():
        kind = kinds.get(name)
        if kind is None:
            raise section.error(f"unknown gate; known gates: {', '.join(sorted(kinds))}")
        checks.extend(kind.checks(section, suite))
    return tuple(checks)
