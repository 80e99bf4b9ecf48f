"""The promotion step of a gate run (``--promote ENV``): registered only when asked for.

At configure time it checks the environment against the project's promotion path; at session
start it records the version the environment's alias pins (the compare of the compare-and-set)
and refuses early a promotion the path's rules refuse (predecessor, soak time, approval). After the gate
session has built its report, it promotes only a promotable run, asks the veto hooks, and
reports the outcome; a promotion asked for and not done fails the run.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_modelgate.plugin.stash import gate_report, gate_run
from pytest_modelgate.settings import Settings

if TYPE_CHECKING:
    from pytest_modelgate.promotion.moves import PromotionRequest, PromotionResult
    from pytest_modelgate.promotion.places import Places
    from pytest_modelgate.run import GateRun

NOT_PROMOTED = "NOT promoted to {env}"


class PromotionSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        from pytest_modelgate.errors import ConfigError
        from pytest_modelgate.promotion.path import load_path

        assert settings.promote is not None
        self.config = config
        self.settings = settings
        self.env: str = settings.promote
        try:  # a path or environment that cannot be promoted to fails before any gate runs
            self.path = load_path(settings.rootpath)
            step = self.path.step(self.env)
        except ConfigError as exc:
            raise pytest.UsageError(f"cannot promote: {exc}") from None
        if settings.promote_reason and step.after is None:
            raise pytest.UsageError(
                f"--promote-reason applies only to an environment that follows another in the "
                f"path ({self.env!r} is first in {self.path.describe()})"
            )
        self.expected: int | None = None
        self.places: Places | None = None
        self.started = False
        self.result: PromotionResult | None = None
        self.lines: list[str] = []

    @property
    def run(self) -> GateRun:
        run = gate_run(self.config)
        assert run is not None, "a promotion needs a named model"
        return run

    @pytest.hookimpl(trylast=True)  # after the gate session resolved the candidate
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from pytest_modelgate.errors import (
            ConfigError,
            MissingExtraError,
            PromotionError,
            RegistryError,
        )
        from pytest_modelgate.extras import require
        from pytest_modelgate.promotion.moves import check_permissions, entry_problem
        from pytest_modelgate.promotion.places import Places

        try:
            require(f"--promote {self.env} (it builds the version's bento)", "bentoml")
        except MissingExtraError as exc:
            raise pytest.UsageError(str(exc)) from None
        run = self.run
        ref = run.candidate.ref
        settings = self.settings
        try:
            with run.registry.translate(f"alias {self.env!r} of {ref.name}"):
                self.places = Places.of_candidate(
                    self.path, run.registry.client, run.registry.tracking_uri, ref.name
                )
                place = self.places.of(self.env)
                what = f"promoting {ref.describe()} to {self.env}"
                check_permissions(self.places, self.env, ref.run_id or "", what)
                self.expected = place.registry.pinned(place.name, self.env)
                problem = entry_problem(
                    self.places, ref.version, self.env,
                    settings.promote_reason, settings.approved_by or "",
                )  # fmt: skip
        except (RegistryError, ConfigError, PromotionError) as exc:
            raise pytest.UsageError(f"cannot promote: {exc}") from None
        if problem is not None:
            raise pytest.UsageError(f"cannot promote {ref.describe()} to {self.env}: {problem}")
        self.started = True

    @pytest.hookimpl(wrapper=True, trylast=True)  # inside the terminal's: its summary follows
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, Any, Any]:
        outcome = yield
        if not self.promote() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return outcome

    @pytest.hookimpl(trylast=True)  # after the gate table
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("model promotion")
        for line in self.lines:
            terminalreporter.write_line(line)

    # -- internals -------------------------------------------------------------------------

    def promote(self) -> bool:
        """Promote if the run allows it; record the lines that say what happened."""
        from pytest_modelgate.errors import ModelgateError
        from pytest_modelgate.promotion.moves import done_lines, promote

        request = self.request()
        if request is None:
            return False
        vetoes = self.config.hook.pytest_modelgate_promotion_veto(
            config=self.config, request=request
        )
        reasons = [str(v) for v in vetoes if v]
        error, changed = None, False
        if reasons:
            error = "vetoed: " + "; ".join(reasons)
            error += self.record(error)
        else:
            try:
                assert self.places is not None
                self.result = promote(self.places, request)
            except ModelgateError as exc:  # recorded in the ledger by promote itself
                error, changed = str(exc), bool(getattr(exc, "changed", False))
        self.config.hook.pytest_modelgate_promotion(
            config=self.config, request=request, result=self.result, error=error
        )
        if self.result is None:
            self.refuse(error or "unknown failure", changed=changed)
            return False
        self.lines += done_lines(self.result)
        return True

    def request(self) -> PromotionRequest | None:
        from pytest_modelgate.promotion.moves import PromotionRequest

        run = self.run
        report = gate_report(self.config)
        if not self.started or report is None or run.loaded_candidate is None:
            self.refuse("the run ended before the gates could decide")
            return None
        if not report.get("promotable"):
            why = "not every required gate ran and passed:"
            note = self.record(f"{why} {'; '.join(report['blocking_reasons'])}")
            self.refuse(why + note, report["blocking_reasons"])
            return None
        ref = run.candidate.ref
        if not ref.run_id:
            self.refuse(f"{ref.describe()} has no MLflow run to keep its evidence in")
            return None
        return PromotionRequest(
            name=ref.name,
            version=ref.version,
            run_id=ref.run_id,
            env=self.env,
            report=report,
            expected=self.expected,
            bentofile=self.settings.bentofile,
            tracking_uri=self.settings.tracking_uri,
            reason=self.settings.promote_reason,
            code_root=self.settings.rootpath,
            path=self.path,
            approved_by=self.settings.approved_by,
        )

    def record(self, reason: str) -> str:
        """Put the refusal in the ledger; '' when recorded, else a note saying why not."""
        from pytest_modelgate.promotion.moves import record_refusal

        ref = self.run.candidate.ref
        assert self.places is not None, "a refusal is recorded once the session started"
        place = self.places.of(self.env)
        # the refused version by its number in the environment's own registered model
        version = ref.version if self.places.is_source(place) else None
        return record_refusal(place.registry, place.name, self.env, version, reason)

    def refuse(self, why: str, details: list[str] | None = None, changed: bool = False) -> None:
        self.lines.append(f"{NOT_PROMOTED.format(env=self.env)}: {why}")
        self.lines += [f"  - {d}" for d in details or ()]
        if not changed:  # otherwise the message says what state the move left
            self.lines.append(f"alias {self.env!r} was left as it was")
