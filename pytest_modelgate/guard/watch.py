"""The guard's loop: a look every interval, for at most ``looks`` intervals, until a check
fails (the version is rolled back), every check passes with enough traffic (it is confirmed),
or the time is up (inconclusive: the alias stays, and the guard says what would settle it).

A look that cannot read the metrics is a measurement error, counted apart: it decides nothing,
and more of them than the spec tolerates end the guard inconclusive. Looks count only traffic
served by the guarded version (``modelgate_model_info``): a replica still serving the version
before is not this version's evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_modelgate.guard.checks import FAIL, INCONCLUSIVE, PASS, Finding, References, evaluate
from pytest_modelgate.guard.counts import Counts
from pytest_modelgate.promotion.guard_spec import GuardSpec

Source = Callable[[], Counts]


@dataclass
class Look:
    number: int
    elapsed_s: float
    counts: Counts | None  # since the first look; None when the metrics could not be read
    findings: list[Finding] = field(default_factory=list)
    error: str = ""

    @property
    def rate(self) -> float:
        return (
            0.0
            if self.counts is None or self.elapsed_s <= 0
            else self.counts.requests / self.elapsed_s
        )


@dataclass
class Outcome:
    verdict: str  # pass, fail or inconclusive
    looks: list[Look]
    why: str  # one line: what decided it
    stopped: str = ""  # set when the guard stopped without a verdict on the version

    @property
    def last(self) -> Look | None:
        return self.looks[-1] if self.looks else None

    def summary(self) -> str:
        look = self.last
        findings = "; ".join(
            f"{f.check}: {f.verdict} ({f.text})" for f in (look.findings if look else [])
        )
        return f"{self.why}. {findings}".strip()


@dataclass
class Watch:
    spec: GuardSpec
    source: Source
    refs: References
    version: str
    still_pinned: Callable[[], bool]
    baseline: Source | None = None  # a stable endpoint's counters, to compare with
    report: Callable[[Look], None] = lambda look: None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def run(self) -> Outcome:
        start, errors = self._first_counts()
        if start is None:
            return Outcome(INCONCLUSIVE, [], errors, stopped=errors)
        try:
            base_start = self.baseline() if self.baseline is not None else None
        except Exception as exc:
            why = f"the baseline's metrics could not be read: {type(exc).__name__}: {exc}"
            return Outcome(INCONCLUSIVE, [], why, stopped=why)
        began, failures = self.clock(), 0
        looks: list[Look] = []
        for number in range(1, self.spec.looks + 1):
            self.sleep(self.spec.interval_s)
            if not self.still_pinned():
                why = "the alias moved during the guard: nothing confirmed or rolled back"
                return Outcome(INCONCLUSIVE, looks, why, stopped=why)
            look = self._look(number, self.clock() - began, start, base_start)
            looks.append(look)
            self.report(look)
            if look.counts is None:
                failures += 1
                if failures > self.spec.measurement_errors:
                    why = f"{failures} looks could not read the metrics (last: {look.error})"
                    return Outcome(INCONCLUSIVE, looks, why, stopped=why)
                continue
            decided = self._decide(look)
            if decided is not None:
                return Outcome(decided.verdict, looks, decided.why)
        return self._undecided(looks, failures)

    def _first_counts(self) -> tuple[Counts | None, str]:
        """The counts at the start, once the guarded version serves (waiting one look's time
        per try, as long as the guard would run)."""
        problem = ""
        for _ in range(self.spec.looks + 1):
            try:
                counts = self.source()
            except Exception as exc:
                problem = f"the metrics could not be read: {type(exc).__name__}: {exc}"
            else:
                if counts.versions == {self.version}:
                    return counts, ""
                served = ", ".join(sorted(counts.versions)) or "no modelgate service"
                problem = f"the endpoint serves {served}, not v{self.version}"
            self.sleep(self.spec.interval_s)
        return None, f"the guard never saw v{self.version} served: {problem}"

    def _look(self, number: int, elapsed: float, start: Counts, base_start: Counts | None) -> Look:
        try:
            counts = self.source()
            base = self.baseline() if self.baseline is not None else None
        except Exception as exc:
            return Look(number, elapsed, None, error=f"{type(exc).__name__}: {exc}")
        if counts.versions != {self.version}:
            served = ", ".join(sorted(counts.versions)) or "nothing"
            return Look(number, elapsed, None, error=f"the endpoint serves {served}")
        since = counts.since(start)
        base_since = base.since(base_start) if base is not None and base_start else None
        return Look(number, elapsed, since, evaluate(self.spec, since, self.refs, base_since))

    def _decide(self, look: Look) -> Outcome | None:
        failed = [f for f in look.findings if f.verdict == FAIL]
        if failed:
            why = "; ".join(f"{f.check} failed: {f.text}" for f in failed)
            return Outcome(FAIL, [], why)
        if look.number < self.spec.confirm_after or not self._enough_traffic(look):
            return None
        if all(f.verdict == PASS for f in look.findings):
            return Outcome(PASS, [], f"every check passed after {look.number} looks")
        return None

    def _enough_traffic(self, look: Look) -> bool:
        assert look.counts is not None
        return look.counts.requests >= self.spec.min_requests and look.rate >= self.spec.min_rate

    def _undecided(self, looks: list[Look], failures: int) -> Outcome:
        last = next((look for look in reversed(looks) if look.counts is not None), None)
        if last is None:
            return Outcome(INCONCLUSIVE, looks, "no look could read the metrics")
        assert last.counts is not None
        needs = []
        if last.counts.requests < self.spec.min_requests:
            needs.append(
                f"{self.spec.min_requests - int(last.counts.requests)} more requests "
                f"(at least {self.spec.min_requests}: no traffic is not a pass)"
            )
        if last.rate < self.spec.min_rate:
            needs.append(
                f"traffic of at least {self.spec.min_rate:g} requests/s (was {last.rate:.2f})"
            )
        for finding in last.findings:
            if finding.verdict == INCONCLUSIVE:
                more = (
                    f"about {finding.needed} requests in all" if finding.needed else "more traffic"
                )
                needs.append(f"{finding.check}: {more} ({finding.text})")
        why = f"undecided after {len(looks)} looks"
        why += f" ({failures} could not read the metrics)" if failures else ""
        return Outcome(
            INCONCLUSIVE, looks, f"{why}; would settle it: {'; '.join(needs) or 'more looks'}"
        )
