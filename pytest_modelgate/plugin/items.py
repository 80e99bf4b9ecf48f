"""Pytest collection of suite files: a SuiteFile yields one GateItem per gate check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_modelgate.errors import GateFailed, GateInconclusive, ModelgateError, SuiteError
from pytest_modelgate.gates.api import Check, GateResult
from pytest_modelgate.plugin.stash import gate_run
from pytest_modelgate.report.fairness import attach_chart
from pytest_modelgate.report.terminal import format_failure, format_result

if TYPE_CHECKING:
    from pytest_modelgate.run import GateRun
    from pytest_modelgate.suite.parse import Suite


class SuiteFile(pytest.File):
    """A declarative suite (YAML). Suites for other models collect nothing."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            planned = _run(self.config).plan_for(self.path)
        except SuiteError as exc:
            raise self.CollectError(f"malformed gate suite: {exc}") from None
        if planned is None:
            return
        suite, checks = planned
        for check in checks:
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
        run = _run(self.config)
        result = run.result_for(self.nodeid, self.check)
        attach_chart(run, result)
        run.record_result(self.nodeid, result)
        self.user_properties.extend(_properties(self.check, result))
        if result.inconclusive:
            raise GateInconclusive(result, result.message)
        if not result.passed:
            raise GateFailed(result, result.message)
        self.add_report_section("call", "gate", format_result(self.check, result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        error = excinfo.value
        if isinstance(error, GateFailed) and isinstance(error.result, GateResult):
            return format_failure(self.check, error.result)
        # an error raised on purpose says all there is to say; its traceback is library internals
        if isinstance(error, ModelgateError) and not self.config.getoption("fulltrace"):
            return f"{self.check.gate}[{self.check.name}] could not run: {error}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.suite.model}: {self.name}"


def _properties(check: Check, result: GateResult) -> list[tuple[str, object]]:
    """The item's figures as JUnit properties, so CI systems show them beside the test."""
    from pytest_modelgate.report.markdown import champion_delta

    props: list[tuple[str, object]] = [
        ("gate", check.gate),
        ("required", check.required),
        ("metric", result.metric),
        ("passed", result.passed),
        ("verdict", result.verdict),
        ("decided_on", result.decided_on),
    ]
    for key in (
        "value",
        "low",
        "high",
        "champion_value",
        "champion_version",
        "rows",
        "rows_needed",
    ):
        value = getattr(result, key)
        if value is not None:
            props.append((key, value))
    delta = champion_delta(result.metric, result.value, result.champion_value)
    if delta is not None:
        props.append(("champion_delta", delta))
    props.extend((f"threshold_{k}", v) for k, v in result.threshold.items())
    control = result.error_control
    if control is not None:
        props += [
            ("error_control", control["method"]),
            ("decision_level", control["level"]),
            ("p_value", control["p_value"]),
            ("adjusted_p", control["adjusted_p"]),
        ]
        if control["family"] is not None:
            props += [("family", control["family"]), ("family_size", control["family_size"])]
    return props


def _run(config: pytest.Config) -> GateRun:
    run = gate_run(config)
    assert run is not None, "gate items are collected only when a model is named"
    return run
