"""Finish or undo the moves their holders did not settle (killed, cut off from the registry,
or overtaken when their lease ran out).

Whoever takes a lease next settles the earlier unsettled moves first, oldest first. What to do
is decided from what the registry shows, not from how far the holder said it got: a promotion
whose alias write landed (the alias pins its version) and whose evidence is the move's own is
finished (its ledger event is recorded); anything else is undone (the alias put back, the
evidence tags restored from the undo record the move wrote ahead). Every step is idempotent, so
a recovery that is itself interrupted is simply done again by the next holder.
"""

from __future__ import annotations

from typing import Any

from pytest_modelgate.errors import EvidenceError
from pytest_modelgate.jsonio import utc_now
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.aliases import restore_tags, version_text
from pytest_modelgate.promotion.evidence import read_evidence, verify_evidence
from pytest_modelgate.promotion.lease import Lease, LeaseRecord, acquire, latest, settle_record
from pytest_modelgate.promotion.provenance import ci_run, promoted_by, who
from pytest_modelgate.promotion.registry import Registry

# the evidence fields an event repeats, so the ledger alone says what gated a move
EVENT_EVIDENCE = (
    "report_sha256",
    "report_artifact",
    "data_sha256",
    "model_digest",
    "code_commit",
    "bento",
    "plugin_version",
)


def evidence_fields(registry: Registry, name: str, version: int, env: str) -> dict[str, str]:
    fields = read_evidence(registry.model_version(name, version), env).fields
    return {k: fields[k] for k in EVENT_EVIDENCE if fields.get(k)}


def undo_promotion(
    registry: Registry,
    lease: Lease,
    intent: dict[str, Any],
    undo: dict[str, Any] | None,
) -> list[str]:
    """Put back what an unfinished promotion changed; returns what was put back."""
    name, env = lease.model, lease.env
    version, previous = int(intent["version"]), intent.get("previous")
    done = []
    pinned = registry.pinned(name, env)
    if pinned == version and version != previous:
        lease.fence("putting the alias back")
        registry.point(name, env, previous)
        done.append(f"alias {registry.alias(env)!r} put back on {version_text(previous)}")
    elif pinned not in (version, previous):
        done.append(
            f"alias {registry.alias(env)!r} left on {version_text(pinned)} (set outside modelgate)"
        )
    if undo and undo.get("tags"):
        lease.fence("restoring the evidence tags")
        restore_tags(registry, name, int(undo["version"]), undo["tags"])
        done.append(f"v{undo['version']}'s {env} evidence tags restored")
    return done


def _is_the_moves_evidence(registry: Registry, intent: dict[str, Any], name: str, env: str) -> bool:
    try:
        evidence = verify_evidence(registry, name, int(intent["version"]), env)
    except EvidenceError:
        return False
    return (evidence.report_sha256, evidence.model_digest) == (
        intent.get("report_sha256"),
        intent.get("model_digest"),
    )


def _promotion(
    registry: Registry, lease: Lease, move: LeaseRecord
) -> tuple[str, dict[str, Any], str]:
    intent, name, env = move.intent, lease.model, lease.env
    version = int(intent["version"])
    moved = {"version": version, "previous": intent.get("previous")}
    if registry.pinned(name, env) == version and _is_the_moves_evidence(
        registry, intent, name, env
    ):
        fields = {**moved, **evidence_fields(registry, name, version, env)}
        fields["approval"] = intent.get("approval")
        return ledger.FINISHED, fields, f"finished the promotion of v{version} by {move.holder}"
    done = undo_promotion(registry, lease, intent, move.undo)
    what = "; ".join(done) or "nothing had changed"
    return "undone", moved, f"undid the promotion of v{version} by {move.holder}: {what}"


def _rollback(
    registry: Registry, lease: Lease, move: LeaseRecord
) -> tuple[str, dict[str, Any], str]:
    intent, name, env = move.intent, lease.model, lease.env
    version = int(intent["version"])
    moved = {"version": version, "previous": intent.get("previous")}
    if registry.pinned(name, env) == version:
        fields = {**moved, **evidence_fields(registry, name, version, env)}
        return ledger.FINISHED, fields, f"finished the rollback to v{version} by {move.holder}"
    return "undone", moved, f"the rollback to v{version} by {move.holder} had changed nothing"


def recover_move(registry: Registry, lease: Lease, move: LeaseRecord) -> str:
    """Finish or undo one unsettled move, record it, and settle its lease."""
    name, env, number = lease.model, lease.env, move.generation
    recorded = ledger.for_move(registry, name, env, number)
    settled_by = f"recovered by move {lease.generation}"
    if any(e.get("recovers") == str(number) for e in recorded):
        lease.fence("settling a recovered move")
        settle_record(registry, move, settled_by)
        return f"move {number} ({move.describe()}) was already recovered"
    action = move.intent.get("action")
    fields: dict[str, Any] = {}
    if any(e.get("move") == str(number) for e in recorded):
        outcome, note = "complete", f"move {number} ({action}) had completed but was not settled"
    elif action == "promote":
        outcome, fields, note = _promotion(registry, lease, move)
    elif action == "rollback":
        outcome, fields, note = _rollback(registry, lease, move)
    else:
        outcome, note = "complete", f"move {number} ({action}) changes nothing to undo"
    event = {"action": "recover", "outcome": outcome, "recovers": number, "reason": note}
    event |= {**who(registry), "ci_run": ci_run(), "at": utc_now(), **fields}
    ledger.append(registry, lease, event)
    lease.fence("settling a recovered move")
    settle_record(registry, move, f"{settled_by}: {outcome}")
    return f"recovered move {number} of {move.holder}: {note}"


def settle_backlog(registry: Registry, lease: Lease) -> list[str]:
    """Recover every unsettled move before ``lease``'s, oldest first."""
    return [recover_move(registry, lease, move) for move in lease.backlog]


def recover(registry: Registry, name: str, env: str) -> list[str]:
    """``modelgate recover``: take the lease (once its holder is done, dead or expired) and
    settle every unfinished move of ``name``'s ``env``."""
    from pytest_modelgate.promotion.permissions import preflight, promoter_needs
    from pytest_modelgate.promotion.places import Place

    newest = latest(registry, name, env)
    if newest is None or newest.settled:
        return [f"{name} {env}: nothing to recover (every move was settled)"]
    preflight(registry, promoter_needs(Place(registry, name, env)), f"recovering {name} {env}")
    intent = {"action": "recover", **who(registry), "at": utc_now()}
    lease = acquire(registry, name, env, intent, promoted_by(registry))
    # on failure this lease stays unsettled, so the next holder walks back past it to the
    # moves still to recover: a lease is settled only once everything before it is
    lines = settle_backlog(registry, lease)
    lease.settle("released")
    return lines or [f"{name} {env}: nothing to recover"]
