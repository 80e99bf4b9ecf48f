"""How every statistical gate decides: the interval level, the resampling, whether to decide
on the interval bound or the point value, and what a missing champion means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import GateContext, GateResult

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node

DECIDE_ON = ("bound", "point")
MISSING_CHAMPION = ("fail", "pass")
POLICY_KEYS = {"confidence", "resamples", "seed", "decide_on", "on_missing_champion"}


@dataclass(frozen=True)
class Policy:
    confidence: float
    resamples: int
    seed: int
    decide_on: str
    on_missing_champion: str


def parse_policy(node: Node) -> Policy:
    return Policy(
        confidence=node.value_or("confidence", lambda n: n.as_fraction(open_low=True), 0.95),
        resamples=node.value_or("resamples", lambda n: n.as_int(minimum=100), 1000),
        seed=node.value_or("seed", lambda n: n.as_int(minimum=0), 0),
        decide_on=node.value_or("decide_on", lambda n: n.as_choice(DECIDE_ON), "bound"),
        on_missing_champion=node.value_or(
            "on_missing_champion", lambda n: n.as_choice(MISSING_CHAMPION), "fail"
        ),
    )


def missing_champion(
    ctx: GateContext, metric: str, threshold: dict[str, float], policy: str, section: str
) -> GateResult:
    """A comparison with no champion to compare with: ``on_missing_champion`` decides, and the
    result says which policy applied."""
    message = (
        f"no champion: model {ctx.candidate.ref.name!r} has no {ctx.champion_alias!r} alias; "
        f"policy on_missing_champion={policy}"
    )
    if policy == "fail":
        message += (
            ". The comparison cannot run; for a first release set "
            f"'on_missing_champion: pass' in the {section} section."
        )
    return GateResult(
        passed=policy == "pass",
        metric=metric,
        threshold=threshold,
        decided_on="policy",
        message=message,
        details={"champion": None, "on_missing_champion": policy},
    )
