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
from pytest_modelgate.promotion.aliases import alias_version, restore_tags, set_alias, version_text
from pytest_modelgate.promotion.evidence import read_evidence, verify_evidence
from pytest_modelgate.promotion.lease import Lease, LeaseRecord, acquire, latest, settle_record
from pytest_modelgate.promotion.provenance import ci_run, promoted_by

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


def evidence_fields(client: Any, name: str, version: int, env: str) -> dict[str, str]:
    fields = read_evidence(client.get_model_version(name, str(version)), env).fields
    return {k: fields[k] for k in EVENT_EVIDENCE if fields.get(k)}


def undo_promotion(
    client: Any,
    lease: Lease,
    intent: dict[str, Any],
    undo: dict[str, Any] | None,
) -> list[str]:
    """Put back what an unfinished promotion changed; returns what was put back."""
    name, env = lease.model, lease.env
    version, previous = int(intent["version"]), intent.get("previous")
    done = []
    pinned = alias_version(client, name, env)
    if pinned == version and version != previous:
        lease.fence("putting the alias back")
        set_alias(client, name, env, previous)
        done.append(f"alias {env!r} put back on {version_text(previous)}")
    elif pinned not in (version, previous):
        done.append(f"alias {env!r} left on {version_text(pinned)} (set outside modelgate)")
    if undo and undo.get("tags"):
        lease.fence("restoring the evidence tags")
        restore_tags(client, name, int(undo["version"]), undo["tags"])
        done.append(f"v{undo['version']}'s {env} evidence tags restored")
    return done


def _is_the_moves_evidence(client: Any, intent: dict[str, Any], name: str, env: str) -> bool:
    try:
        evidence = verify_evidence(client, name, int(intent["version"]), env)
    except EvidenceError:
        return False
    return (evidence.report_sha256, evidence.model_digest) == (
        intent.get("report_sha256"),
        intent.get("model_digest"),
    )


def _promotion(client: Any, lease: Lease, move: LeaseRecord) -> tuple[str, dict[str, Any], str]:
    intent, name, env = move.intent, lease.model, lease.env
    version = int(intent["version"])
    moved = {"version": version, "previous": intent.get("previous")}
    if alias_version(client, name, env) == version and _is_the_moves_evidence(
        client, intent, name, env
    ):
        fields = {**moved, **evidence_fields(client, name, version, env)}
        fields["approval"] = intent.get("approval")
        return ledger.FINISHED, fields, f"finished the promotion of v{version} by {move.holder}"
    done = undo_promotion(client, lease, intent, move.undo)
    what = "; ".join(done) or "nothing had changed"
    return "undone", moved, f"undid the promotion of v{version} by {move.holder}: {what}"


def _rollback(client: Any, lease: Lease, move: LeaseRecord) -> tuple[str, dict[str, Any], str]:
    intent, name, env = move.intent, lease.model, lease.env
    version = int(intent["version"])
    moved = {"version": version, "previous": intent.get("previous")}
    if alias_version(client, name, env) == version:
        fields = {**moved, **evidence_fields(client, name, version, env)}
        return ledger.FINISHED, fields, f"finished the rollback to v{version} by {move.holder}"
    return "undone", moved, f"the rollback to v{version} by {move.holder} had changed nothing"


def recover_move(client: Any, lease: Lease, move: LeaseRecord) -> str:
    """Finish or undo one unsettled move, record it, and settle its lease."""
    name, env, number = lease.model, lease.env, move.generation
    recorded = ledger.for_move(client, name, env, number)
    settled_by = f"recovered by move {lease.generation}"
    if any(e.get("recovers") == str(number) for e in recorded):
        lease.fence("settling a recovered move")
        settle_record(client, move, settled_by)
        return f"move {number} ({move.describe()}) was already recovered"
    action = move.intent.get("action")
    fields: dict[str, Any] = {}
    if any(e.get("move") == str(number) for e in recorded):
        outcome, note = "complete", f"move {number} ({action}) had completed but was not settled"
    elif action == "promote":
        outcome, fields, note = _promotion(client, lease, move)
    elif action == "rollback":
        outcome, fields, note = _rollback(client, lease, move)
    else:
        outcome, note = "complete", f"move {number} ({action}) changes nothing to undo"
    event = {"action": "recover", "outcome": outcome, "recovers": number, "reason": note}
    event |= {"by": promoted_by(), "ci_run": ci_run(), "at": utc_now(), **fields}
    ledger.append(client, lease, event)
    lease.fence("settling a recovered move")
    settle_record(client, move, f"{settled_by}: {outcome}")
    return f"recovered move {number} of {move.holder}: {note}"


def settle_backlog(client: Any, lease: Lease) -> list[str]:
    """Recover every unsettled move before ``lease``'s, oldest first."""
    return [recover_move(client, lease, move) for move in lease.backlog]


def recover(client: Any, name: str, env: str) -> list[str]:
    """``modelgate recover``: take the lease (once its holder is done, dead or expired) and
    settle every unfinished move of ``name``'s ``env``."""
    newest = latest(client, name, env)
    if newest is None or newest.settled:
        return [f"{name} {env}: nothing to recover (every move was settled)"]
    intent = {"action": "recover", "by": promoted_by(), "at": utc_now()}
    lease = acquire(client, name, env, intent, promoted_by())
    # on failure this lease stays unsettled, so the next holder walks back past it to the
    # moves still to recover: a lease is settled only once everything before it is
    lines = settle_backlog(client, lease)
    lease.settle("released")
    return lines or [f"{name} {env}: nothing to recover"]
