"""How every statistical gate decides: the interval level, the resampling, whether to decide
on the interval bound or the point value, what a missing champion means, and the three-way
decision of a claim on its interval (pass, fail, inconclusive with the rows that would settle
it), which the run's error control takes for every check of a family."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_modelgate.gates.api import Claim, Decision, GateContext, GateResult

if TYPE_CHECKING:
    import numpy as np

    from pytest_modelgate.suite.nodes import Node

DECIDE_ON = ("bound", "point")
MISSING_CHAMPION = ("fail", "pass")
POLICY_KEYS = {"confidence", "resamples", "seed", "decide_on", "on_missing_champion", "family"}
RUN_FAMILY = "run"  # the family every interval check joins unless its section names another


@dataclass(frozen=True)
class Policy:
    confidence: float
    resamples: int
    seed: int
    decide_on: str
    on_missing_champion: str
    family: str | None = RUN_FAMILY  # None when decided on the point value


def parse_policy(node: Node) -> Policy:
    decide_on = node.value_or("decide_on", lambda n: n.as_choice(DECIDE_ON), "bound")
    return Policy(
        confidence=node.value_or("confidence", lambda n: n.as_fraction(open_low=True), 0.95),
        resamples=node.value_or("resamples", lambda n: n.as_int(minimum=100), 1000),
        seed=node.value_or("seed", lambda n: n.as_int(minimum=0), 0),
        decide_on=decide_on,
        on_missing_champion=node.value_or(
            "on_missing_champion", lambda n: n.as_choice(MISSING_CHAMPION), "fail"
        ),
        family=None if decide_on == "point" else node.value_or("family", _family, RUN_FAMILY),
    )


def _family(node: Node) -> str:
    name = node.as_str()
    if not name.replace("-", "_").replace(".", "_").isidentifier():
        raise node.error(
            f"expected a family name of letters, digits, '-', '_' or '.', got {name!r}"
        )
    return name


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


# -- three-way decisions on an interval -----------------------------------------------------


@dataclass(frozen=True)
class Decided:
    """A claim's decision with the figures its message quotes."""

    decision: Decision
    point: float
    low: float  # the decision interval (at the decision's level)
    high: float
    rows: int
    rows_needed: int | None
    section_low: float = float("nan")  # the interval at the section's own confidence
    section_high: float = float("nan")
    section_confidence: float = 0.95

    def section_name(self) -> str:
        from pytest_modelgate.stats.decision import percent

        return f"{percent(self.section_confidence)} interval"

    @property
    def verdict(self) -> str:
        return self.decision.verdict

    def interval_name(self) -> str:
        """``95% interval``, or ``99.17% interval (Holm-adjusted: 6 checks)``."""
        from pytest_modelgate.stats.decision import percent

        name = f"{percent(self.decision.confidence)} interval"
        if self.decision.corrected:
            d = self.decision
            name += f" ({d.method.capitalize()}-adjusted: {d.family_size} checks in family {d.family!r}, alpha {d.alpha:g})"
        return name

    def interval_text(self) -> str:
        return f"[{self.low:.4f}, {self.high:.4f}]"

    def correction_text(self) -> str:
        """For a claim decided in a family: its adjusted and raw p-values, the family."""
        d = self.decision
        if not d.corrected:
            return ""
        side = "violates" if d.toward == "pass" else "meets"
        return (
            f" ({d.method.capitalize()}-adjusted p {d.adjusted_p:.4f}, raw {d.p_value:.4f}, "
            f"that it {side} the threshold; {d.family_size} checks of family {d.family!r} "
            f"decided together, alpha {d.alpha:g})"
        )

    def rows_text(self, what: str = "evaluation rows") -> str:
        """What more data would do, at the observed value."""
        if self.rows_needed is None:
            return "the observed value sits on the threshold, so more rows at this value cannot settle it"
        more = self.rows_needed - self.rows
        return (
            f"about {self.rows_needed:,} {what} ({more:,} more than the {self.rows:,} here) would "
            "narrow the interval enough to settle it at the observed value"
        )


def interval_claim(
    result: GateResult,
    draws: np.ndarray,
    point: float,
    *,
    rows: int,
    confidence: float,
    describe: Callable[[Decided], str],
    minimum: float | None = None,
    maximum: float | None = None,
    statistic: str | None = None,
) -> Claim:
    """The claim "minimum <= statistic <= maximum" on its bootstrap draws. When the run decides
    it, the result gets its verdict, the decision's figures and ``describe``'s message."""
    from pytest_modelgate.stats.decision import decision_interval, rows_to_decide, sides

    s = sides(draws, point, minimum, maximum)

    def decide(decision: Decision) -> None:
        low, high = decision_interval(draws, point, decision.level)
        section_low, section_high = decision_interval(draws, point, (1.0 - confidence) / 2.0)
        needed = None
        if decision.verdict == "inconclusive":
            needed = rows_to_decide(draws, point, rows, decision.level, minimum, maximum)
        decided = Decided(
            decision, point, low, high, rows, needed, section_low, section_high, confidence
        )
        record(result, decided, point, minimum, maximum, statistic or result.metric)
        result.message = describe(decided)

    return Claim(s.p_pass, s.p_fail, confidence, decide)


def record(
    result: GateResult,
    decided: Decided,
    point: float,
    minimum: float | None,
    maximum: float | None,
    statistic: str,
) -> None:
    """Write a decision into the result: verdict, how it was decided, what it was decided on."""
    result.set_verdict(decided.verdict)
    result.decided_on = decided.decision.decided_on()
    result.error_control = decided.decision.as_dict()
    result.rows_needed = decided.rows_needed
    result.details["decision"] = {
        "statistic": statistic,
        "value": _finite(point),
        "low": _finite(decided.low),
        "high": _finite(decided.high),
        "min": minimum,
        "max": maximum,
        "confidence": decided.decision.confidence,
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def decide_alone(claim: Claim) -> Decision:
    """A claim decided on its own: at the one-sided level (1 - confidence) / 2."""
    level = (1.0 - claim.confidence) / 2.0
    return _decision(claim, level, level, claim.p_pass, claim.p_fail, level, "none", None, 1)


def _decision(
    claim: Claim,
    pass_level: float,
    fail_level: float,
    adjusted_pass: float,
    adjusted_fail: float,
    compare_with: float,
    method: str,
    family: str | None,
    size: int,
    alpha: float | None = None,
) -> Decision:
    """The verdict of one claim from its sides' adjusted p-values: pass when the pass side's is
    at most ``compare_with``, fail when the fail side's is, else inconclusive."""
    if adjusted_pass <= compare_with:
        verdict = "pass"
    elif adjusted_fail <= compare_with:
        verdict = "fail"
    else:
        verdict = "inconclusive"
    toward_pass = claim.p_pass <= claim.p_fail
    return Decision(
        verdict=verdict,
        level=pass_level if toward_pass else fail_level,
        p_value=claim.p_pass if toward_pass else claim.p_fail,
        adjusted_p=adjusted_pass if toward_pass else adjusted_fail,
        method=method,
        family=family,
        family_size=size,
        alpha=alpha,
        toward="pass" if toward_pass else "fail",
        pass_level=pass_level,
        fail_level=fail_level,
    )


def decide_family(claims: list[Claim], family: str, alpha: float, method: str) -> list[Decision]:
    """Every claim of a family at once, so that the chance of any wrong verdict in the family
    (a pass that truly violates its threshold, or a fail that truly meets it) is at most
    ``alpha``: the pass claims are corrected together at alpha / 2, the fail claims likewise,
    with Holm's step-down (or Bonferroni). A family of one is exactly the check decided alone
    at confidence 1 - alpha."""
    from pytest_modelgate.stats import decision as stats

    if not claims:
        return []
    half = alpha / 2.0
    passes = [c.p_pass for c in claims]
    fails = [c.p_fail for c in claims]
    adjust = stats.holm if method == "holm" else stats.bonferroni
    adjusted_pass, adjusted_fail = adjust(passes), adjust(fails)
    pass_levels = stats.effective_levels(passes, adjusted_pass, half)
    fail_levels = stats.effective_levels(fails, adjusted_fail, half)
    return [
        _decision(c, pl, fl, ap, af, half, method, family, len(claims), alpha)
        for c, pl, fl, ap, af in zip(
            claims, pass_levels, fail_levels, adjusted_pass, adjusted_fail, strict=True
        )
    ]


def small_sample(result: GateResult, why: str) -> None:
    """Too little data to decide at all (a group or slice under its minimum size): the check
    is inconclusive and makes no claim, so it takes no part in error control."""
    result.set_verdict("inconclusive")
    result.decided_on = "evidence"
    result.message = why


def describe_bounds(
    decided: Decided,
    value_text: str,
    minimum: float | None,
    maximum: float | None,
    *,
    min_name: str = "min",
    max_name: str = "max",
    fail_advice: str,
    what: str = "evaluation rows",
) -> str:
    """The message of a bound decision: which bound of the decision interval stands where,
    and for an inconclusive one how many rows would settle it."""
    name = decided.interval_name()
    low, high = decided.low, decided.high
    if decided.verdict == "pass":
        parts = []
        if minimum is not None:
            parts.append(f"lower bound {low:.4f} >= {min_name} {minimum:g}")
        if maximum is not None:
            parts.append(f"upper bound {high:.4f} <= {max_name} {maximum:g}")
        return (
            f"{value_text}: {name} {decided.interval_text()} clears the threshold "
            f"({'; '.join(parts)}){decided.correction_text()}"
        )
    if decided.verdict == "fail":
        section = decided.section_name()
        if minimum is not None and high < minimum:
            side = (
                f"lower bound of the {section} {decided.section_low:.4f} is below {min_name} "
                f"{minimum:g}, and so is the whole {name} {decided.interval_text()}"
            )
        else:
            assert maximum is not None
            side = (
                f"upper bound of the {section} {decided.section_high:.4f} is above {max_name} "
                f"{maximum:g}, and so is the whole {name} {decided.interval_text()}"
            )
        return f"{value_text}: {side}{decided.correction_text()}. {fail_advice}"
    broken = []
    if minimum is not None and not low >= minimum:
        broken.append(f"lower bound of the {name} {low:.4f} is below {min_name} {minimum:g}")
    if maximum is not None and not high <= maximum:
        broken.append(f"upper bound of the {name} {high:.4f} is above {max_name} {maximum:g}")
    if not broken:  # the p-value and the interval's bound differ by a resample at the edge
        broken.append(f"the {name} {decided.interval_text()} reaches the threshold")
    point_ok = (minimum is None or decided.point >= minimum) and (
        maximum is None or decided.point <= maximum
    )
    lead = (
        "the point value clears the threshold but the evidence is too thin"
        if point_ok
        else "the point value misses the threshold but the interval reaches across it"
    )
    return (
        f"INCONCLUSIVE, not enough evidence: {value_text}: {'; '.join(broken)}"
        f"{decided.correction_text()}: {lead}; {decided.rows_text(what)}. Evaluate on more rows "
        "before deciding."
    )
