"""The gate session's pytest hooks: registered only when a model is named. They fill the
run's state (``pytest_modelgate.run``) and, at the end, write the report built from it.

Under pytest-xdist the session object lives in the controller and in every worker. Workers
collect every item (so each knows the whole plan and every error-control family), run theirs,
attach each gate item's figures to its report (``report.modelgate``, which xdist carries to
the controller like any report attribute) and hand their run-level facts (the records they
collected, data hashes, the champion, the families) to the controller through xdist's
``workeroutput``. Only the controller writes the report, prints the gate table and (in
``plugin.promotion``) promotes, once every worker is done.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_modelgate.plugin.stash import REPORT_KEY, RUN_KEY
from pytest_modelgate.run import INCONCLUSIVE, NOT_RUN, GateRun
from pytest_modelgate.settings import Settings

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import GateKind

PAYLOAD = "modelgate"  # the TestReport attribute (and workeroutput key) carrying our figures


def is_worker(config: pytest.Config) -> bool:
    """A pytest-xdist worker: it runs items and reports them to the controller."""
    return hasattr(config, "workerinput")


class GateSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.run = GateRun(settings, self._kinds)
        self.output_lines: list[str] = []
        self.worker = is_worker(config)
        # controller under xdist: outcomes of reports that carried no figures (a crashed worker)
        self.unattributed: dict[str, tuple[str, str | None]] = {}
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

    @pytest.hookimpl(trylast=True)  # after -k, -m and --lf deselected what they deselect
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        from pytest_modelgate.errors import ConfigError
        from pytest_modelgate.gates.api import Check

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
        planned = [
            (item.nodeid, item.check, item.suite)  # type: ignore[attr-defined]
            for item in keep
            if isinstance(getattr(item, "check", None), Check)
        ]
        try:
            self.run.plan_items(planned)
        except ConfigError as exc:
            raise pytest.UsageError(f"cannot gate: {exc}") from None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("gate")
            if marker is not None and self._ours(marker):
                self._track(item, marker).outcome = "deselected"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Attach the gate item's figures to its report, as plain data: the controller of a
        pytest-xdist run rebuilds its records from them."""
        from pytest_modelgate.jsonio import plain

        report = yield
        record = self.run.records.get(item.nodeid)
        if record is not None:
            result = record.result if call.when == "call" else None
            payload = {
                "gate": record.gate,
                "required": record.required,
                "result": plain(result.as_dict()) if result is not None else None,
                "verdict": result.verdict if result is not None else None,
            }
            setattr(report, PAYLOAD, payload)
        return report

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        """An inconclusive gate item failed (it is not a pass) but reads INCONCLUSIVE."""
        if report.when == "call" and report.failed and _verdict(report) == INCONCLUSIVE:
            return INCONCLUSIVE, "I", ("INCONCLUSIVE", {"yellow": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = _outcome(report)
        payload = getattr(report, PAYLOAD, None)
        if payload is not None and not self.worker:
            self._adopt(report.nodeid, payload)  # the controller of an xdist run rebuilds it
        if outcome is None:
            return
        longrepr = str(report.longrepr) if report.failed else None
        if report.nodeid in self.run.records:
            self.run.record_outcome(report.nodeid, outcome, longrepr)
        elif not self.worker:
            self.unattributed[report.nodeid] = (outcome, longrepr)

    def _adopt(self, nodeid: str, payload: dict[str, Any]) -> None:
        from pytest_modelgate.gates.api import GateResult

        record = self.run.track(nodeid, str(payload["gate"]), bool(payload["required"]))
        if payload.get("result") is not None and record.result is None:
            record.result = GateResult.from_dict(payload["result"])

    # pytest-xdist's hook: optional, so the session registers where xdist is absent or
    # disabled (`-p no:xdist`); pluggy rejects an unknown hook name otherwise
    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A pytest-xdist worker finished: fold in what only the workers know."""
        output = getattr(node, "workeroutput", None) or {}
        facts = output.get(PAYLOAD)
        if facts:
            self.run.merge_worker(facts)

    def pytest_keyboard_interrupt(self) -> None:
        self.run.interrupted = True

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_modelgate.report.terminal import summary_lines

        if self.worker:
            return
        inconclusive = terminalreporter.stats.get(INCONCLUSIVE, [])
        if inconclusive:
            terminalreporter.section("INCONCLUSIVE GATES", sep="=")
            for report in inconclusive:
                terminalreporter.write_sep("_", report.head_line or report.nodeid)
                for line in str(report.longrepr).splitlines():
                    terminalreporter.write_line(line)
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
        if self.worker:
            self.config.workeroutput[PAYLOAD] = self.run.worker_facts()  # type: ignore[attr-defined]
            return
        self.run.adopt_outcomes(self.unattributed)
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


def _verdict(report: pytest.TestReport) -> str | None:
    payload = getattr(report, PAYLOAD, None)
    return None if not payload else payload.get("verdict")


def _outcome(report: pytest.TestReport) -> str | None:
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if xfail:
            return "xfailed" if report.skipped else "xpassed"
        if report.failed and _verdict(report) == "inconclusive":
            return INCONCLUSIVE
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    return None


__all__ = ["NOT_RUN", "GateSession", "is_worker"]
