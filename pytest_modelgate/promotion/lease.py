"""A lease on the moves of one model's environment, taken through the registry itself.

MLflow has no compare-and-set on an alias, but it does make one operation atomic: creating a
registered model whose name exists fails with ``RESOURCE_ALREADY_EXISTS`` ((workspace, name)
is the primary key of its table). A move of ``model``/``env`` takes generation n+1 of a lease
by creating the registered model ``modelgate.lease.<key>.<n+1>``, where n is the newest
generation: of any number of promoters that try, exactly one creates it. Its tags, written in
the same transaction, say who holds it, until when, and what the move intends to do.

A generation is never deleted or reused; its holder settles it when the move is over (a
``settled`` tag). The next move may take generation n+2 only once n+1 is settled, its holder
is known to be dead, or its lease expired (plus the longest a registry call of its holder can
take, plus a clock-skew allowance). Before every write the holder *fences*: it checks that its
lease has not run out and that no newer generation exists. docs/promotion-protocol.md says why
this is safe and what it assumes.
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
LEASE_TAG = "modelgate.lease."  # the prefix of a lease entity's tags


def lease_key(model: str, env: str) -> str:
    """A fixed-length name part for (model, env): no character of a model name can collide
    with another's or act as a wildcard in a registry search."""
    return sha256(f"{model}\0{env}".encode())[:16]


def lease_name(key: str, generation: int) -> str:
    return f"{PREFIX}{key}.{generation:08d}"


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


# -- what a lease entity says ----------------------------------------------------------------


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
    acquired_at: float  # epoch seconds, the registry's clock (the entity's creation time)
    expires_at: float  # epoch seconds, the holder's clock, pushed forward by renewals
    longest_call_s: float  # the holder's bound on one registry call, retries included
    intent: dict[str, Any]
    undo: dict[str, Any] | None
    settled: str

    @classmethod
    def from_entity(cls, entity: Any) -> LeaseRecord:
        tags = dict(entity.tags or {})
        undo = tags.get(LEASE_TAG + "undo")
        return cls(
            name=entity.name,
            generation=int(entity.name.rsplit(".", 1)[-1]),
            model=tags.get(LEASE_TAG + "model", ""),
            env=tags.get(LEASE_TAG + "env", ""),
            token=tags.get(LEASE_TAG + "token", ""),
            holder=tags.get(LEASE_TAG + "holder", "unknown"),
            identity=tags.get(LEASE_TAG + "identity", ""),
            pid=int(tags.get(LEASE_TAG + "pid") or 0),
            pid_start=tags.get(LEASE_TAG + "pid_start", ""),
            acquired_at=(entity.creation_timestamp or 0) / 1000,
            expires_at=float(tags.get(LEASE_TAG + "expires_at") or 0),
            longest_call_s=float(tags.get(LEASE_TAG + "longest_call_s") or 0),
            intent=json.loads(tags.get(LEASE_TAG + "intent") or "{}"),
            undo=json.loads(undo) if undo else None,
            settled=tags.get(LEASE_TAG + "settled", ""),
        )

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
    entity = registry.registered_model(lease_name(key, generation))
    return None if entity is None else LeaseRecord.from_entity(entity)


def latest(registry: Registry, model: str, env: str) -> LeaseRecord | None:
    """The newest generation of the lease of ``model``/``env``, or None before the first move."""
    key = lease_key(model, env)
    prefix = f"{PREFIX}{key}."
    page = registry.search_models(f"name LIKE '{prefix}%'", order_by=["name DESC"], max_results=10)
    for entity in page:  # the key is hex and the generation zero-padded: name order is age
        if entity.name.startswith(prefix) and entity.name[len(prefix) :].isdigit():
            return LeaseRecord.from_entity(entity)
    return None


def unsettled_before(
    registry: Registry, model: str, env: str, generation: int
) -> list[LeaseRecord]:
    """The moves before ``generation`` that nobody settled (their holder died or lost the
    lease), oldest first: a later holder finishes or undoes each."""
    key = lease_key(model, env)
    found = []
    for earlier in range(generation - 1, 0, -1):
        previous = record(registry, key, earlier)
        if previous is None or previous.settled:
            break
        found.append(previous)
    return found[::-1]


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
        return lease_name(lease_key(self.model, self.env), self.generation)

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
        newer = record(self.registry, lease_key(self.model, self.env), self.generation + 1)
        if newer is not None:
            raise LeaseLostError(
                f"move {self.generation} of {self.model} {self.env} was taken over by "
                f"{newer.holder} at {newer.since} before {step}: nothing more was written; "
                "that move finishes or undoes this one"
            )

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
        self.registry.set_model_tag(self.name, LEASE_TAG + key, json.dumps(value))

    def settle(self, outcome: str) -> None:
        """The move is over: the next promoter need not wait for the lease to expire."""
        self.registry.set_model_tag(self.name, LEASE_TAG + "settled", outcome)


def settle_record(registry: Registry, previous: LeaseRecord, outcome: str) -> None:
    registry.set_model_tag(previous.name, LEASE_TAG + "settled", outcome)


def acquire(registry: Registry, model: str, env: str, intent: dict[str, Any], holder: str) -> Lease:
    """Take the next generation of the lease, with ``intent`` recorded in the same write.
    Raises LeaseHeldError naming the holder while the newest generation is still held."""
    from mlflow.exceptions import MlflowException

    from pytest_modelgate.candidate.registry import longest_call_s

    key = lease_key(model, env)
    newest = latest(registry, model, env)
    if newest is not None and not newest.takeable(time.time()):
        raise newest.held_error()
    generation = 1 if newest is None else newest.generation + 1
    ttl, token, now = ttl_s(), uuid.uuid4().hex, time.time()
    tags = {
        LEASE_TAG + "model": model,
        LEASE_TAG + "env": env,
        LEASE_TAG + "token": token,
        LEASE_TAG + "holder": holder,
        LEASE_TAG + "identity": machine_identity(),
        LEASE_TAG + "pid": str(os.getpid()),
        LEASE_TAG + "pid_start": process_start(os.getpid()),
        LEASE_TAG + "expires_at": f"{now + ttl:.3f}",
        LEASE_TAG + "longest_call_s": f"{longest_call_s():.1f}",
        LEASE_TAG + "intent": json.dumps(intent, sort_keys=True),
    }
    description = f"modelgate lease on moving {model} {env} (internal: do not edit)"
    try:
        registry.create_registered_model(lease_name(key, generation), tags, description)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        winner = record(registry, key, generation) or newest
        # our own create, retried by the HTTP registry after its answer was lost, lands here too
        if winner is None:
            raise
        if winner.token != token:
            raise winner.held_error() from None
    lease = Lease(registry, model, env, generation, token, ttl, now + ttl, now + ttl)
    lease.backlog = unsettled_before(registry, model, env, generation)
    return lease
