"""The gate session's pytest hooks: registered only when a model is named. They fill the
run's state (``pytest_modelgate.run``) and, at the end, write the report built from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_modelgate.plugin.stash import REPORT_KEY, RUN_KEY
from pytest_modelgate.run import GateRun
from pytest_modelgate.settings import Settings

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import GateKind


class GateSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.run = GateRun(settings, self._kinds)
        self.output_lines: list[str] = []
        config.stash[RUN_KEY] = self.run

    def _kinds(self) -> dict[str, GateKind]:
        from pytest_modelgate.gates.kinds import builtin_kinds

        kinds = builtin_kinds()
        for extra in self.config.hook.pytest_modelgate_gate_kinds():
            for kind in extra or ():
                kinds[kind.name] = kind
        return kinds

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from pytest_modelgate.errors import RegistryError

        try:
            _ = self.run.candidate
        except RegistryError as exc:
            raise pytest.UsageError(f"cannot gate: {exc}") from None

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        from pytest_modelgate.suite.nodes import looks_like_suite

        if looks_like_suite(file_path):
            from pytest_modelgate.plugin.items import SuiteFile

            return SuiteFile.from_parent(parent, path=file_path)
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        keep = []
        for item in items:
            marker = item.get_closest_marker("gate")
            if marker is None:
                keep.append(item)
            elif self._ours(marker):
                keep.append(item)
                self._track(item, marker)
            # else: another model's custom gate, not this run's business
        items[:] = keep

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("gate")
            if marker is not None and self._ours(marker):
                self._track(item, marker).outcome = "deselected"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = _outcome(report)
        if outcome is not None:
            longrepr = str(report.longrepr) if report.failed else None
            self.run.record_outcome(report.nodeid, outcome, longrepr)

    def pytest_keyboard_interrupt(self) -> None:
        self.run.interrupted = True

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_modelgate.report.terminal import summary_lines

        terminalreporter.section("model gates")
        for line in summary_lines(self.run.snapshot()) + self.output_lines:
            terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from pytest_modelgate.jsonio import write_json
        from pytest_modelgate.report.build import build_report
        from pytest_modelgate.report.outputs import write_outputs

        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.run.interrupted = True
        if not self.run.records and exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            # naming a model and running no gate must not look like a pass
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        report = build_report(self.run.snapshot())
        self.config.hook.pytest_modelgate_report(config=self.config, report=report)
        self.config.stash[REPORT_KEY] = report
        if self.settings.gate_report is not None:
            write_json(self.settings.gate_report, report)
        self.output_lines = write_outputs(self.run, report)

    def _ours(self, marker: pytest.Mark) -> bool:
        return marker.kwargs.get("model") in (None, self.settings.model_name)

    def _track(self, item: pytest.Item, marker: pytest.Mark) -> Any:
        gate = marker.args[0] if marker.args else item.name
        return self.run.track(item.nodeid, str(gate), bool(marker.kwargs.get("required", True)))


def _outcome(report: pytest.TestReport) -> str | None:
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if xfail:
            return "xfailed" if report.skipped else "xpassed"
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    return None
