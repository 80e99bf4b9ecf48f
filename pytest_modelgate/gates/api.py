"""What every gate kind shares: the checks it contributes and the result each one records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.candidate.task import Task
    from pytest_modelgate.gates.engines.requests import SumsRequest
    from pytest_modelgate.settings import Settings
    from pytest_modelgate.stats.sums import CellSums
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

    def sums(self, suite: Suite, request: SumsRequest) -> CellSums:
        """The sums a streaming or Spark pass computed over the suite's data for ``request``
        (the first request of a suite runs one pass for every check's requests)."""
        ...

    def task(self, suite: Suite) -> Task:
        """What the candidate does on this suite (``.name`` is ``classification`` or
        ``regression``, ``.why`` says how that was decided): the suite's ``task:``, else
        detected from the candidate and the suite's target."""
        ...


VERDICTS = ("pass", "fail", "inconclusive")


@dataclass(frozen=True)
class Decision:
    """How the run's error control decided one claim."""

    verdict: str  # pass, fail or inconclusive
    level: float  # the one-sided level of the side the evidence points to
    p_value: float  # that side's raw p-value
    adjusted_p: float  # after the family's correction (the raw one when decided alone)
    method: str  # holm, bonferroni, or none (decided alone at the section's confidence)
    family: str | None = None
    family_size: int = 1
    alpha: float | None = None  # the family's error level
    toward: str = "pass"  # the side the evidence points to: p_value is that of the other one
    # each side's one-sided level (``level`` is the one of the side the evidence points to)
    pass_level: float | None = None
    fail_level: float | None = None

    @property
    def confidence(self) -> float:
        """The two-sided level of the interval the claim was decided on."""
        return 1.0 - 2.0 * self.level

    @property
    def corrected(self) -> bool:
        return self.method != "none" and self.family_size > 1

    def decided_on(self) -> str:
        if not self.corrected:
            return "bound"
        return f"bound, {self.method.capitalize()} over {self.family_size} checks"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "method": self.method,
            "family": self.family,
            "family_size": self.family_size,
            "alpha": self.alpha,
            "level": self.level,
            "confidence": self.confidence,
            "p_value": self.p_value,
            "adjusted_p": self.adjusted_p,
            "toward": self.toward,
        }


@dataclass
class Claim:
    """An interval decision a check leaves to the run's error control.

    ``p_pass`` is the p-value of "the check's statistic violates its threshold" and ``p_fail``
    of "it meets it". Decided alone, the one-sided level is ``(1 - confidence) / 2``; in a
    family, Holm's (or Bonferroni's) correction sets it. ``decide`` then writes the verdict,
    message and rows needed into the result.
    """

    p_pass: float
    p_fail: float
    confidence: float
    decide: Callable[[Decision], None]


@dataclass
class GateResult:
    """The figures behind one gate item's decision; written to the report and the terminal.

    ``passed`` and ``inconclusive`` give the verdict: pass, fail, or inconclusive (not enough
    evidence either way, which blocks a promotion like a failure). A check that decides on an
    interval returns a ``claim`` and the run decides it (see ``Claim``)."""

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
    inconclusive: bool = False
    rows_needed: int | None = None  # rows that would decide an inconclusive interval
    error_control: dict[str, Any] | None = None  # Decision.as_dict() of an interval claim
    claim: Claim | None = field(default=None, repr=False, compare=False)

    @property
    def verdict(self) -> str:
        if self.inconclusive:
            return "inconclusive"
        return "pass" if self.passed else "fail"

    def set_verdict(self, verdict: str) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; expected one of {VERDICTS}")
        self.passed = verdict == "pass"
        self.inconclusive = verdict == "inconclusive"

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
            "verdict": self.verdict,
            "rows_needed": self.rows_needed,
            "error_control": self.error_control,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        """The result a report (or a pytest-xdist worker) wrote with ``as_dict``."""
        interval = data.get("interval") or (None, None)
        verdict = data.get("verdict") or ("pass" if data["passed"] else "fail")
        return cls(
            passed=verdict == "pass",
            metric=data["metric"],
            value=data.get("value"),
            low=interval[0],
            high=interval[1],
            threshold=dict(data.get("threshold") or {}),
            decided_on=data.get("decided_on", "bound"),
            rows=data.get("rows"),
            champion_version=data.get("champion_version"),
            champion_value=data.get("champion_value"),
            message=data.get("message", ""),
            details=dict(data.get("details") or {}),
            inconclusive=verdict == "inconclusive",
            rows_needed=data.get("rows_needed"),
            error_control=data.get("error_control"),
        )


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
    # the error-control family of a check that decides on an interval: the run decides every
    # claim of a family together (Holm by default); None: decided on its own
    family: str | None = None


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
