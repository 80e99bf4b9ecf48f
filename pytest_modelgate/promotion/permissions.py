"""What a move needs of a registry with authentication, checked before the move starts, and
the grants that give it (``modelgate grants``).

On a tracking server started with ``mlflow server --app-name basic-auth``, every request is
made as one account (MLflow's own credentials: ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD``, or ``~/.mlflow/credentials``) and checked against that account's
permission on the resource: a registered model, or an experiment (its runs follow it). A move
of environment E of registered model M writes:

- M itself: E's alias and the version's evidence tags (EDIT);
- the lease of M/E, the registered model ``modelgate.lease.<key>`` whose versions are its
  generations (EDIT), so any promoter of E settles or recovers any generation;
- M's ledger, the experiment ``modelgate-ledger/<M>`` (EDIT: an event is a run there);
- the experiment of the version's run, where the gate report is logged beside the model (EDIT);
- for a copy from another registry, ``modelgate-copies/<M>`` (EDIT).

An auditor needs READ on the same (``history``, ``verify`` and ``status`` only read). MLflow
grants per registered model, not per alias: a team that wants production's promoters apart from
staging's gives each environment its own registered model in the promotion path (``model:``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_modelgate.errors import PermissionRefused
from pytest_modelgate.promotion import auth_api, ledger
from pytest_modelgate.promotion.lease import lease_key, lease_name
from pytest_modelgate.promotion.places import Place
from pytest_modelgate.promotion.registry import COPIES, Registry

RANK = {"NO_PERMISSIONS": 0, "DENY": 0, "READ": 1, "USE": 2, "EDIT": 3, "MANAGE": 4}
MODEL, EXPERIMENT = "registered_model", "experiment"


@dataclass(frozen=True)
class Need:
    """One permission a role needs on one resource."""

    kind: str  # MODEL or EXPERIMENT
    resource: str  # the registered model's or the experiment's name
    permission: str  # "EDIT" or "READ"
    why: str

    def text(self) -> str:
        kind = "registered model" if self.kind == MODEL else "experiment"
        return f"{self.permission} on {kind} {self.resource!r} ({self.why})"


def promoter_needs(place: Place, run_experiment: str | None = None) -> list[Need]:
    """What a promoter of ``place``'s environment needs (``run_experiment``: the name of the
    experiment of the version's run, when known)."""
    name, env, alias = place.name, place.env, place.registry.alias(place.env)
    needs = [
        Need(MODEL, name, "EDIT", f"moving alias {alias!r}, tagging the version's {env} evidence"),
        Need(MODEL, lease_name(lease_key(name, env)), "EDIT", f"the lease on moving {name} {env}"),
        Need(EXPERIMENT, ledger.experiment_name(name), "EDIT", f"the ledger of {name}"),
    ]
    if run_experiment:
        needs.append(
            Need(EXPERIMENT, run_experiment, "EDIT", "logging the gate report beside the model")
        )
    return needs


def copier_needs(place: Place) -> list[Need]:
    return [Need(EXPERIMENT, f"{COPIES}/{place.name}", "EDIT", "the files of copied versions")]


def auditor_needs(place: Place) -> list[Need]:
    return [
        Need(n.kind, n.resource, "READ", n.why.replace("moving", "reading"))
        for n in promoter_needs(place)
    ]


def missing(registry: Registry, user: str, needs: Iterable[Need]) -> list[str]:
    """The needs ``user`` lacks, in words. A resource not created yet is left to the move
    (its creator owns it): only what exists can be checked."""
    lacking = []
    for need in needs:
        resource = _resource_id(registry, need)
        if resource is None:
            continue
        held = auth_api.permission(registry.uri, user, need.kind, resource)
        if RANK.get(held, 0) < RANK[need.permission]:
            lacking.append(f"{need.text()}: {user} has {held}")
    return lacking


def preflight(registry: Registry, needs: list[Need], what: str) -> None:
    """Refuse ``what`` before anything is written when the registry's account lacks a
    permission the move needs. A registry without authentication passes."""
    user = registry.user()
    if user is None:
        return
    lacking = missing(registry, user, needs)
    if lacking:
        model = next((n.resource for n in needs if n.kind == MODEL), "MODEL")
        raise PermissionRefused(
            f"{what}: the registry account {user!r} lacks " + "; ".join(lacking) + ". Nothing "
            f"was changed. An admin grants them: `modelgate grants {model} --promoter {user} "
            "--apply`"
        )


def _resource_id(registry: Registry, need: Need) -> str | None:
    if need.kind == MODEL:
        return need.resource if registry.registered_model(need.resource) is not None else None
    return registry.experiment_id(need.resource)


def ensure(registry: Registry, need: Need) -> str:
    """Create the resource when it does not exist yet (as the current account, an admin's
    when granting); returns the id a grant names."""
    from mlflow.exceptions import MlflowException

    found = _resource_id(registry, need)
    if found is not None:
        return found
    try:
        if need.kind == MODEL:
            registry.create_registered_model(need.resource)
            return need.resource
        return registry.create_experiment(need.resource, {"modelgate": "internal"})
    except MlflowException as exc:  # made meanwhile
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        made = _resource_id(registry, need)
        assert made is not None
        return made


def grant(registry: Registry, user: str, need: Need) -> str:
    """Give ``user`` ``need`` (creating the resource first; a higher permission it holds is
    kept); returns what was done."""
    resource = ensure(registry, need)
    held = auth_api.permission(registry.uri, user, need.kind, resource)
    if RANK.get(held, 0) >= RANK[need.permission]:
        return f"{user} already has {held}: {need.text()}"
    auth_api.grant(registry.uri, user, need.kind, resource, need.permission)
    return f"granted {user} {need.text()}"


def run_experiments(place: Place) -> list[str]:
    """The experiments of the runs of ``place``'s model versions (gate reports go there)."""
    names = set()
    for run_id in {v.run_id for v in place.registry.versions(place.name) if v.run_id}:
        name = place.registry.run_experiment(run_id)
        if name is not None:
            names.add(name)
    return sorted(names)


def role_needs(places: Iterable[Place], source: Registry) -> dict[str, list[tuple[Place, Need]]]:
    """Every need of each role over ``places`` (a resource named once per registry)."""
    roles: dict[str, list[tuple[Place, Need]]] = {"promoter": [], "auditor": []}
    seen: set[tuple[str, str, str, str]] = set()
    for place in places:
        promoter = promoter_needs(place)
        if place.registry.same_as(source):
            promoter += [
                Need(EXPERIMENT, name, "EDIT", "logging the gate report beside the model")
                for name in run_experiments(place)
            ]
        else:
            promoter += copier_needs(place)
        for role, needs in (("promoter", promoter), ("auditor", auditor_needs(place))):
            for need in needs:
                key = (role, place.registry.uri, need.kind, need.resource)
                if key not in seen:
                    seen.add(key)
                    roles[role].append((place, need))
    return roles
