"""The gate run's plain state: the candidate and its champion, the evaluation data, the suites
and their checks, and what happened to each gate item.

It is what every check sees (it implements ``GateContext``) and what the report is built from
(``snapshot()``); the pytest hooks that fill it live in ``plugin.session``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import ConfigError
from pytest_modelgate.gates.api import Check, GateKind, GateResult
from pytest_modelgate.settings import Settings

if TYPE_CHECKING:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.candidate.registry import ModelRef, Registry
    from pytest_modelgate.suite.parse import Suite

NOT_RUN = "not run"
_UNSET: Any = object()


@dataclass
class ItemRecord:
    """What happened to one gate item."""

    nodeid: str
    gate: str
    required: bool
    outcome: str = NOT_RUN
    result: GateResult | None = None
    longrepr: str = ""


@dataclass(frozen=True)
class RunSnapshot:
    """What the report says about a run, frozen at the end of it."""

    model_name: str
    candidate: ModelRef | None
    champion_alias: str
    champion: ModelRef | None  # only when a gate looked it up
    champion_text: str
    tracking_uri: str | None
    data: dict[str, dict[str, Any]]  # suite path -> source, sha256, rows
    records: tuple[ItemRecord, ...]
    interrupted: bool
    gate_report: Path | None


class GateRun:
    def __init__(self, settings: Settings, kinds: Callable[[], Mapping[str, GateKind]]) -> None:
        self.settings = settings
        self.suites: dict[Path, Suite] = {}
        self.records: dict[str, ItemRecord] = {}
        self.interrupted = False
        self._kinds_factory = kinds
        self._kinds: Mapping[str, GateKind] | None = None
        self._registry: Registry | None = None
        self._candidate: ModelHandle | None = None
        self._champion: Any = _UNSET
        self._data: dict[Suite, Dataset] = {}
        self._tmp: Path | None = None

    # -- what checks and fixtures ask for (GateContext) ------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from pytest_modelgate.candidate.registry import Registry

            # a dead tracking server should fail in seconds, not after minutes of retries
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            self._registry = Registry(self.settings.tracking_uri)
        return self._registry

    @property
    def candidate(self) -> ModelHandle:
        if self._candidate is None:
            from pytest_modelgate.candidate.digest import directory_digest
            from pytest_modelgate.candidate.predictions import ModelHandle

            s = self.settings
            assert s.model_name is not None
            ref = self.registry.resolve(s.model_name, s.model_version, s.model_alias)
            # every gate reads the files downloaded here, and the report records their digest:
            # the evidence a promotion writes is bound to exactly these bytes
            local = self.registry.download(ref, self._workdir() / "candidate")
            ref = dataclasses.replace(ref, digest=directory_digest(local))
            self._candidate = ModelHandle(ref, self.registry, "candidate", local)
        return self._candidate

    def _workdir(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="modelgate-run-"))
            weakref.finalize(self, shutil.rmtree, self._tmp, ignore_errors=True)
        return self._tmp

    @property
    def loaded_candidate(self) -> ModelHandle | None:
        """The candidate if the run resolved it (the report never triggers a lookup)."""
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
    def champion_alias(self) -> str:
        return self.settings.champion_alias

    def eval_data(self, suite: Suite) -> Dataset:
        if suite not in self._data:
            from pytest_modelgate.candidate.datasets import load_dataset

            self._data[suite] = load_dataset(
                suite.data, suite.target, suite.features, self.candidate.ref.input_names
            )
        return self._data[suite]

    def loaded_data(self) -> list[Dataset]:
        """Every evaluation dataset the run read, once each."""
        unique = {(d.source, d.sha256, d.features): d for d in self._data.values()}
        return list(unique.values())

    @property
    def artifact_dir(self) -> Path:
        """Where gates write files (charts): beside the gate report, else under .modelgate/."""
        report = self.settings.gate_report
        if report is not None:
            return report.parent
        return self.settings.rootpath / ".modelgate" / "gate-artifacts"

    def log_artifact(self, path: Path, artifact_path: str) -> str:
        """Attach a file to the candidate's MLflow run; returns its runs:/ URI."""
        return self.registry.log_artifact(self.candidate.ref, path, artifact_path)

    @property
    def kinds(self) -> Mapping[str, GateKind]:
        if self._kinds is None:
            self._kinds = self._kinds_factory()
        return self._kinds

    # -- suites ----------------------------------------------------------------------------

    def plan_for(self, path: Path) -> tuple[Suite, tuple[Check, ...]] | None:
        """The suite at ``path`` and its checks if it gates the named model, else None."""
        from pytest_modelgate.gates.plan import plan
        from pytest_modelgate.suite.parse import load_suite, read_model_name

        if read_model_name(path) != self.settings.model_name:
            return None
        suite = load_suite(path)
        checks = plan(suite, self.kinds)
        self.suites[path] = suite
        return suite, checks

    def suite_near(self, path: Path) -> Suite:
        """The model's suite for a custom gate test: the one in its directory, else the only one."""
        if not self.suites:
            raise ConfigError(
                f"no gate suite declares model {self.settings.model_name!r}; "
                "eval_data needs a suite file with its data and target"
            )
        for suite_path, suite in self.suites.items():
            if suite_path.parent == path.parent:
                return suite
        if len(self.suites) == 1:
            return next(iter(self.suites.values()))
        raise ConfigError(
            f"several suites declare model {self.settings.model_name!r} "
            f"({', '.join(map(str, self.suites))}); put the custom gate beside one of them"
        )

    # -- records ---------------------------------------------------------------------------

    def track(self, nodeid: str, gate: str, required: bool) -> ItemRecord:
        record = self.records.get(nodeid)
        if record is None:
            record = self.records[nodeid] = ItemRecord(nodeid, gate, required)
        return record

    def record_result(self, nodeid: str, result: GateResult) -> None:
        self.records[nodeid].result = result

    def record_outcome(self, nodeid: str, outcome: str, longrepr: str | None) -> None:
        """A failure or error sticks: a later phase's pass does not hide it."""
        record = self.records.get(nodeid)
        if record is None:
            return
        if record.outcome in (NOT_RUN, "passed") or outcome in ("failed", "error"):
            record.outcome = outcome
        if longrepr is not None:
            record.longrepr = longrepr[-2000:]

    def snapshot(self) -> RunSnapshot:
        champion = None if self._champion in (_UNSET, None) else self._champion.ref
        if self._champion is _UNSET:
            champion_text = "not looked up (no gate compared against it)"
        else:
            champion_text = "none" if champion is None else champion.describe()
        return RunSnapshot(
            model_name=str(self.settings.model_name),
            candidate=None if self._candidate is None else self._candidate.ref,
            champion_alias=self.champion_alias,
            champion=champion,
            champion_text=champion_text,
            tracking_uri=None if self._registry is None else self._registry.redacted_uri,
            data={str(suite.path): data.as_dict() for suite, data in self._data.items()},
            records=tuple(self.records.values()),
            interrupted=self.interrupted,
            gate_report=self.settings.gate_report,
        )
