"""Where each environment of the promotion path lives, and the copy of a gated version there.

An environment lives in a registry (the candidate's, or the step's ``tracking_uri``), in a
registered model (the candidate's, or the step's ``model``), under an alias. A gated version
enters an environment of another registered model or registry as a copy: a version there
that names its source in its tags, whose files have the gated digest. The copy is found again
by its source, so each environment of one registry and model shares one copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pytest_modelgate.candidate.registry import redacted
from pytest_modelgate.errors import PromotionError
from pytest_modelgate.promotion.evidence import (
    SOURCE,
    SOURCE_DIGEST,
    SOURCE_NAME,
    SOURCE_REGISTRY,
    SOURCE_VERSION,
)
from pytest_modelgate.promotion.path import PromotionPath
from pytest_modelgate.promotion.registry import Registry


@dataclass(frozen=True)
class Place:
    """One environment: its registry, the registered model its alias is on, the environment."""

    registry: Registry
    name: str
    env: str

    def describe(self) -> str:
        return f"{self.name} {self.env}"


class Places:
    """The environments of a path for one candidate, each registry opened once."""

    def __init__(self, path: PromotionPath, source: Registry, name: str) -> None:
        self.path, self.source, self.name = path, source, name
        self._registries = {source.uri: source}

    @classmethod
    def of_candidate(cls, path: PromotionPath, client: object, uri: str, name: str) -> Places:
        return cls(path, Registry(client, uri, path.aliases), name)

    def registry(self, uri: str) -> Registry:
        if uri not in self._registries:
            self._registries[uri] = Registry.at(uri, self.path.aliases)
        return self._registries[uri]

    def of(self, env: str) -> Place:
        step = self.path.step(env)
        registry = self.registry(step.registry_uri()) if step.tracking_uri else self.source
        return Place(registry, step.model or self.name, step.env)

    def __iter__(self) -> Iterator[Place]:
        return (self.of(env) for env in self.path.envs)

    def is_source(self, place: Place) -> bool:
        return place.registry.same_as(self.source) and place.name == self.name

    def source_key(self, version: int) -> str:
        return f"{redacted(self.source.uri)}#{self.name}/{version}"

    def counterpart(self, place: Place, version: int) -> int | None:
        """The version of ``place``'s model that holds the candidate's ``version``: itself in
        the candidate's own model, else its copy there (the first, if a race made two)."""
        if self.is_source(place):
            return version
        if place.registry.registered_model(place.name) is None:
            return None
        key = self.source_key(version).replace("'", "\\'")
        found = place.registry.versions(place.name, f"tags.`{SOURCE}` = '{key}'")
        return min((int(v.version) for v in found), default=None)

    def copy_into(self, place: Place, version: int, digest: str) -> tuple[int, bool]:
        """(the copy's version, whether it was made now) of the candidate's ``version`` in
        ``place``, its files checked against the gated ``digest``."""
        found = self.counterpart(place, version)
        if found is not None:
            return found, False
        tags = {
            SOURCE: self.source_key(version),
            SOURCE_REGISTRY: redacted(self.source.uri),
            SOURCE_NAME: self.name,
            SOURCE_VERSION: str(version),
            SOURCE_DIGEST: digest,
        }
        number = place.registry.copy_version_here(self.source, self.name, version, place.name, tags)
        copied = place.registry.model_files_digest(place.name, number)
        if copied != digest:  # never found again as the candidate's copy
            place.registry.set_version_tag(place.name, number, SOURCE, "")
            raise PromotionError(
                f"the copy of {self.name} v{version} in {place.name} v{number} "
                f"({redacted(place.registry.uri)}) has files with digest {copied[:12]}, not the "
                f"gated {digest[:12]}: nothing was moved"
            )
        return self.counterpart(place, version) or number, True
