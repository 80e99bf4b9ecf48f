"""Promote one gated version to an environment, or roll an environment back.

Every move of one model's environment runs under that environment's lease (``promotion.lease``)
and is write-ahead:

1. take the lease; the move's intent is recorded in the same write. Settle earlier moves their
   holders left unfinished (``promotion.recovery``).
2. check the gate report, production's staging evidence, and that the alias still pins what
   the gate run began with. A promotion already in place is a no-op that says so.
3. build the bento (the build checks the model's files against the digest the gates saw).
4. record on the lease what an undo would restore, then log the report and tag the evidence.
5. move the alias: the commit point.
6. record the ledger event and settle the lease.

A failure before 5 undoes 4; after 5 the move is finished (the event is retried, else left to
the next holder to record). Refusals, failures, rollbacks and recoveries are ledger events too.
Registry aliases only, never stages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pytest_modelgate.candidate.registry import redacted
from pytest_modelgate.errors import (
    BentoError,
    ConfigError,
    EvidenceError,
    LeaseLostError,
    PromotionError,
)
from pytest_modelgate.jsonio import canonical_bytes, sha256, utc_now
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.aliases import version_text
from pytest_modelgate.promotion.confirmation import guard_problem
from pytest_modelgate.promotion.evidence import PASSED, tag, verify_evidence
from pytest_modelgate.promotion.faults import fault_point
from pytest_modelgate.promotion.lease import Lease, acquire
from pytest_modelgate.promotion.path import DEFAULT_PATH, PromotionPath, Step, missing_gates
from pytest_modelgate.promotion.permissions import copier_needs, preflight, promoter_needs
from pytest_modelgate.promotion.places import Place, Places
from pytest_modelgate.promotion.provenance import (
    ci_run,
    code_commit,
    data_hashes,
    os_user,
    promoted_by,
    who,
)
from pytest_modelgate.promotion.recovery import evidence_fields, settle_backlog, undo_promotion
from pytest_modelgate.promotion.registry import Registry
from pytest_modelgate.promotion.retry import persist
from pytest_modelgate.settings import ENV_APPROVAL
from pytest_modelgate.version import __version__

__all__ = [
    "PromotionRequest",
    "PromotionResult",
    "done_lines",
    "entry_problem",
    "promote",
    "record_refusal",
    "rollback",
    "rollback_target",
    "version_text",
]

ARTIFACT_DIR = "modelgate"


@dataclass(frozen=True)
class PromotionRequest:
    """What is to be promoted where, and the alias state the decision was made on."""

    name: str
    version: int
    run_id: str
    env: str
    report: dict[str, Any]
    expected: int | None  # the version the alias pinned when the gate run began
    bentofile: Path | None  # the user's own, or None for the package's generated one
    tracking_uri: str
    reason: str | None = None  # an explicit production override, recorded with the evidence
    code_root: Path = field(default_factory=Path.cwd)
    # the feature profile the served bento measures drift against (pytest_modelgate.stats.drift)
    drift_reference: dict[str, Any] | None = None
    path: PromotionPath = DEFAULT_PATH  # the project's environments and their policies
    approved_by: str | None = None  # who approved (else MODELGATE_APPROVAL)
    # for an environment of another registered model or registry, the request is for the
    # copy there (name, version, run_id and tracking_uri are the copy's): the gated version
    source: tuple[str, str, int] | None = None  # (registry, name, version)

    def describe(self) -> str:
        return f"{self.name} v{self.version}{self.copy_note} to {self.env}"

    @property
    def copy_note(self) -> str:
        if self.source is None:
            return ""
        registry, name, version = self.source
        return f" (the copy of {name} v{version} of {registry})"

    @property
    def gated(self) -> tuple[str, int]:
        """The (name, version) the gate report is for."""
        return (self.source[1], self.source[2]) if self.source else (self.name, self.version)

    @property
    def step(self) -> Step:
        return self.path.step(self.env)

    @property
    def approver(self) -> str:
        return (self.approved_by or os.environ.get(ENV_APPROVAL, "")).strip()

    @property
    def report_sha256(self) -> str:
        return sha256(canonical_bytes(self.report))

    @property
    def model_digest(self) -> str:
        """The digest of the model's files as the gate run saw them ('' in an old report)."""
        return str((self.report.get("model") or {}).get("digest") or "")


@dataclass(frozen=True)
class PromotionResult:
    request: PromotionRequest
    previous: int | None
    bento: str
    report_sha256: str
    report_artifact: str
    noop: bool = False  # the version already held the environment with this evidence
    recovered: tuple[str, ...] = ()  # earlier unfinished moves this one settled first
    warnings: tuple[str, ...] = ()
    event: int | None = None  # the ledger event's sequence number


Build = Callable[[PromotionRequest], str]


def why(exc: BaseException) -> str:
    """One line for an error: ours as they are, a registry failure shortened."""
    if isinstance(exc, PromotionError | EvidenceError):
        return str(exc)
    from pytest_modelgate.candidate.registry import failure

    return failure(exc)


def approval(request: PromotionRequest) -> str:
    """What let the version in: who approved it, and the predecessor's evidence or the
    override reason (recorded with the move's intent and its ledger event)."""
    given = request.approver
    after = request.step.after
    if after is None:
        return given
    reason = (request.reason or "").strip()
    name, version = request.gated
    held = f"{name} v{version}" if request.source else f"v{version}"
    derived = f"override: {reason}" if reason else f"{after} holds {held} with verified evidence"
    return f"{derived}; approved by {given}" if given else derived


def intent_of(registry: Registry, request: PromotionRequest) -> dict[str, Any]:
    return {
        "action": "promote",
        "version": request.version,
        "source": source_text(request),
        "previous": request.expected,
        "report_sha256": request.report_sha256,
        "model_digest": request.model_digest,
        "approval": approval(request),
        **who(registry),
        "at": utc_now(),
    }


def source_text(request: PromotionRequest) -> str:
    """What the ledger of a copy's environment names as its source ('' for no copy)."""
    if request.source is None:
        return ""
    registry, name, version = request.source
    return f"{name} v{version} of {registry}"


def promote(
    places: Places, request: PromotionRequest, build: Build | None = None
) -> PromotionResult:
    """Run every step or none; raise PromotionError saying which step refused or failed and
    what state the registry is in. Raises LeaseHeldError while another move holds the lease.
    ``request`` is for the candidate; an environment of another registered model or registry
    is entered by the candidate's copy there (made first if there is none)."""
    try:
        place = places.of(request.env)  # an environment the path does not have raises here
    except ConfigError as exc:
        raise PromotionError(
            f"promoting {request.describe()}: {exc}; nothing was changed"
        ) from None
    check_permissions(places, request.env, request.run_id, f"promoting {request.describe()}")
    if not places.is_source(place):
        request = localised(places, place, request)
    registry = place.registry
    try:
        intent = intent_of(registry, request)
        lease = acquire(registry, request.name, request.env, intent, promoted_by(registry))
    except PromotionError:
        raise
    except Exception as exc:
        raise PromotionError(
            f"promoting {request.describe()}: cannot take the lease on its moves: {why(exc)}; "
            "nothing was changed"
        ) from exc
    return Promotion(places, lease, request, build or build_bento).run()


def check_permissions(places: Places, env: str, run_id: str, what: str) -> None:
    """Before anything is written: the registry account of ``env``'s registry holds every
    permission the move needs (a registry without authentication passes at once)."""
    place = places.of(env)
    if place.registry.user() is None:
        return
    if place.registry.same_as(places.source):
        needs = promoter_needs(place, places.source.run_experiment(run_id) if run_id else None)
    else:  # the copy's files and its gate report go to the copies' experiment there
        needs = [*promoter_needs(place), *copier_needs(place)]
    preflight(place.registry, needs, what)


def localised(places: Places, place: Place, request: PromotionRequest) -> PromotionRequest:
    """The request for the candidate's copy in ``place``: what the gates decided and the
    path's rules are checked first, so a refused move copies nothing."""
    try:
        check_report(request)
        check_environment(places, request)
        if not request.model_digest:
            raise PromotionError(
                f"the gate report records no digest of {request.name} v{request.version}'s "
                "files (an older pytest-modelgate wrote it): gate the version again"
            )
        version, _ = places.copy_into(place, request.version, request.model_digest)
        run_id = place.registry.model_version(place.name, version).run_id or ""
    except PromotionError as exc:
        note = record_refusal(place.registry, place.name, place.env, None, str(exc))
        raise PromotionError(f"{exc}{note}") from None
    except LeaseLostError:
        raise
    except Exception as exc:
        raise PromotionError(
            f"promoting {request.describe()}: copying it into {place.name} "
            f"({redacted(place.registry.uri)}) failed: {why(exc)}; no alias was moved"
        ) from exc
    source = (redacted(places.source.uri), request.name, request.version)
    return dataclasses.replace(
        request, name=place.name, version=version, run_id=run_id,
        tracking_uri=place.registry.uri, source=source,
    )  # fmt: skip


class Promotion:
    """One promotion under its lease, step by step."""

    def __init__(self, places: Places, lease: Lease, request: PromotionRequest, build: Build):
        self.places, self.lease, self.request, self.build = places, lease, request, build
        self.registry = places.of(request.env).registry
        self.step = "checking"
        self.recovered: tuple[str, ...] = ()
        self.undo: dict[str, Any] | None = None

    def run(self) -> PromotionResult:
        fault_point("after-intent")
        self.recovered = tuple(settle(self.registry, self.lease, self.request.describe()))
        try:
            self.check()
            done = self.already_done()
            if done is not None:
                persist(lambda: self.lease.settle("released: nothing to do"))
                return done
            self.step = "building the bento"
            if self.request.drift_reference is None:  # what the served bento measures drift by
                from pytest_modelgate.bento.drift_reference import suite_reference

                reference = suite_reference(self.request.report.get("data") or {})
                self.request = dataclasses.replace(self.request, drift_reference=reference)
            with self.lease.kept_alive():
                bento = self.build(self.request)
        except LeaseLostError:
            raise
        except PromotionError as exc:
            self.refuse(str(exc))
        except Exception as exc:
            if self.step == "building the bento":
                self.refuse(f"bento build failed, nothing was changed: {exc}")
            self.fail_unchanged(exc)
        fault_point("after-bento")
        try:
            self.step = "writing the evidence"
            result = self.write_evidence(bento)
            fault_point("after-evidence")
            self.step = "checking the alias before moving it"
            compare_alias(self.registry, self.request)  # an alias moved outside modelgate
            self.lease.fence("moving the alias")
        except Exception as exc:
            self.abort(exc)
        self.commit()
        fault_point("after-alias")
        return self.finish(result)

    # -- before anything changes -----------------------------------------------------------

    def check(self) -> None:
        check_report(self.request)
        check_environment(self.places, self.request)

    def already_done(self) -> PromotionResult | None:
        """The version already holds the environment with passing evidence for the same model
        files: re-running a completed promotion changes nothing."""
        request, registry = self.request, self.registry
        evidence = None
        pinned = registry.pinned(request.name, request.env)
        if pinned == request.version:
            try:
                evidence = verify_evidence(registry, request.name, request.version, request.env)
            except EvidenceError:
                evidence = None
        if (
            evidence is None
            or evidence.model_digest != request.model_digest
            or not request.model_digest
        ):
            check_unmoved(request, pinned)
            return None
        fields = evidence.fields
        return PromotionResult(
            request,
            request.version,
            fields.get("bento", ""),
            evidence.report_sha256,
            fields.get("report_artifact", ""),
            noop=True,
            recovered=self.recovered,
        )

    def refuse(self, reason: str) -> NoReturn:
        """Record the refusal in the ledger, settle the lease, raise."""
        event = {"action": "refuse", "version": self.request.version, "reason": reason}
        raise PromotionError(
            reason + record_under(self.registry, self.lease, self.request.expected, event)
        )

    def fail_unchanged(self, exc: BaseException) -> NoReturn:
        with contextlib.suppress(Exception):  # must not hide the error being reported
            self.lease.settle(f"failed while {self.step}")
        raise PromotionError(
            f"promoting {self.request.describe()} failed while {self.step}: {why(exc)}; "
            "nothing was changed"
        ) from exc

    # -- the write-ahead steps -------------------------------------------------------------

    def write_evidence(self, bento: str) -> PromotionResult:
        """Log the gate report to the version's run and tag the version with its evidence,
        after recording on the lease what the tags were (the undo)."""
        request, registry = self.request, self.registry
        data = canonical_bytes(request.report)
        digest = sha256(data)
        stamp = utc_now()
        # the move number keeps two moves logged to one run in the same second apart
        artifact = (
            f"{ARTIFACT_DIR}/gate-report-{request.env}-{stamp.replace(':', '')}"
            f"-move{self.lease.generation}.json"
        )
        drift = artifact.replace("gate-report-", "drift-reference-")
        fields = {
            "report_sha256": digest,
            "report_artifact": artifact,
            "data_sha256": data_hashes(request.report),
            "model_digest": request.model_digest,
            "code_commit": code_commit(request.code_root),
            "plugin_version": __version__,
            "promoted_by": promoted_by(registry),
            "os_user": os_user(),
            "ci_run": ci_run() or "",
            "gated_at": str(request.report.get("generated_at") or stamp),
            "promoted_at": stamp,
            "bento": bento,
            "drift_reference": drift if request.drift_reference is not None else "",
            "override_reason": (request.reason or "").strip(),
            "source": source_text(request),
        }
        if request.expected != request.version:
            fields["previous_version"] = "" if request.expected is None else str(request.expected)
        fields["verdict"] = PASSED  # last: a reader that sees it sees every other field
        keys = [tag(request.env, k) for k in fields]
        current = registry.version_tags(request.name, request.version)
        self.undo = {"version": request.version, "tags": {k: current.get(k) for k in keys}}
        self.lease.note("undo", self.undo)
        registry.log_text(request.run_id, data.decode(), artifact)
        if request.drift_reference is not None:  # beside the report: what /drift compares with
            registry.log_text(request.run_id, json.dumps(request.drift_reference, indent=1), drift)
        self.lease.fence("writing the evidence tags")
        write_tags(registry, request, fields)
        return PromotionResult(request, request.expected, bento, digest, artifact)

    def abort(self, exc: BaseException) -> NoReturn:
        """Undo the evidence of a move that failed before its commit point, record it, raise."""
        request = self.request
        what = f"promoting {request.describe()}"
        if isinstance(exc, LeaseLostError):
            # evidence may be half written: the new holder undoes it
            raise PromotionError(
                f"{what} stopped while {self.step}: {exc}", changed=self.undo is not None
            ) from exc
        try:
            undone = []
            if self.undo is not None:  # else no evidence tag was written: nothing to undo
                undone = undo_promotion(
                    self.registry, self.lease, intent_of(self.registry, request), self.undo
                )
        except Exception as undo_exc:
            state = (
                f"alias {request.step.alias_name!r} was not changed ({version_text(request.expected)}); "
                f"v{request.version} may carry part of its new {request.env} evidence"
            )
            raise PromotionError(
                f"{what} failed while {self.step}: {why(exc)}. Undoing it failed too "
                f"({why(undo_exc)}): {state}. The move stays open (move {self.lease.generation}): "
                f"the next promotion or `modelgate recover {request.name} {request.env}` undoes "
                "it once the registry answers",
                changed=True,
            ) from exc
        state = "; ".join(undone) if undone else "no evidence had been written"
        reason = why(exc) if isinstance(exc, PromotionError) else (
            f"{what} failed while {self.step}: {why(exc)}; undone ({state}): "
            f"alias {request.step.alias_name!r} still pins {version_text(request.expected)}"
        )  # fmt: skip
        event = {"action": "abort", "version": request.version, "reason": reason, "outcome": state}
        note = record_under(self.registry, self.lease, request.expected, event)
        raise PromotionError(reason + note) from exc

    def commit(self) -> None:
        """Move the alias. If the write fails, read the alias to learn whether it landed."""
        request, registry = self.request, self.registry
        self.step = "moving the alias"
        try:
            registry.point(request.name, request.env, request.version)
            return
        except Exception as exc:
            try:
                pinned = persist(lambda: registry.pinned(request.name, request.env))
            except Exception as read_exc:
                raise PromotionError(
                    f"promoting {request.describe()}: the alias write failed ({why(exc)}) and "
                    f"the alias cannot be read ({why(read_exc)}), so whether it moved is "
                    f"unknown: alias {request.step.alias_name!r} pins {version_text(request.expected)} or "
                    f"v{request.version}, which carries its new evidence. The next promotion "
                    f"or `modelgate recover {request.name} {request.env}` finishes or undoes "
                    "the move once the registry answers",
                    changed=True,
                ) from exc
            if pinned != request.version:
                self.abort(exc)

    def finish(self, result: PromotionResult) -> PromotionResult:
        """After the commit point: read the alias back, record the event, settle."""
        request, registry, lease = self.request, self.registry, self.lease
        self.step = "recording the move"
        moved = (
            f"{request.name} v{request.version} holds {request.env} (the alias moved and its "
            "evidence is in place)"
        )
        try:
            pinned = persist(lambda: registry.pinned(request.name, request.env))
            if pinned != request.version:
                raise PromotionError(
                    f"alias {request.step.alias_name!r} of {request.name} was moved to "
                    f"{version_text(pinned)} outside modelgate right after this move set it"
                )
            fault_point("before-ledger")
            event = persist(lambda: ledger.append(registry, lease, self.event_fields(result)))
        except Exception as exc:
            raise PromotionError(
                f"{moved}, but recording the move failed: {why(exc)}. The next promotion or "
                f"`modelgate recover {request.name} {request.env}` finishes it (or undoes it "
                "if the alias no longer pins this version)",
                changed=True,
            ) from exc
        fault_point("after-ledger")
        warnings: tuple[str, ...] = ()
        try:
            persist(lambda: lease.settle("released"))
        except Exception as exc:
            warnings = (
                f"its lease could not be settled ({why(exc)}): the next move of {request.env} "
                "takes it over once this process has exited or the lease expired",
            )
        return dataclasses.replace(
            result, recovered=self.recovered, warnings=warnings, event=event.seq
        )

    def event_fields(self, result: PromotionResult) -> dict[str, Any]:
        request = self.request
        fields = evidence_fields(self.registry, request.name, request.version, request.env)
        return {
            "action": "promote",
            "version": request.version,
            "previous": request.expected,
            **who(self.registry),
            "ci_run": ci_run(),
            "approval": approval(request),
            "reason": request.reason,
            "source": source_text(request),
            **fields,
            "report_sha256": result.report_sha256,
            "report_artifact": result.report_artifact,
        }


def write_tags(registry: Registry, request: PromotionRequest, fields: dict[str, str]) -> None:
    """The evidence tags, the verdict last. MLflow sets one tag per request, so against a
    tracking server the others are written side by side: over a slow link that is one round
    trip instead of a dozen (a local database file takes its writes one at a time anyway)."""
    from concurrent.futures import ThreadPoolExecutor

    rest = dict(fields)
    verdict = rest.pop("verdict")

    def write(item: tuple[str, str]) -> None:
        key, value = item
        registry.set_version_tag(request.name, request.version, tag(request.env, key), value)

    workers = 8 if registry.remote else 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelgate-tags") as pool:
        list(pool.map(write, rest.items()))  # re-raises the first failure
    write(("verdict", verdict))


def settle(registry: Registry, lease: Lease, what: str) -> list[str]:
    """Settle the earlier unfinished moves; a failure leaves this lease open too, so the next
    holder walks back to them (a lease is settled only once every move before it is)."""
    try:
        return settle_backlog(registry, lease)
    except LeaseLostError:
        raise
    except Exception as exc:
        raise PromotionError(
            f"{what}: an earlier unfinished move could not be finished or undone: {why(exc)}; "
            "nothing of this move was changed, and the next move or `modelgate recover` tries "
            "again"
        ) from exc


def record_under(
    registry: Registry, lease: Lease, previous: int | None, event: dict[str, Any]
) -> str:
    """Append a refusal or abort event and settle the lease. Returns '' when recorded, else a
    note for the message: a failure to record never replaces the error being reported."""
    event = {**who(registry), "ci_run": ci_run(), "previous": previous, **event}
    try:
        persist(lambda: ledger.append(registry, lease, event))
        persist(lambda: lease.settle(f"released: {event['action']}"))
    except Exception as exc:
        return f" (not recorded in the ledger: {why(exc)})"
    return ""


def record_refusal(
    registry: Registry, name: str, env: str, version: int | None, reason: str
) -> str:
    """Record a refusal decided before any move began (the gates did not pass, a plugin vetoed);
    returns '' when recorded, else a note saying why not (the lease held, the registry down)."""
    intent = {"action": "refuse", "version": version, **who(registry), "at": utc_now()}
    try:
        lease = acquire(registry, name, env, intent, promoted_by(registry))
        settle_backlog(registry, lease)
        previous = registry.pinned(name, env)
    except Exception as exc:
        return f" (not recorded in the ledger: {why(exc)})"
    event = {"action": "refuse", "version": version, "reason": reason}
    return record_under(registry, lease, previous, event)


def check_report(request: PromotionRequest) -> None:
    report = request.report
    model = report.get("model") or {}
    name, version = request.gated
    if (model.get("name"), model.get("version")) != (name, version):
        raise PromotionError(
            f"the gate report is for {model.get('name')} v{model.get('version')}, "
            f"not {name} v{version}"
        )
    if report.get("promotable") is not True:
        reasons = "; ".join(report.get("blocking_reasons") or ["it is not marked promotable"])
        raise PromotionError(f"the gate report does not allow promotion: {reasons}")


def check_environment(places: Places, request: PromotionRequest) -> None:
    """The path's rules for the environment: its required gates passed in the report, an
    approval where one is required, and (unless an override gives a reason, which is recorded)
    the version holds the environment before it with verified evidence, for the soak time."""
    step = request.step
    name, version = request.gated
    missing = missing_gates(step, request.report)
    if missing:
        raise PromotionError(
            f"{name} v{version} cannot go to {step.env}: {step.env} requires gates that did "
            f"not pass: {'; '.join(missing)} ({step.where or request.path.source})"
        )
    problem = entry_problem(places, version, step.env, request.reason, request.approver)
    if problem is not None:
        raise PromotionError(f"{name} v{version} cannot go to {step.env}: {problem}")


def entry_problem(
    places: Places, version: int, env: str, reason: str | None, approver: str
) -> str | None:
    """Why the candidate's ``version`` may not enter ``env`` on the registries' evidence
    (approval, predecessor, soak time), or None when it may. The gates are the report's
    business. The predecessor may live in another registry: its copy there is checked; a
    predecessor with a live guard must have confirmed it."""
    path = places.path
    step = path.step(env)
    where = step.where or path.source
    if step.approval and not approver:
        return (
            f"{env} requires an approval ({where}): pass --approved-by WHO or set "
            f"{ENV_APPROVAL} (a reviewer of the CI environment, a change ticket)"
        )
    if step.after is None or (reason or "").strip():
        return None
    before = places.of(step.after)
    held = places.counterpart(before, version)
    if held is None:
        problem: str | None = (
            f"{step.after} ({before.name} in {redacted(before.registry.uri)}) holds no copy "
            f"of {places.name} v{version}"
        )
    else:
        problem = predecessor_problem(before.registry, before.name, held, step.after)
    if problem is None and held is not None and step.soak_s:
        problem = soak_problem(before.registry, before.name, held, step)
    if problem is None and held is not None and path.step(step.after).guard is not None:
        problem = guard_problem(before.registry, before.name, held, step.after)
    if problem is None:
        return None
    return f"{problem}. Promote it to {step.after} first, or override with --promote-reason 'why'"


def predecessor_problem(registry: Registry, name: str, version: int, env: str) -> str | None:
    """Why ``version`` does not hold ``env`` with passing evidence, or None when it does."""
    pinned = registry.pinned(name, env)
    if pinned != version:
        return f"{env} pins {version_text(pinned)}, not v{version}"
    try:
        verify_evidence(registry, name, version, env)
    except EvidenceError as exc:
        return str(exc)
    return None


def soak_problem(registry: Registry, name: str, version: int, step: Step) -> str | None:
    """The version must have held ``step.after`` for ``step.soak_s``, by the ledger's record
    of the move that put it there."""
    import datetime as dt

    from pytest_modelgate.promotion.path import duration_text

    assert step.after is not None
    move = ledger.last_move(registry, name, step.after)
    if move is None or move.version != version:
        return (
            f"{step.env} requires v{version} to have held {step.after} for "
            f"{duration_text(step.soak_s)}, and {step.after}'s ledger records no move to it"
        )
    since = dt.datetime.fromisoformat(move.at)
    held = (dt.datetime.now(dt.UTC) - since).total_seconds()
    if held >= step.soak_s:
        return None
    ready = since + dt.timedelta(seconds=step.soak_s)
    return (
        f"{step.env} requires v{version} to have held {step.after} for "
        f"{duration_text(step.soak_s)}; it has held it for {duration_text(round(held))} "
        f"(since {move.at}), so not before {ready.isoformat(timespec='seconds')}"
    )


def compare_alias(registry: Registry, request: PromotionRequest) -> None:
    """The alias still pins what it pinned when the gate run began."""
    check_unmoved(request, registry.pinned(request.name, request.env))


def check_unmoved(request: PromotionRequest, current: int | None) -> None:
    if current != request.expected:
        raise PromotionError(
            f"alias {request.step.alias_name!r} of {request.name} moved since the run began "
            f"({version_text(request.expected)} then, {version_text(current)} now); "
            "nothing was changed: gate again against the current state"
        )


def build_bento(request: PromotionRequest) -> str:
    from pytest_modelgate.bento.build import BentoTarget, suite_input_schema
    from pytest_modelgate.bento.build import build_bento as build

    if not request.model_digest:  # a promotion builds only the files that were gated
        raise BentoError(
            f"the gate report records no digest of {request.name} v{request.version}'s files "
            "(an older pytest-modelgate wrote it): gate the version again"
        )
    target = BentoTarget(request.name, request.version, request.run_id)
    schema = suite_input_schema(request.report.get("data") or {})
    return build(
        target,
        request.tracking_uri,
        request.bentofile,
        schema,
        request.drift_reference,
        request.model_digest,
    )


# -- rollback --------------------------------------------------------------------------------


def rollback_target(registry: Registry, name: str, env: str, current: int) -> int:
    """The version ``current`` replaced: from the ledger's move that put it there, else from
    its evidence (a move recorded before the ledger existed)."""
    moved = ledger.last_move(registry, name, env)
    if moved is not None and moved.version == current and moved.previous is not None:
        return moved.previous
    previous = registry.version_tags(name, current).get(tag(env, "previous_version"))
    if not previous:
        raise PromotionError(
            f"{name} v{current} was the first version {env} pinned: nothing to roll back to"
        )
    return int(previous)


def rollback(registry: Registry, name: str, env: str, reason: str | None = None) -> tuple[int, int]:
    """Move ``env`` back to the version it pinned before the current one; (from, to)."""
    preflight(registry, promoter_needs(Place(registry, name, env)), f"rolling {name} {env} back")
    current = registry.pinned(name, env)
    if current is None:
        raise _refused(
            registry,
            name,
            env,
            None,
            f"alias {registry.alias(env)!r} of {name} is not set: nothing to roll back",
        )
    try:
        target = rollback_target(registry, name, env, current)
    except PromotionError as exc:
        raise _refused(registry, name, env, current, str(exc)) from None
    intent = {"action": "rollback", "version": target, "previous": current, **who(registry)}
    lease = acquire(registry, name, env, {**intent, "at": utc_now()}, promoted_by(registry))
    fault_point("after-intent")
    settle(registry, lease, f"rolling {name} {env} back")
    try:
        if registry.pinned(name, env) != current:
            raise PromotionError(
                f"alias {registry.alias(env)!r} of {name} moved meanwhile; nothing was changed"
            )
        try:
            verify_evidence(registry, name, target, env)
        except EvidenceError as exc:
            raise PromotionError(f"cannot roll {env} back to v{target}: {exc}") from exc
        lease.fence("moving the alias")
    except LeaseLostError:
        raise
    except PromotionError as exc:
        event = {"action": "refuse", "version": target, "reason": f"rollback: {exc}"}
        raise PromotionError(str(exc) + record_under(registry, lease, current, event)) from None
    except Exception as exc:
        raise PromotionError(
            f"rolling {name} {env} back failed: {why(exc)}; nothing was changed"
        ) from exc
    try:
        registry.point(name, env, target)
    except Exception as exc:
        raise PromotionError(
            f"rolling {name} {env} back to v{target}: the alias write failed ({why(exc)}); "
            f"alias {registry.alias(env)!r} pins v{current} or v{target}: the next move or `modelgate recover "
            f"{name} {env}` finishes or undoes it",
            changed=True,
        ) from exc
    fault_point("after-alias")
    try:
        fault_point("before-ledger")
        fields = {**intent, **evidence_fields(registry, name, target, env), "reason": reason}
        persist(lambda: ledger.append(registry, lease, {**fields, "ci_run": ci_run()}))
        persist(lambda: lease.settle("released"))
    except Exception as exc:
        raise PromotionError(
            f"{name} {env} was rolled back to v{target}, but recording it failed: {why(exc)}; "
            f"the next move or `modelgate recover {name} {env}` records it",
            changed=True,
        ) from exc
    return current, target


def _refused(
    registry: Registry, name: str, env: str, version: int | None, reason: str
) -> PromotionError:
    return PromotionError(
        reason + record_refusal(registry, name, env, version, f"rollback: {reason}")
    )


def done_lines(result: PromotionResult) -> list[str]:
    request = result.request
    lines = [f"  {line}" for line in result.recovered]
    if result.noop:
        return [
            *lines,
            f"{request.name} v{request.version} already holds {request.env} with verified "
            "evidence for the same model files: nothing to do, nothing was changed",
            f"  bento {result.bento}",
            f"  evidence sha256 {result.report_sha256} in {result.report_artifact}",
        ]
    lines = [
        f"promoted {request.name} v{request.version} to {request.env} "
        f"(alias {request.step.alias_name!r} was {version_text(result.previous)})",
        *lines,
        f"  bento {result.bento}",
        f"  evidence sha256 {result.report_sha256} in {result.report_artifact}",
    ]
    if result.event is not None:
        lines.append(f"  ledger event #{result.event} of {request.name} {request.env}")
    if request.reason:
        lines.append(f"  override reason: {request.reason}")
    lines += [f"  warning: {w}" for w in result.warnings]
    return lines
