"""A live guard's confirmation of the pinned version, recorded in the ledger.

A ``confirm`` event moves nothing: it says that the version the alias pins behaved under
traffic, with the guard's measurements as its reason. It is appended under the environment's
lease like every other event (so it is ordered with the moves and never lost to a concurrent
one), and only while the alias still pins that version. The step after a guarded environment
needs it (``promotion.moves.entry_problem``).
"""

from __future__ import annotations

from pytest_modelgate.errors import PromotionError
from pytest_modelgate.jsonio import utc_now
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.aliases import version_text
from pytest_modelgate.promotion.lease import acquire
from pytest_modelgate.promotion.permissions import preflight, promoter_needs
from pytest_modelgate.promotion.places import Place
from pytest_modelgate.promotion.provenance import ci_run, promoted_by, who
from pytest_modelgate.promotion.recovery import settle_backlog
from pytest_modelgate.promotion.registry import Registry
from pytest_modelgate.promotion.retry import persist


def confirm(registry: Registry, name: str, env: str, version: int, reason: str) -> int:
    """Record the guard's ``confirm`` of ``version`` on ``env``; the event's number."""
    preflight(registry, promoter_needs(Place(registry, name, env)), f"confirming {name} {env}")
    intent = {"action": "confirm", "version": version, "previous": version, **who(registry)}
    lease = acquire(registry, name, env, {**intent, "at": utc_now()}, promoted_by(registry))
    # an earlier unfinished move is settled first; if that fails the lease stays open, so the
    # next holder walks back to it
    settle_backlog(registry, lease)
    pinned = registry.pinned(name, env)
    if pinned != version:
        persist(lambda: lease.settle("released: nothing to confirm"))
        raise PromotionError(
            f"alias {registry.alias(env)!r} of {name} pins {version_text(pinned)} now, not "
            f"v{version}: the guard's confirmation of v{version} was not recorded"
        )
    fields = {**intent, "reason": reason, "ci_run": ci_run()}
    event = persist(lambda: ledger.append(registry, lease, fields))
    persist(lambda: lease.settle("released: confirm"))
    return event.seq


def guard_problem(registry: Registry, name: str, version: int, env: str) -> str | None:
    """Why ``version`` lacks the guard's confirmation on ``env`` (None when it has it)."""
    if ledger.confirmed(registry, name, env, version) is not None:
        return None
    return (
        f"{env} has a live guard and its ledger records no confirmation of v{version} since "
        f"it moved there: run `modelgate guard {env}` while {env} serves it"
    )
