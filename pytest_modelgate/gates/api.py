"""What every gate kind shares: the checks it contributes and the result each one records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.settings import Settings
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


class GateContext(Protocol):
    """What a check may ask of the running gate session."""

    @property
    def candidate(self) -> ModelHandle: ...

    @property
    def champion(self) -> ModelHandle | None: ...

    @property
    def champion_alias(self) -> str: ...

    def eval_data(self, suite: Suite) -> Dataset: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def suites(self) -> dict[Path, Suite]: ...


@dataclass
class GateResult:
    """The figures behind one gate item's decision; written to the report and the terminal."""

    passed: bool
    metric: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: dict[str, float] = field(default_factory=dict)
    decided_on: str = "bound"
    rows: int | None = None
    champion_version: int | None = None
    champion_value: float | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def interval_text(self) -> str:
        if self.low is None or self.high is None:
            return ""
        return f"[{_number(self.low)}, {_number(self.high)}]"

    def value_text(self) -> str:
        if self.value is None:
            return "-"
        interval = self.interval_text()
        return _number(self.value) + (f" {interval}" if interval else "")

    def threshold_text(self) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in self.threshold.items()) or "-"

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "metric": self.metric,
            "value": self.value,
            "interval": None if self.low is None else [self.low, self.high],
            "threshold": self.threshold,
            "decided_on": self.decided_on,
            "rows": self.rows,
            "champion_version": self.champion_version,
            "champion_value": self.champion_value,
            "message": self.message,
            "details": self.details,
        }


def estimate_text(value: float, low: float, high: float) -> str:
    """``0.5000 [0.4500, 0.5500]``, the point alone without an interval, or 'undefined'."""
    import math

    if not math.isfinite(value):
        return "undefined"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def _number(value: float) -> str:
    """Four decimals for scores and milliseconds; whole numbers for rates like rows/s."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"


@dataclass(frozen=True)
class Check:
    """One pytest item of a suite: ``gate[name]``, run against the session."""

    gate: str
    name: str
    run: Callable[[GateContext], GateResult]
    required: bool = True


class GateKind(Protocol):
    """A family of gates: parses its section of a suite file into checks."""

    name: str

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]: ...


def require_extra(node: Node, what: str, *modules: str) -> None:
    """A gate whose optional dependency is missing fails collection at its section, naming
    the extra that installs it."""
    from pytest_modelgate.errors import MissingExtraError
    from pytest_modelgate.extras import require

    try:
        require(what, *modules)
    except MissingExtraError as exc:
        raise node.error(str(exc)) from None


def gate_required(node: Node) -> bool:
    """A gate section's ``required: false`` makes its items advisory (they never block)."""
    return node.value_or("required", lambda n: n.as_bool(), True)
