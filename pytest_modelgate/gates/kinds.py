"""The built-in gate kinds. Plugins add kinds with the ``pytest_modelgate_gate_kinds`` hook."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import GateKind


def builtin_kinds() -> dict[str, GateKind]:
    from pytest_modelgate.gates.accuracy.kind import AccuracyGate
    from pytest_modelgate.gates.calibration.kind import CalibrationGate
    from pytest_modelgate.gates.drift.kind import DriftGate
    from pytest_modelgate.gates.fairness.kind import FairnessGate
    from pytest_modelgate.gates.latency.kind import LatencyGate
    from pytest_modelgate.gates.load.kind import LoadGate
    from pytest_modelgate.gates.robustness.kind import RobustnessGate
    from pytest_modelgate.gates.schema.kind import SchemaGate

    kinds: list[GateKind] = [
        AccuracyGate(),
        SchemaGate(),
        LatencyGate(),
        RobustnessGate(),
        FairnessGate(),
        CalibrationGate(),
        LoadGate(),
        DriftGate(),
    ]
    return {kind.name: kind for kind in kinds}
