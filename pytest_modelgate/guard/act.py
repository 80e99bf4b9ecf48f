"""What a guard's outcome does to the environment, through the ledger: a failed guard rolls
the alias back (the lease, the write-ahead move and a ``rollback`` event whose reason carries
the failing measurements), a passed one records a ``confirm`` event, an inconclusive one
changes nothing."""

from __future__ import annotations

from pytest_modelgate.guard.checks import FAIL, PASS
from pytest_modelgate.guard.watch import Outcome
from pytest_modelgate.promotion.confirmation import confirm
from pytest_modelgate.promotion.moves import rollback
from pytest_modelgate.promotion.places import Place

REASON_CHARS = 5000  # a ledger param holds at most 6000 characters in MLflow


def act(place: Place, version: int, outcome: Outcome) -> list[str]:
    """Carry the outcome out; the lines to print. Raises PromotionError when the registry
    refuses (the alias moved meanwhile, a permission is missing)."""
    registry, name, env = place.registry, place.name, place.env
    reason = f"guard: {outcome.summary()}"[:REASON_CHARS]
    if outcome.verdict == FAIL:
        rolled_from, rolled_to = rollback(registry, name, env, reason)
        return [
            f"guard FAILED for {name} v{version} in {env}: {outcome.why}",
            f"rolled {env} back from v{rolled_from} to v{rolled_to} "
            f"(alias {registry.alias(env)!r}; the reason is in the ledger)",
        ]
    if outcome.verdict == PASS:
        number = confirm(registry, name, env, version, reason)
        return [
            f"guard confirmed {name} v{version} in {env}: {outcome.why}",
            f"  ledger event #{number} of {name} {env} (confirm)",
        ]
    return [
        f"guard inconclusive for {name} v{version} in {env}: {outcome.why}",
        f"  alias {registry.alias(env)!r} left on v{version}; nothing was recorded",
    ]
