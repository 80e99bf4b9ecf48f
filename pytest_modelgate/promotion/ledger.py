"""The promotion ledger: every promotion, refusal, rollback, recovery and live guard's
confirmation, append-only.

Each event is its own MLflow run in the model's ledger experiment (``modelgate-ledger/<model>``,
so that writing one model's ledger is one grant on a registry with authentication; chains
begun in the shared ``modelgate-ledger`` of earlier releases are read on), its fields logged as
run params, which MLflow never lets anyone change once logged. Events of one model's
environment form a chain: each carries its sequence number, the hash of the event before it
and its own hash (sha256 of its canonical fields), so a deleted, rewritten or inserted event
breaks the chain at that point. Appending happens only under the move's lease, which
serialises the writers of one chain.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pytest_modelgate.jsonio import canonical_bytes, sha256, utc_now
from pytest_modelgate.promotion.lease import Lease, lease_key
from pytest_modelgate.promotion.registry import Registry

EXPERIMENT = "modelgate-ledger"  # the shared ledger of earlier releases: read, never written
GENESIS = "0" * 64
PAGE_SIZE = 500
# confirm: a live guard found the pinned version sound under traffic (it moves nothing)
ACTIONS = ("promote", "rollback", "refuse", "abort", "recover", "confirm")
FINISHED = "finished"  # a recovery that completed an interrupted move
TAG = "modelgate.ledger"


@dataclass(frozen=True)
class Event:
    params: dict[str, str]
    run_id: str
    deleted: bool = False

    def get(self, key: str) -> str:
        return self.params.get(key, "")

    @property
    def seq(self) -> int:
        return int(self.get("seq") or 0)

    @property
    def action(self) -> str:
        return self.get("action")

    @property
    def version(self) -> int | None:
        return int(self.get("version")) if self.get("version") else None

    @property
    def previous(self) -> int | None:
        return int(self.get("previous")) if self.get("previous") else None

    @property
    def at(self) -> str:
        return self.get("at")

    @property
    def moved(self) -> bool:
        """Did this event put the alias on ``version``?"""
        return self.action in ("promote", "rollback") or (
            self.action == "recover" and self.get("outcome") == FINISHED
        )

    def computed_hash(self) -> str:
        return event_hash({k: v for k, v in self.params.items() if k != "hash"})

    def line(self) -> str:
        was = f"v{self.previous}" if self.previous else "nothing"
        what = self.action + (f" {self.get('outcome')}" if self.get("outcome") else "")
        text = f"#{self.seq} {self.at} {self.get('env')} {what}"
        if self.version is not None:
            text += f" v{self.version}" + ("" if self.action == "confirm" else f" (was {was})")
        text += f" by {self.get('by') or '?'}"
        for key in ("report_sha256", "model_digest"):
            if self.get(key):
                text += f" {key.split('_')[0]} {self.get(key)[:12]}"
        if self.get("reason"):
            text += f": {self.get('reason')}"
        return text


def event_hash(fields: dict[str, str]) -> str:
    return sha256(canonical_bytes(fields))


def chain_id(model: str, env: str) -> str:
    return lease_key(model, env)


def experiment_name(model: str) -> str:
    return f"{EXPERIMENT}/{model}"


# an experiment's id never changes: look each up once per registry
_EXPERIMENTS: weakref.WeakKeyDictionary[Registry, dict[str, str]] = weakref.WeakKeyDictionary()


def _experiment(registry: Registry, name: str, create: bool = False) -> str | None:
    from mlflow.exceptions import MlflowException

    known = _EXPERIMENTS.setdefault(registry, {})
    if name in known:
        return known[name]
    found = registry.experiment_id(name)
    if found is None and create:
        try:
            found = registry.create_experiment(name, {TAG: "events"})
        except MlflowException as exc:  # another promoter created it first
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = registry.experiment_id(name)
    if found is not None:
        known[name] = found
    return found


def experiment_id(registry: Registry, model: str, create: bool = False) -> str | None:
    """The id of ``model``'s ledger experiment (created when asked and missing)."""
    return _experiment(registry, experiment_name(model), create)


def _search(registry: Registry, model: str, env: str, extra: str = "", **kwargs: Any) -> Any:
    experiments = [
        found
        for found in (experiment_id(registry, model), _experiment(registry, EXPERIMENT))
        if found is not None
    ]
    if not experiments:
        return []
    query = f"params.chain = '{chain_id(model, env)}'" + (f" and {extra}" if extra else "")
    return registry.search_runs(experiments, query, **kwargs)


def _event(run: Any) -> Event:
    return Event(dict(run.data.params), run.info.run_id, run.info.lifecycle_stage == "deleted")


def events(registry: Registry, model: str, env: str, page_size: int = PAGE_SIZE) -> Iterator[Event]:
    """Every event of the chain, oldest first, fetched a page at a time (no cap)."""
    token = None
    while True:
        page = _search(
            registry, model, env, order_by=["params.seq ASC"], max_results=page_size,
            page_token=token,
        )  # fmt: skip
        yield from (_event(run) for run in page)
        token = getattr(page, "token", None)
        if not token:
            return


def tip(registry: Registry, model: str, env: str) -> Event | None:
    page = _search(registry, model, env, order_by=["params.seq DESC"], max_results=1)
    return _event(page[0]) if page else None


def for_move(registry: Registry, model: str, env: str, generation: int) -> list[Event]:
    """The events a move recorded itself, and those recording its recovery."""
    found = []
    for key in ("move", "recovers"):
        found += [
            _event(r) for r in _search(registry, model, env, f"params.{key} = '{generation}'")
        ]
    return found


def append(registry: Registry, lease: Lease, fields: dict[str, Any]) -> Event:
    """Record one event at the end of the chain, under ``lease``. Idempotent: if the chain
    already ends with this move's event of this action (a retried call), that is returned."""
    model, env = lease.model, lease.env
    experiment = experiment_id(registry, model, create=True)
    assert experiment is not None  # created when missing
    last = tip(registry, model, env)
    if (
        last is not None
        and last.get("move") == str(lease.generation)
        and last.action == fields["action"]
        and last.get("recovers") == str(fields.get("recovers") or "")
    ):
        return last
    params = {k: str(v) for k, v in fields.items() if v is not None and str(v) != ""}
    params |= {
        "chain": chain_id(model, env),
        "model": model,
        "env": env,
        "seq": f"{(last.seq if last else 0) + 1:08d}",
        "move": str(lease.generation),
        "at": params.get("at") or utc_now(),
        "prev_hash": last.get("hash") if last else GENESIS,
    }
    params["hash"] = event_hash(params)
    lease.fence(f"recording the {fields['action']} event")
    # one batch: the event becomes visible (its chain param) with all its fields at once
    run_id = registry.record_run(experiment, f"{model}.{env}.{params['seq']}", {TAG: "1"}, params)
    return Event(params, run_id)


def last_move(registry: Registry, model: str, env: str) -> Event | None:
    """The latest event that put the alias where it is."""
    moved = None
    for event in events(registry, model, env):
        if event.moved and not event.deleted:
            moved = event
    return moved


def chain_problems(chain: list[Event]) -> Iterator[str]:
    """What does not hold in one chain, in order: each names the event."""
    expected_prev, seen = GENESIS, set()
    for number, event in enumerate(chain, start=1):
        where = f"event #{event.seq} (run {event.run_id})"
        if event.seq in seen:
            yield f"{where}: a second event #{event.seq}: the chain forked"
            continue
        seen.add(event.seq)
        if event.seq != number:
            yield f"event #{number} is missing (the chain goes from #{number - 1} to #{event.seq})"
            return
        if event.deleted:
            yield f"{where} was deleted"
        if event.get("hash") != event.computed_hash():
            yield f"{where}: its fields do not hash to its recorded hash (it was altered)"
        if event.get("prev_hash") != expected_prev:
            yield f"{where} does not chain to the event before it (prev_hash mismatch)"
        expected_prev = event.get("hash")


def confirmed(registry: Registry, model: str, env: str, version: int) -> Event | None:
    """The guard's confirmation of ``version`` since the move that last put it on ``env``."""
    found = None
    for event in events(registry, model, env):
        if event.moved and not event.deleted:
            found = None  # a later move voids an earlier confirmation
        if event.action == "confirm" and event.version == version and not event.deleted:
            found = event
    return found
