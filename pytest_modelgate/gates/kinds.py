"""Gate kinds: one module per family. Plugins add kinds with ``pytest_modelgate_gate_kinds``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import GateKind


def builtin_kinds() -> dict[str, GateKind]:
    from pytest_modelgate.gates.accuracy.checks import AccuracyGate
    from pytest_modelgate.gates.drift.checks import DriftGate
    from pytest_modelgate.gates.fairness.spec import FairnessGate
    from pytest_modelgate.gates.latency.checks import LatencyGate
    from pytest_modelgate.gates.load.checks import LoadGate
    from pytest_modelgate.gates.robustness.checks import RobustnessGate
    from pytest_modelgate.gates.schema.checks import SchemaGate

    kinds: list[GateKind] = [
        AccuracyGate(),
        SchemaGate(),
        LatencyGate(),
        RobustnessGate(),
        FairnessGate(),
        LoadGate(),
        DriftGate(),
    ]
    return {kind.name: kind for kind in kinds}
