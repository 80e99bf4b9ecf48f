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
    from pytest_modelgate.candidate.task import Task
    from pytest_modelgate.gates.engines.requests import SumsRequest
    from pytest_modelgate.stats.sums import CellSums
    from pytest_modelgate.suite.parse import Suite

NOT_RUN = "not run"
INCONCLUSIVE = "inconclusive"
_UNSET: Any = object()


@dataclass(frozen=True)
class ErrorControl:
    """A family's error level and correction, and where each came from."""

    alpha: float
    method: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "method": self.method, "source": self.source}


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
    error_control: dict[str, Any]  # family -> its level, correction and planned members
    adapter: dict[str, Any] | None = None  # how the candidate was called (flavour, adapter)


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
        self._tasks: dict[Suite, Task] = {}
        self._sums: dict[Suite, dict[str, CellSums]] = {}  # streaming and Spark passes
        # error control: the planned members of each family, and each family's results once
        # decided (an exception where a member could not run)
        self.planned: dict[str, tuple[Check, Suite]] = {}
        self.families: dict[str, list[str]] = {}
        self._decided: dict[str, dict[str, GateResult | Exception]] = {}
        # what pytest-xdist workers reported (the controller runs no gate itself)
        self.remote: dict[str, Any] = {}

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

    def sums(self, suite: Suite, request: SumsRequest) -> CellSums:
        """A streamed statistic: the first one asked of a suite runs one pass over its data for
        what every planned check of the suite will ask (a check whose requests cannot be
        built now is left out: it raises in its own item)."""
        done = self._sums.setdefault(suite, {})
        if request.key not in done:
            from pytest_modelgate.gates.engines.passes import run_pass

            asked = {request.key: request}
            for check, planned in self.planned.values():
                wanted = getattr(check.run, "sum_requests", None)
                if planned != suite or wanted is None:
                    continue
                try:
                    for other in wanted(self):
                        asked.setdefault(other.key, other)
                except Exception:  # raised again where that check runs
                    continue
            done.update(run_pass(self, suite, [r for k, r in asked.items() if k not in done]))
        return done[request.key]

    def task(self, suite: Suite) -> Task:
        """The suite's ``task:``, else what the candidate and the suite's target say."""
        if suite not in self._tasks:
            from pytest_modelgate.candidate.task import detect_task

            y = None if suite.task else self.eval_data(suite).y
            self._tasks[suite] = detect_task(self.candidate.model, y, suite.task, suite.task_where)
        return self._tasks[suite]

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
        if self.settings.engine is not None:
            from pytest_modelgate.suite.parse import with_engine

            suite = with_engine(suite, self.settings.engine, self.settings.engine_source)
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

    # -- error control ---------------------------------------------------------------------

    def plan_items(self, items: list[tuple[str, Check, Suite]]) -> None:
        """The gate items this session runs, in collection order: every check with a family
        joins it (a family is decided together the first time one of its items runs)."""
        self.planned = {nodeid: (check, suite) for nodeid, check, suite in items}
        self.families = {}
        for nodeid, check, _ in items:
            if check.family is not None:
                self.families.setdefault(check.family, []).append(nodeid)
        for family in self.families:
            self.control(family)  # a conflict between suites is a usage error, found now

    def control(self, family: str) -> ErrorControl:
        """The family's level and correction: the run's option, else its suites' error_control
        (which must agree), else the defaults."""
        from pytest_modelgate.settings import DEFAULT_ERROR_CONTROL, DEFAULT_GATE_ALPHA

        s = self.settings
        suites = {self.planned[n][1] for n in self.families.get(family, ())}
        specs = [x.error_control for x in suites if x.error_control is not None]

        def pick(key: str, given: Any, where: str, default: Any) -> tuple[Any, str]:
            if given is not None:
                return given, where
            chosen = {
                (getattr(spec, key), spec.where) for spec in specs if getattr(spec, key) is not None
            }
            values = {value for value, _ in chosen}
            if len(values) > 1:
                places = ", ".join(f"{v} at {w}" for v, w in sorted(chosen, key=str))
                raise ConfigError(
                    f"the suites of error-control family {family!r} disagree on its {key} "
                    f"({places}); set it once with --gate-{'alpha' if key == 'alpha' else 'error-control'} "
                    "or give the suites' sections different 'family:' names"
                )
            if chosen:
                value, at = sorted(chosen, key=str)[0]
                return value, at
            return default, "default"

        alpha, alpha_at = pick("alpha", s.gate_alpha, s.gate_alpha_source, DEFAULT_GATE_ALPHA)
        method, method_at = pick(
            "method", s.error_control, s.error_control_source, DEFAULT_ERROR_CONTROL
        )
        source = alpha_at if alpha_at == method_at else f"alpha: {alpha_at}; method: {method_at}"
        return ErrorControl(float(alpha), str(method), source)

    def result_for(self, nodeid: str, check: Check) -> GateResult:
        """Run a check and decide it: on its own, or with every claim of its family."""
        from pytest_modelgate.gates.policy import decide_alone

        family = check.family if nodeid in self.planned else None
        if family is None or self.control(family).method == "none":
            result = check.run(self)
            if result.claim is not None:
                result.claim.decide(decide_alone(result.claim))
            return result
        if family not in self._decided:
            self._decided[family] = self._decide_family(family)
        outcome = self._decided[family][nodeid]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _decide_family(self, family: str) -> dict[str, GateResult | Exception]:
        from pytest_modelgate.gates.policy import decide_family

        control = self.control(family)
        outcomes: dict[str, GateResult | Exception] = {}
        for nodeid in self.families[family]:
            try:
                outcomes[nodeid] = self.planned[nodeid][0].run(self)
            except Exception as exc:  # it is raised again in its own item
                outcomes[nodeid] = exc
        claimed = [r for r in outcomes.values() if isinstance(r, GateResult) and r.claim]
        claims = [r.claim for r in claimed if r.claim is not None]
        decisions = decide_family(claims, family, control.alpha, control.method)
        for claim, decision in zip(claims, decisions, strict=True):
            claim.decide(decision)
        return outcomes

    def error_control_summary(self) -> dict[str, Any]:
        if "error_control" in self.remote:
            summary: dict[str, Any] = self.remote["error_control"]
            return summary
        out = {}
        for family, members in self.families.items():
            out[family] = {**self.control(family).as_dict(), "members": list(members)}
        return out

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
        if record.outcome in (NOT_RUN, "passed") or outcome in ("failed", "error", INCONCLUSIVE):
            record.outcome = outcome
        if longrepr is not None:
            record.longrepr = longrepr[-2000:]

    # -- pytest-xdist: what workers know, merged in the controller --------------------------

    def worker_facts(self) -> dict[str, Any]:
        """What a worker tells the controller at its end, as plain data: every gate item it
        collected (all of them: each worker collects the whole plan), in collection order, with
        the outcome only where the controller cannot see it (deselected), the data it read, the
        champion if it looked it up, and the error-control families."""
        from pytest_modelgate.jsonio import plain

        champion: Any = "unset"
        if self._champion is not _UNSET:
            champion = None if self._champion is None else self._champion.ref.as_dict()
        facts: dict[str, Any] = plain(
            {
                "records": [
                    {
                        "nodeid": r.nodeid,
                        "gate": r.gate,
                        "required": r.required,
                        "deselected": r.outcome == "deselected",
                    }
                    for r in self.records.values()
                ],
                "data": {str(suite.path): data.as_dict() for suite, data in self._data.items()},
                "champion": champion,
                "error_control": self.error_control_summary(),
                "interrupted": self.interrupted,
                "adapter": self._adapter(),
            }
        )
        return facts

    def merge_worker(self, facts: dict[str, Any]) -> None:
        order = self.remote.setdefault("order", [])
        for entry in facts.get("records", ()):
            record = self.track(entry["nodeid"], entry["gate"], entry["required"])
            if entry.get("deselected") and record.outcome == NOT_RUN:
                record.outcome = "deselected"
            if entry["nodeid"] not in order:
                order.append(entry["nodeid"])
        self.remote.setdefault("data", {}).update(facts.get("data") or {})
        if facts.get("champion") != "unset":
            self.remote["champion"] = facts.get("champion")
        self.remote.setdefault("error_control", facts.get("error_control") or {})
        self.interrupted |= bool(facts.get("interrupted"))
        if facts.get("adapter"):
            self.remote["adapter"] = facts["adapter"]

    def adopt_outcomes(self, outcomes: dict[str, tuple[str, str | None]]) -> None:
        """Outcomes the controller saw without figures (a worker crashed on the item)."""
        for nodeid, (outcome, longrepr) in outcomes.items():
            if nodeid in self.records:
                self.record_outcome(nodeid, outcome, longrepr)

    def _ordered_records(self) -> tuple[ItemRecord, ...]:
        order = self.remote.get("order")
        if not order:
            return tuple(self.records.values())
        rank = {nodeid: i for i, nodeid in enumerate(order)}
        return tuple(sorted(self.records.values(), key=lambda r: rank.get(r.nodeid, len(rank))))

    def snapshot(self) -> RunSnapshot:
        from pytest_modelgate.candidate.registry import ModelRef

        champion = None if self._champion in (_UNSET, None) else self._champion.ref
        remote_champion = self.remote.get("champion", "unset")
        if self._champion is _UNSET and remote_champion != "unset":
            champion = None if remote_champion is None else ModelRef.from_dict(remote_champion)
            champion_text = "none" if champion is None else champion.describe()
        elif self._champion is _UNSET:
            champion_text = "not looked up (no gate compared against it)"
        else:
            champion_text = "none" if champion is None else champion.describe()
        data = {str(suite.path): data.as_dict() for suite, data in self._data.items()}
        data.update(self.remote.get("data") or {})
        return RunSnapshot(
            model_name=str(self.settings.model_name),
            candidate=None if self._candidate is None else self._candidate.ref,
            champion_alias=self.champion_alias,
            champion=champion,
            champion_text=champion_text,
            tracking_uri=None if self._registry is None else self._registry.redacted_uri,
            data=dict(sorted(data.items())),
            records=self._ordered_records(),
            interrupted=self.interrupted,
            gate_report=self.settings.gate_report,
            error_control=self.error_control_summary(),
            adapter=self._adapter() or self.remote.get("adapter"),
        )

    def _adapter(self) -> dict[str, Any] | None:
        return None if self._candidate is None else self._candidate.adapter_info
