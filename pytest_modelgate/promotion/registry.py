"""The one object every registry call of a move goes through.

A ``Registry`` is one MLflow registry (its client and tracking URI) and the alias each
environment of the promotion path uses in it. The lease, the ledger, evidence, recovery and
the moves call these methods, never an ``MlflowClient``: what a move reads and writes is listed
here, a permission or a fault has one place to be understood, and an environment that lives in
another registry, under another registered model or alias, is the same code with another
``Registry`` (``promotion.places``).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_modelgate.promotion.auth_api import current_user


class Registry:
    def __init__(self, client: Any, uri: str, aliases: Mapping[str, str] | None = None) -> None:
        self._client = client
        self.uri = uri
        self._aliases = dict(aliases or {})
        self._user: tuple[str | None] | None = None  # looked up once

    # -- who this registry says we are -----------------------------------------------------

    def user(self) -> str | None:
        """The account the tracking server authenticated (``mlflow server --app-name
        basic-auth``), or None where it has no authentication (or is no server)."""
        if self._user is None:
            self._user = (current_user(self.uri) if self.remote else None,)
        return self._user[0]

    @classmethod
    def at(cls, uri: str, aliases: Mapping[str, str] | None = None) -> Registry:
        """The registry at ``uri``, with the candidate adapter's retries and errors."""
        from pytest_modelgate.candidate.registry import Registry as Candidates

        return cls(Candidates(uri).client, uri, aliases)

    @classmethod
    def of(cls, client: Any, aliases: Mapping[str, str] | None = None) -> Registry:
        """The registry an ``MlflowClient`` talks to (for scripts that hold one already)."""
        return cls(client, str(client.tracking_uri), aliases)

    def __repr__(self) -> str:
        return f"Registry({self.uri!r})"

    @property
    def remote(self) -> bool:
        """A tracking server (over HTTP), rather than a local database or directory."""
        return self.uri.startswith(("http://", "https://"))

    def same_as(self, other: Registry) -> bool:
        return self.uri == other.uri

    # -- aliases ---------------------------------------------------------------------------

    def alias(self, env: str) -> str:
        """The registry alias of ``env`` (its own name unless the path says otherwise)."""
        return self._aliases.get(env, env)

    def pinned(self, name: str, env: str) -> int | None:
        """The version ``env``'s alias pins, or None when it is not set."""
        model = self.registered_model(name)  # a model a first copy has not created yet
        value = None if model is None else (model.aliases or {}).get(self.alias(env))
        return None if value is None else int(value)

    def point(self, name: str, env: str, version: int | None) -> None:
        """Point ``env``'s alias at ``version``, or unset it for None."""
        if version is None:
            self._client.delete_registered_model_alias(name, self.alias(env))
        else:
            self._client.set_registered_model_alias(name, self.alias(env), str(version))

    # -- model versions and their tags -----------------------------------------------------

    def model_version(self, name: str, version: int) -> Any:
        return self._client.get_model_version(name, str(version))

    def version_tags(self, name: str, version: int) -> dict[str, str]:
        return dict(self.model_version(name, version).tags or {})

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._client.set_model_version_tag(name, str(version), key, value)

    def model_version_or_none(self, name: str, version: int) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.model_version(name, version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def versions(self, name: str, filter_string: str = "", **kwargs: Any) -> list[Any]:
        query = f"name = '{_quoted(name)}'" + (f" and {filter_string}" if filter_string else "")
        return list(self._client.search_model_versions(query, **kwargs))

    def create_version(
        self, name: str, source: str, tags: dict[str, str], description: str = ""
    ) -> int:
        """A new version of ``name`` (created first when missing) with ``tags`` written in
        the same transaction; returns its number."""
        from mlflow.exceptions import MlflowException

        try:
            created = self._create_version(name, source, tags)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                self.create_registered_model(name, None, description)
            except MlflowException as again:  # another promoter created it first
                if again.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            created = self._create_version(name, source, tags)
        return int(created.version)

    def _create_version(self, name: str, source: str, tags: dict[str, str]) -> Any:
        # a version without files is ready at once: no waiting (nor its log line)
        return self._client.create_model_version(name, source, tags=tags, await_creation_for=0)

    # -- registered models (the user's, and the leases) -----------------------------------

    def registered_model(self, name: str) -> Any | None:
        """The registered model, or None when there is none of that name."""
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> None:
        self._client.create_registered_model(name, tags, description)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._client.set_registered_model_tag(name, key, value)

    def search_models(self, filter_string: str = "", **kwargs: Any) -> Any:
        return self._client.search_registered_models(filter_string=filter_string or None, **kwargs)

    # -- runs: evidence artifacts and the ledger's events ----------------------------------

    def log_text(self, run_id: str, text: str, artifact: str) -> None:
        self._client.log_text(run_id, text, artifact)

    def run_experiment(self, run_id: str) -> str | None:
        """The name of the experiment a run belongs to (None when it cannot be read)."""
        experiment = self._client.get_experiment(self._client.get_run(run_id).info.experiment_id)
        return None if experiment is None else str(experiment.name)

    def download(self, run_id: str, artifact: str, destination: str) -> str:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in logs
        return str(self._client.download_artifacts(run_id, artifact, destination))

    def experiment_id(self, name: str) -> str | None:
        found = self._client.get_experiment_by_name(name)
        return None if found is None else str(found.experiment_id)

    def create_experiment(self, name: str, tags: dict[str, str]) -> str:
        return str(self._client.create_experiment(name, tags=tags))

    def search_runs(self, experiments: list[str], query: str, **kwargs: Any) -> Any:
        from mlflow.entities import ViewType

        # deleted runs too: a deleted ledger event is a gap that verification must see
        return self._client.search_runs(experiments, query, run_view_type=ViewType.ALL, **kwargs)

    def record_run(
        self, experiment: str, run_name: str, tags: dict[str, str], params: dict[str, str]
    ) -> str:
        """A finished run holding ``params``, logged in one batch (it becomes visible to a
        search on any of them with all of them at once); returns its id."""
        from mlflow.entities import Param

        run = self._client.create_run(experiment, run_name=run_name, tags=tags)
        run_id = str(run.info.run_id)
        self._client.log_batch(run_id, params=[Param(k, v) for k, v in sorted(params.items())])
        self._client.update_run(run_id, status="FINISHED")  # set_terminated prints a URL
        return run_id

    # -- copies of a version into another registered model or registry ---------------------

    def copy_version_here(self, source: Registry, name: str, version: int, target: str,
                          tags: dict[str, str]) -> int:  # fmt: skip
        """A new version of ``target`` here holding ``source``'s ``name`` v``version``:
        ``MlflowClient.copy_model_version`` within one registry (MLflow's way between
        per-environment registered models); across registries, the version's files are
        downloaded and logged to a run here, then registered (open-source MLflow copies only
        within one registry). The copy carries ``tags`` from its creation."""
        if self.registered_model(target) is None:
            from mlflow.exceptions import MlflowException

            try:
                self.create_registered_model(target)
            except MlflowException as exc:  # another promoter created it first
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        if self.same_as(source):
            with contextlib.redirect_stderr(io.StringIO()):  # it prints what it did
                copied = self._client.copy_model_version(f"models:/{name}/{version}", target)
            number = int(copied.version)
            for key in copied.tags or {}:  # the source's evidence is for the source's aliases
                if key.startswith("modelgate.") and key not in tags:
                    self.set_version_tag(target, number, key, "")  # blank: deleting needs MANAGE
            for key, value in tags.items():
                self.set_version_tag(target, number, key, value)
            return number
        return self._upload_copy(source, name, version, target, tags)

    def _upload_copy(
        self, source: Registry, name: str, version: int, target: str, tags: dict[str, str]
    ) -> int:
        from pytest_modelgate.candidate.digest import download_model

        experiment = self._copies_experiment(f"{COPIES}/{target}")
        run = self._client.create_run(experiment, run_name=f"{target}.copy-of-{name}-v{version}",
                                      tags={"modelgate.copy_of": f"{name} v{version}"})  # fmt: skip
        run_id = str(run.info.run_id)
        with tempfile.TemporaryDirectory(prefix="modelgate-copy-") as tmp:
            local = download_model(name, version, Path(tmp) / "model", source.uri)
            self._client.log_artifacts(run_id, str(local), "model")
        self._client.update_run(run_id, status="FINISHED")
        created = self._client.create_model_version(
            target, f"{self.run_artifact_uri(run_id)}/model", run_id, tags=tags
        )
        return int(created.version)

    def _copies_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.experiment_id(name)
        if found is not None:
            return found
        try:
            return self.create_experiment(name, {"modelgate": "copies"})
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = self.experiment_id(name)
            assert found is not None
            return found

    def run_artifact_uri(self, run_id: str) -> str:
        return str(self._client.get_run(run_id).info.artifact_uri)

    def model_files_digest(self, name: str, version: int) -> str:
        """The digest of the version's files as this registry serves them (candidate.digest)."""
        from pytest_modelgate.candidate.digest import version_digest

        return version_digest(name, version, self.uri)


# the experiments (one per registered model) whose runs hold the files of versions copied in
# from another registry
COPIES = "modelgate-copies"


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")


def user_models(registry: Registry, internal: Iterable[str] = ()) -> list[str]:
    """Names of the registry's registered models, sorted (``internal`` left out)."""
    skip = set(internal)
    return sorted(m.name for m in registry.search_models() if m.name not in skip)
