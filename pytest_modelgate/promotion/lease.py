"""A lease on the moves of one model's environment, taken through the registry itself.

MLflow has no compare-and-set on an alias, but it numbers the versions of a registered model
atomically: version n+1 is created only after version n is committed (its number is the
primary key). The lease of ``model``/``env`` is one registered model,
``modelgate.lease.<key>``, and each move takes a *generation*: a new version of it, whose tags,
written in the same transaction, say who holds it, until when, and what the move intends to do.
A move holds its generation when every earlier generation is settled or may be taken over;
when an earlier one is still held, it withdraws (settles its own, as withdrawn) and says who
holds the lease. Of any number of promoters that start together, the lowest generation holds.

Because every generation is a version of one registered model, one grant (EDIT on that
model) lets every promoter of the environment settle, renew or recover any generation,
whoever took it.

A generation is never deleted or reused; its holder settles it when the move is over (a
``settled`` tag). The next move may hold only once the earlier generations are settled, their
holder is known to be dead, or their lease expired (plus the longest a registry call of its
holder can take, plus a clock-skew allowance). Before every write the holder *fences*: it
checks that its lease has not run out and that no newer generation holds.
docs/promotion-protocol.md says why this is safe and what it assumes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_modelgate.candidate.registry import LEASE_PREFIX
from pytest_modelgate.errors import LeaseHeldError, LeaseLostError
from pytest_modelgate.jsonio import sha256
from pytest_modelgate.promotion.registry import Registry

PREFIX = LEASE_PREFIX
ENV_TTL = "MODELGATE_LEASE_TTL_S"
ENV_SKEW = "MODELGATE_LEASE_SKEW_S"
DEFAULT_TTL_S = 60.0
DEFAULT_SKEW_S = 5.0  # how far two promoters' clocks may disagree
RENEW_EVERY = 1 / 3  # of the TTL, while a long step (the bento build) runs
LEASE_TAG = "modelgate.lease."  # the prefix of a generation's tags


def lease_key(model: str, env: str) -> str:
    """A fixed-length name part for (model, env): no character of a model name can collide
    with another's or act as a wildcard in a registry search."""
    return sha256(f"{model}\0{env}".encode())[:16]


def lease_name(key: str) -> str:
    """The registered model whose versions are the lease's generations."""
    return f"{PREFIX}{key}"


SOURCE = "modelgate:/lease"  # a version needs a source URI; a lease has no files
WITHDRAWN = "withdrawn"  # the outcome of a generation that found the lease held
PAGE = 50


def is_internal(name: str) -> bool:
    """A registered model that is a lease, not a user's model."""
    return name.startswith(PREFIX)


def ttl_s() -> float:
    return float(os.environ.get(ENV_TTL) or DEFAULT_TTL_S)


def skew_s() -> float:
    return float(os.environ.get(ENV_SKEW) or DEFAULT_SKEW_S)


def iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="seconds")


# -- who holds a lease, and whether that process still lives ---------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def machine_identity() -> str:
    """Host, boot and PID namespace: two processes with equal identities see the same PIDs."""
    pidns = ""
    with contextlib.suppress(OSError):
        pidns = os.readlink("/proc/self/ns/pid")
    return f"{socket.gethostname()}|{_read('/proc/sys/kernel/random/boot_id')}|{pidns}"


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name ([] where it cannot be read)."""
    stat = _read(f"/proc/{pid}/stat")
    return stat.rsplit(")", 1)[-1].split() if stat else []


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot ('' where /proc is not there), so
    a reused PID is not mistaken for the process that held a lease."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat(5)


def _dead_here(identity: str, pid: int, started: str) -> bool:
    """True only when the process is known to be gone: same machine, and its PID absent,
    reused by a later process, or a zombie. Anything unknown counts as alive."""
    if not started or identity != machine_identity() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, as another user's process
    fields = _stat(pid)
    if len(fields) <= 19:
        return False
    return fields[19] != started or fields[0] == "Z"


# -- what a generation says ----------------------------------------------------------------


@dataclass(frozen=True)
class LeaseRecord:
    name: str
    generation: int
    model: str
    env: str
    token: str
    holder: str
    identity: str
    pid: int
    pid_start: str
    acquired_at: float  # epoch seconds, the registry's clock (the version's creation time)
    expires_at: float  # epoch seconds, the holder's clock, pushed forward by renewals
    longest_call_s: float  # the holder's bound on one registry call, retries included
    intent: dict[str, Any]
    undo: dict[str, Any] | None
    settled: str
    won: bool = False  # it held the lease (a withdrawn generation never did)

    @classmethod
    def from_version(cls, mv: Any) -> LeaseRecord:
        tags = dict(mv.tags or {})
        undo = tags.get(LEASE_TAG + "undo")
        return cls(
            name=mv.name,
            generation=int(mv.version),
            model=tags.get(LEASE_TAG + "model", ""),
            env=tags.get(LEASE_TAG + "env", ""),
            token=tags.get(LEASE_TAG + "token", ""),
            holder=tags.get(LEASE_TAG + "holder", "unknown"),
            identity=tags.get(LEASE_TAG + "identity", ""),
            pid=int(tags.get(LEASE_TAG + "pid") or 0),
            pid_start=tags.get(LEASE_TAG + "pid_start", ""),
            acquired_at=(mv.creation_timestamp or 0) / 1000,
            expires_at=float(tags.get(LEASE_TAG + "expires_at") or 0),
            longest_call_s=float(tags.get(LEASE_TAG + "longest_call_s") or 0),
            intent=json.loads(tags.get(LEASE_TAG + "intent") or "{}"),
            undo=json.loads(undo) if undo else None,
            settled=tags.get(LEASE_TAG + "settled", ""),
            won=bool(tags.get(LEASE_TAG + "won")),
        )

    @property
    def withdrawn(self) -> bool:
        """It never held: it found the lease held and stood back."""
        return self.settled.startswith(WITHDRAWN)

    @property
    def since(self) -> str:
        return iso(self.acquired_at)

    def holder_dead(self) -> bool:
        return _dead_here(self.identity, self.pid, self.pid_start)

    def open_until(self) -> float:
        """Until when its holder may still write: its expiry, then the longest one call it
        started before that can take, then the clocks' allowed disagreement."""
        return self.expires_at + self.longest_call_s + skew_s()

    def takeable(self, now: float) -> bool:
        return bool(self.settled) or self.holder_dead() or now > self.open_until()

    def describe(self) -> str:
        intent = self.intent
        action, version = intent.get("action", "move"), intent.get("version")
        return f"move {self.generation}: {action}" + (f" v{version}" if version else "")

    def held_error(self) -> LeaseHeldError:
        return LeaseHeldError(
            self.model, self.env, self.holder, self.since, iso(self.expires_at), self.describe()
        )


def record(registry: Registry, key: str, generation: int) -> LeaseRecord | None:
    mv = registry.model_version_or_none(lease_name(key), generation)
    return None if mv is None else LeaseRecord.from_version(mv)


def _newest_first(registry: Registry, key: str, below: int | None = None) -> Iterator[LeaseRecord]:
    """The generations, newest first (below ``below`` when given), a page at a time."""
    name = lease_name(key)
    while True:
        where = f"version_number < {below}" if below is not None else ""
        page = registry.versions(name, where, max_results=PAGE, order_by=["version_number DESC"])
        records = [LeaseRecord.from_version(mv) for mv in page]
        yield from records
        if len(records) < PAGE:
            return
        below = records[-1].generation


def open_generations(registry: Registry, key: str, below: int | None = None) -> list[LeaseRecord]:
    """The unsettled generations (below ``below``), oldest first, back to the newest one a
    holder settled: withdrawn generations never held, so they neither count nor stop the walk."""
    found = []
    for record_ in _newest_first(registry, key, below):
        if record_.withdrawn:
            continue
        if record_.settled:
            break
        found.append(record_)
    return found[::-1]


def latest(registry: Registry, model: str, env: str) -> LeaseRecord | None:
    """The newest generation that was a move (not withdrawn), or None before the first move."""
    for record_ in _newest_first(registry, lease_key(model, env)):
        if not record_.withdrawn:
            return record_
    return None


def unsettled_before(
    registry: Registry, model: str, env: str, generation: int
) -> list[LeaseRecord]:
    """The moves before ``generation`` that nobody settled (their holder died or lost the
    lease), oldest first: a later holder finishes or undoes each."""
    return open_generations(registry, lease_key(model, env), below=generation)


# -- holding one -----------------------------------------------------------------------------


@dataclass
class Lease:
    """Generation ``generation`` of the lease on ``model``/``env``, held by this process."""

    registry: Registry
    model: str
    env: str
    generation: int
    token: str
    ttl: float
    expires_at: float
    safe_until: float  # the expiry a contender may have read: writes stop before it
    backlog: list[LeaseRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return lease_name(lease_key(self.model, self.env))

    @property
    def margin_s(self) -> float:
        return min(self.ttl / 4, 5.0)

    def renew(self) -> None:
        with self._lock:
            expires = time.time() + self.ttl
            self.registry.set_model_tag(self.name, LEASE_TAG + "expires_at", f"{expires:.3f}")
            # a contender may have read the previous expiry just before this write landed
            self.safe_until, self.expires_at = self.expires_at, expires

    def fence(self, step: str) -> None:
        """Right before a write: renew when half the TTL is gone, then make sure the lease is
        still ours (not run out, no newer generation). Raises LeaseLostError otherwise."""
        if time.time() > self.expires_at - self.ttl / 2:
            self.renew()
        if time.time() + self.margin_s >= self.safe_until:
            raise LeaseLostError(
                f"the lease on moving {self.model} {self.env} (move {self.generation}) ran out "
                f"before {step}: nothing more was written; the next move finishes or undoes it"
            )
        newer = self.newer_holder()
        if newer is not None:
            raise LeaseLostError(
                f"move {self.generation} of {self.model} {self.env} was taken over by "
                f"{newer.holder} at {newer.since} before {step}: nothing more was written; "
                "that move finishes or undoes this one"
            )

    def newer_holder(self) -> LeaseRecord | None:
        """A later generation that holds the lease (a withdrawn one stood back)."""
        key, generation = lease_key(self.model, self.env), self.generation + 1
        while (newer := record(self.registry, key, generation)) is not None:
            if newer.won or (newer.settled and not newer.withdrawn):
                return newer
            generation += 1
        return None

    def _tag(self, key: str, value: str) -> None:
        self.registry.set_version_tag(self.name, self.generation, LEASE_TAG + key, value)

    @contextlib.contextmanager
    def kept_alive(self) -> Iterator[None]:
        """Renew in the background during a long step; a failed renewal is left for the next
        fence to judge."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.ttl * RENEW_EVERY):
                with contextlib.suppress(Exception):
                    self.renew()

        thread = threading.Thread(target=loop, name="modelgate-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def note(self, key: str, value: dict[str, Any]) -> None:
        """Record write-ahead information (what an undo restores) on the lease itself."""
        self.fence(f"recording {key}")
        self._tag(key, json.dumps(value))

    def settle(self, outcome: str) -> None:
        """The move is over: the next promoter need not wait for the lease to expire."""
        self._tag("settled", outcome)


def settle_record(registry: Registry, previous: LeaseRecord, outcome: str) -> None:
    registry.set_version_tag(previous.name, previous.generation, LEASE_TAG + "settled", outcome)


def acquire(registry: Registry, model: str, env: str, intent: dict[str, Any], holder: str) -> Lease:
    """Take the next generation of the lease, with ``intent`` recorded in the same write.
    Raises LeaseHeldError naming the holder while an earlier generation is still held."""
    from pytest_modelgate.candidate.registry import longest_call_s

    key = lease_key(model, env)
    now = time.time()
    held = [r for r in open_generations(registry, key) if not r.takeable(now)]
    if held:  # plainly held: nothing is written
        raise held[-1].held_error()
    ttl, token = ttl_s(), uuid.uuid4().hex
    tags = {
        LEASE_TAG + "model": model,
        LEASE_TAG + "env": env,
        LEASE_TAG + "token": token,
        LEASE_TAG + "holder": holder,
        LEASE_TAG + "identity": machine_identity(),
        LEASE_TAG + "pid": str(os.getpid()),
        LEASE_TAG + "pid_start": process_start(os.getpid()),
        LEASE_TAG + "expires_at": f"{time.time() + ttl:.3f}",
        LEASE_TAG + "longest_call_s": f"{longest_call_s():.1f}",
        LEASE_TAG + "intent": json.dumps(intent, sort_keys=True),
    }
    description = f"modelgate lease on moving {model} {env} (internal: do not edit)"
    generation = registry.create_version(lease_name(key), SOURCE, tags, description)
    started = time.time()
    lease = Lease(registry, model, env, generation, token, ttl, started + ttl, started + ttl)
    earlier = open_generations(registry, key, below=generation)
    # the HTTP client may have retried our create after its answer was lost: the first holds
    ours = [r for r in earlier if r.token == token]
    if ours:
        with contextlib.suppress(Exception):
            lease.settle(f"{WITHDRAWN}: a retried request made it twice")
        lease.generation = ours[0].generation
        earlier = [r for r in earlier if r.generation < lease.generation]
    now = time.time()
    held = [r for r in earlier if not r.takeable(now)]
    if held:  # another promoter's generation came first
        with contextlib.suppress(Exception):
            lease.settle(f"{WITHDRAWN}: held by {held[-1].holder}")
        raise held[-1].held_error()
    try:
        lease._tag("won", "1")
    except Exception:
        with contextlib.suppress(Exception):
            lease.settle(f"{WITHDRAWN}: could not mark it held")
        raise
    lease.backlog = earlier
    return lease
