"""Pytest collection of suite files: a SuiteFile yields one GateItem per gate check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_modelgate.gates.api import Check, GateFailed, GateResult

if TYPE_CHECKING:
    from pytest_modelgate.plugin.session import GateSession
    from pytest_modelgate.suite.parse import Suite

# errors whose message says all there is to say; their tracebacks are library internals
_CLEAN_ERRORS = (
    "DataError",
    "PredictionError",
    "RegistryError",
    "MetricError",
    "SuiteError",
)


class SuiteFile(pytest.File):
    """A declarative suite (YAML). Suites for other models collect nothing."""

    def collect(self) -> Iterator[pytest.Item]:
        from pytest_modelgate.suite.parse import SuiteError

        gate_session = _gate_session(self.config)
        try:
            suite = gate_session.suite_for(self.path)
        except SuiteError as exc:
            raise self.CollectError(f"malformed gate suite: {exc}") from None
        if suite is None:
            return
        for check in suite.checks:
            yield GateItem.from_parent(
                self, name=f"{check.gate}[{check.name}]", check=check, suite=suite
            )


class GateItem(pytest.Item):
    """One gate check run against the candidate; its figures go to the report and JUnit."""

    def __init__(self, *, check: Check, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.suite = suite
        self.add_marker(pytest.mark.gate(check.gate, required=check.required, model=suite.model))

    def runtest(self) -> None:
        gate_session = _gate_session(self.config)
        result = self.check.run(gate_session)
        gate_session.record_result(self.nodeid, result)
        self.user_properties.extend(_properties(self.check, result))
        if not result.passed:
            raise GateFailed(result)
        self.add_report_section("call", "gate", format_result(self.check, result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        error = excinfo.value
        if isinstance(error, GateFailed):
            return format_failure(self.check, error.result)
        if type(error).__name__ in _CLEAN_ERRORS and not self.config.getoption("fulltrace"):
            return f"{self.check.gate}[{self.check.name}] could not run: {error}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.suite.model}: {self.name}"


def _gate_session(config: pytest.Config) -> GateSession:
    from pytest_modelgate.plugin.session import SESSION_KEY

    return config.stash[SESSION_KEY]


def _properties(check: Check, result: GateResult) -> list[tuple[str, object]]:
    """The item's figures as JUnit properties, so CI systems show them beside the test."""
    from pytest_modelgate.report.markdown import champion_delta

    props: list[tuple[str, object]] = [
        ("gate", check.gate),
        ("required", check.required),
        ("metric", result.metric),
        ("passed", result.passed),
        ("decided_on", result.decided_on),
    ]
    for key in ("value", "low", "high", "champion_value", "champion_version", "rows"):
        value = getattr(result, key)
        if value is not None:
            props.append((key, value))
    delta = champion_delta(result.metric, result.value, result.champion_value)
    if delta is not None:
        props.append(("champion_delta", delta))
    props.extend((f"threshold_{k}", v) for k, v in result.threshold.items())
    return props


def format_result(check: Check, result: GateResult) -> str:
    lines = [
        f"gate       {check.gate}",
        f"metric     {result.metric}",
        f"observed   {result.value_text()}",
        f"threshold  {result.threshold_text()} (decided on {result.decided_on})",
    ]
    if result.rows is not None:
        lines.append(f"rows       {result.rows}")
    if result.champion_version is not None:
        champ = "-" if result.champion_value is None else f"{result.champion_value:.4f}"
        lines.append(f"champion   v{result.champion_version}: {champ}")
    if result.message:
        lines.append(f"note       {result.message}")
    return "\n".join(lines)


def format_failure(check: Check, result: GateResult) -> str:
    return f"GATE FAILED: {check.gate}[{check.name}]\n{format_result(check, result)}"
