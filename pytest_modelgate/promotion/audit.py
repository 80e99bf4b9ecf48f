"""Verify a model's ledger: the chains hold, every event's evidence still checks out, and the
aliases are where the ledger's last moves put them.

An event's evidence holds when the gate report it names, as logged on the version's run, still
has the sha256 the event recorded, and the version's files, downloaded through the registry,
still have the recorded model digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from pytest_modelgate.errors import EvidenceError
from pytest_modelgate.jsonio import sha256
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.aliases import version_text
from pytest_modelgate.promotion.evidence import report_bytes
from pytest_modelgate.promotion.lease import latest
from pytest_modelgate.promotion.places import Place
from pytest_modelgate.promotion.registry import Registry


@dataclass
class Checker:
    """Downloads each report and each version's files once, however many events name them."""

    registry: Registry
    name: str
    tracking_uri: str
    reports: dict[tuple[str, str], str] = field(default_factory=dict)
    digests: dict[int, str] = field(default_factory=dict)

    def report_sha256(self, version: int, artifact: str) -> str:
        run_id = self.registry.model_version(self.name, version).run_id
        key = (run_id, artifact)
        if key not in self.reports:
            try:
                self.reports[key] = sha256(report_bytes(self.registry, run_id, artifact))
            except EvidenceError:
                self.reports[key] = "unreadable"
        return self.reports[key]

    def model_digest(self, version: int) -> str:
        from pytest_modelgate.candidate.digest import version_digest

        if version not in self.digests:
            self.digests[version] = version_digest(self.name, version, self.tracking_uri)
        return self.digests[version]

    def evidence_problems(self, event: ledger.Event) -> Iterator[str]:
        version = event.version
        if version is None:
            return
        where = f"event #{event.seq} ({event.action} v{version}, run {event.run_id})"
        artifact, recorded = event.get("report_artifact"), event.get("report_sha256")
        if artifact and recorded and self.report_sha256(version, artifact) != recorded:
            yield f"{where}: gate report {artifact} no longer has sha256 {recorded[:12]}"
        digest = event.get("model_digest")
        if digest and self.model_digest(version) != digest:
            yield (
                f"{where}: v{version}'s files no longer have the gated digest {digest[:12]} "
                f"(now {self.model_digest(version)[:12]})"
            )


def env_problems(checker: Checker, env: str, chain: list[ledger.Event]) -> Iterator[str]:
    """The chain, then each event's evidence in order, then the alias against the ledger."""
    name, registry = checker.name, checker.registry
    broken = next(ledger.chain_problems(chain), None)
    if broken is not None:
        yield f"{env}: {broken}"
        return
    for event in chain:
        for problem in checker.evidence_problems(event):
            yield f"{env}: {problem}"
    moved = [e for e in chain if e.moved]
    pinned = registry.pinned(name, env)
    if moved and moved[-1].version != pinned:
        last = moved[-1]
        yield (
            f"{env}: alias pins {version_text(pinned)}, but the ledger's last move "
            f"(event #{last.seq}) put v{last.version} there"
        )
    elif not moved and pinned is not None:
        yield f"{env}: alias pins v{pinned}, but the ledger records no move to it"
    newest = latest(registry, name, env)
    if newest is not None and not newest.settled:
        yield (
            f"{env}: move {newest.generation} ({newest.describe()}) by {newest.holder} since "
            f"{newest.since} is not settled: run `modelgate recover {name} {env}` once it is over"
        )


def verify(places: list[Place]) -> tuple[list[str], str | None]:
    """(summary lines, the first problem or None), an environment at a time, each in its own
    registry and registered model."""
    lines: list[str] = []
    checkers: dict[tuple[str, str], Checker] = {}
    for place in places:
        key = (place.registry.uri, place.name)
        checker = checkers.setdefault(key, Checker(place.registry, place.name, place.registry.uri))
        chain = list(ledger.events(place.registry, place.name, place.env))
        problem = next(env_problems(checker, place.env, chain), None)
        if problem is not None:
            return lines, problem
        tip = chain[-1].get("hash")[:16] if chain else "-"
        lines.append(f"{place.env}: {len(chain)} events, chain and evidence verified (tip {tip})")
    return lines, None
