"""The gate session: exists only when a model is named. It resolves the candidate, loads
models and data once, records every gate item's outcome and writes the verdict."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_modelgate.gates.api import GateResult
from pytest_modelgate.settings import Settings

if TYPE_CHECKING:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.candidate.registry import ModelRef, Registry
    from pytest_modelgate.gates.api import GateKind
    from pytest_modelgate.suite.parse import Suite

SESSION_KEY = pytest.StashKey["GateSession"]()
_UNSET: Any = object()


@dataclass
class ItemRecord:
    """What happened to one gate item."""

    nodeid: str
    gate: str
    required: bool
    outcome: str = "not run"
    result: GateResult | None = None
    longrepr: str = ""


class GateSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.suites: dict[Path, Suite] = {}
        self.records: dict[str, ItemRecord] = {}
        self._registry: Registry | None = None
        self._candidate: ModelHandle | None = None
        self._champion: Any = _UNSET
        self._champion_error: str | None = None
        self._kinds: dict[str, GateKind] | None = None
        self._data: dict[Suite, Dataset] = {}
        self.interrupted = False
        self.output_lines: list[str] = []
        config.stash[SESSION_KEY] = self

    # -- what checks and fixtures ask for --------------------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from pytest_modelgate.candidate.registry import Registry

            # a dead tracking server should fail in seconds, not after minutes of retries
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
            self._registry = Registry(self.settings.tracking_uri)
        return self._registry

    @property
    def candidate(self) -> ModelHandle:
        if self._candidate is None:
            from pytest_modelgate.candidate.predictions import ModelHandle

            s = self.settings
            assert s.model_name is not None
            ref = self.registry.resolve(s.model_name, s.model_version, s.model_alias)
            self._candidate = ModelHandle(ref, self.registry, "candidate")
        return self._candidate

    @property
    def champion(self) -> ModelHandle | None:
        """The version the champion alias points at, or None; registry errors propagate."""
        if self._champion is _UNSET:
            from pytest_modelgate.candidate.predictions import ModelHandle

            ref = self.registry.by_alias(self.candidate.ref.name, self.champion_alias)
            self._champion = None if ref is None else ModelHandle(ref, self.registry, "champion")
        return self._champion  # type: ignore[no-any-return]

    @property
    def known_champion_ref(self) -> ModelRef | None:
        """The champion if it was looked up during the run (the report never triggers a lookup)."""
        if self._champion is _UNSET or self._champion is None:
            return None
        return self._champion.ref  # type: ignore[no-any-return]

    def champion_text(self) -> str:
        if self._champion is _UNSET:
            return "not looked up (no gate compared against it)"
        return "none" if self._champion is None else self._champion.ref.describe()

    @property
    def champion_alias(self) -> str:
        return self.settings.champion_alias

    def eval_data(self, suite: Suite) -> Dataset:
        if suite not in self._data:
            from pytest_modelgate.candidate.datasets import load_dataset

            self._data[suite] = load_dataset(
                suite.data, suite.target, suite.features, self.candidate.ref.input_names
            )
        return self._data[suite]

    @property
    def artifact_dir(self) -> Path:
        """Where gates write files (charts): beside the gate report, else under .modelgate/."""
        report = self.settings.gate_report
        if report is not None:
            return report.parent
        return self.settings.rootpath / ".modelgate" / "gate-artifacts"

    def log_artifact(self, path: Path, artifact_path: str) -> str:
        """Attach a gate's file to the candidate's MLflow run; returns its runs:/ URI."""
        return self.registry.log_artifact(self.candidate.ref, path, artifact_path)

    @property
    def kinds(self) -> dict[str, GateKind]:
        if self._kinds is None:
            from pytest_modelgate.gates.kinds import builtin_kinds

            kinds = builtin_kinds()
            for extra in self.config.hook.pytest_modelgate_gate_kinds():
                for kind in extra or ():
                    kinds[kind.name] = kind
            self._kinds = kinds
        return self._kinds

    def suite_for(self, path: Path) -> Suite | None:
        """The parsed suite at ``path`` if it gates the named model, else None."""
        from pytest_modelgate.suite.parse import load_suite, read_model_name

        if read_model_name(path) != self.settings.model_name:
            return None
        suite = load_suite(path, self.kinds)
        self.suites[path] = suite
        return suite

    def suite_near(self, path: Path) -> Suite:
        """The model's suite for a custom gate test: the one in its directory, else the only one."""
        if not self.suites:
            raise LookupError(
                f"no gate suite declares model {self.settings.model_name!r}; "
                "eval_data needs a suite file with its data and target"
            )
        for suite_path, suite in self.suites.items():
            if suite_path.parent == path.parent:
                return suite
        if len(self.suites) == 1:
            return next(iter(self.suites.values()))
        raise LookupError(
            f"several suites declare model {self.settings.model_name!r} "
            f"({', '.join(map(str, self.suites))}); put the custom gate beside one of them"
        )

    def record_result(self, nodeid: str, result: GateResult) -> None:
        self.records[nodeid].result = result

    # -- pytest hooks ----------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from pytest_modelgate.candidate.registry import RegistryError

        try:
            _ = self.candidate
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
        keep, foreign = [], []
        for item in items:
            marker = item.get_closest_marker("gate")
            if marker is None:
                keep.append(item)
                continue
            model = marker.kwargs.get("model")
            if model is not None and model != self.settings.model_name:
                foreign.append(item)  # another model's custom gate: not this run's business
                continue
            keep.append(item)
            self._track(item, marker)
        items[:] = keep

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("gate")
            if marker is not None and marker.kwargs.get("model") in (
                None,
                self.settings.model_name,
            ):
                self._track(item, marker).outcome = "deselected"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.records.get(report.nodeid)
        if record is None:
            return
        outcome = _outcome(report)
        if outcome is None:
            return
        if record.outcome in ("not run", "passed") or outcome in ("failed", "error"):
            record.outcome = outcome
        if report.failed:
            record.longrepr = str(report.longrepr)[-2000:]

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_modelgate.report.build import summary_lines

        terminalreporter.section("model gates")
        for line in summary_lines(self) + self.output_lines:
            terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from pytest_modelgate.report.build import build_report, write_report
        from pytest_modelgate.report.outputs import write_outputs

        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted = True
        if not self.records and exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            # naming a model and running no gate must not look like a pass
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        report = build_report(self)
        self.config.hook.pytest_modelgate_report(config=self.config, report=report)
        self.report = report
        if self.settings.gate_report is not None:
            write_report(self.settings.gate_report, report)
        self.output_lines = write_outputs(self, report)

    # -- internals -------------------------------------------------------------------------

    def _track(self, item: pytest.Item, marker: pytest.Mark) -> ItemRecord:
        gate = marker.args[0] if marker.args else item.name
        required = bool(marker.kwargs.get("required", True))
        record = self.records.get(item.nodeid)
        if record is None:
            record = self.records[item.nodeid] = ItemRecord(item.nodeid, str(gate), required)
        return record


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
