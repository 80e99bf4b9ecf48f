"""Gate kinds: one module per family. Plugins add kinds with ``pytest_modelgate_gate_kinds``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import GateKind


def builtin_kinds() -> dict[str, GateKind]:
    from .accuracy import AccuracyGate
    from .drift import DriftGate
    from .fairness import FairnessGate
    from .latency import LatencyGate
    from .load import LoadGate
    from .robustness import RobustnessGate
    from .schema import SchemaGate

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
