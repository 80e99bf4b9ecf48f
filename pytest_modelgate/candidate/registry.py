"""The registry adapter: MLflow's MlflowClient behind a small surface with clear errors.

Resolves a model name plus a version or an alias to one exact version, reads its info and
signature without loading it, and loads it when asked. mlflow is imported here only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import RegistryError
from pytest_modelgate.quiet import quiet_logger

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow import MlflowClient

    from pytest_modelgate.candidate.adapters import Adapted


@dataclass(frozen=True)
class ModelRef:
    """One exact registered version, described without loading the model."""

    name: str
    version: int
    run_id: str | None
    source: str
    aliases: tuple[str, ...]
    flavors: tuple[str, ...]
    signature_inputs: tuple[tuple[str, str], ...] | None
    signature_outputs: str | None
    tags: dict[str, str] = field(default_factory=dict)
    # sha256 of the version's files as the gate run downloaded them (candidate.digest)
    digest: str | None = None
    # the signature's output types (``double``, ``long``, ``string``, ``float64``, ...)
    signature_output_types: tuple[str, ...] | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def input_names(self) -> tuple[str, ...] | None:
        if self.signature_inputs is None:
            return None
        return tuple(name for name, _ in self.signature_inputs)

    def describe(self) -> str:
        return f"{self.name} v{self.version}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRef:
        """A version as ``as_dict`` described it (its signature and tags are not kept)."""
        return cls(
            name=data["name"],
            version=int(data["version"]),
            run_id=data.get("run_id"),
            source=data.get("source") or "",
            aliases=tuple(data.get("aliases") or ()),
            flavors=tuple(data.get("flavors") or ()),
            signature_inputs=None,
            signature_outputs=None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "source": self.source,
            "aliases": list(self.aliases),
            "flavors": list(self.flavors),
            **({"digest": self.digest} if self.digest else {}),
        }


# the registered models that hold promotion leases (promotion.lease): not models of anyone's
LEASE_PREFIX = "modelgate.lease."

# MLflow's own HTTP client retries connection errors, timeouts and 408/429/5xx answers with
# exponential backoff; its defaults (7 retries, 120 s timeout) make a dead server fail only
# after minutes. These bound one call to about 20 s x 4 + 12 s of backoff; a user's own
# settings of the same variables win.
HTTP_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


def configure_retries() -> None:
    for name, value in HTTP_RETRIES.items():
        os.environ.setdefault(name, value)


def longest_call_s() -> float:
    """An upper bound of how long one registry call can take with the retries in force: the
    lease protocol waits this long before it treats a silent holder's writes as over."""
    configure_retries()
    retries = int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    timeout = float(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    factor = float(os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
    backoff = sum(min(120.0, factor * (1 << (n - 1))) + 1.0 for n in range(2, retries + 1))
    return timeout * (retries + 1) + backoff


class Registry:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: MlflowClient | None = None
        configure_retries()

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            import warnings

            with warnings.catch_warnings():
                # sqlalchemy warns about mlflow's own store internals on import; not the user's
                warnings.filterwarnings("ignore", message=".*noload.*", module="mlflow")
                import mlflow.store.tracking.sqlalchemy_store
            import mlflow

            # model URIs (models:/name/N) resolve through the global URIs, so set them too
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            self._client = mlflow.MlflowClient(self.tracking_uri, self.tracking_uri)
        return self._client

    def resolve(self, name: str, version: int | None = None, alias: str | None = None) -> ModelRef:
        """The exact version named by number or alias (else the newest, for scaffolding a
        suite); RegistryError if it is not there."""
        with self.translate(f"model {name!r}"), quiet_logger("mlflow"):
            self._require_model(name)
            if version is not None:
                mv = self._version(name, version)
            elif alias is not None:
                mv = self._by_alias(name, alias)
                if mv is None:
                    raise RegistryError(
                        f"model {name!r} has no alias {alias!r} in {self.redacted_uri}; "
                        f"aliases set: {self._alias_list(name)}"
                    )
            else:
                mv = self._latest(name)
            return self._describe(mv)

    def by_alias(self, name: str, alias: str) -> ModelRef | None:
        """The version an alias points at, or None when the alias is not set."""
        with self.translate(f"model {name!r}"), quiet_logger("mlflow"):
            mv = self._by_alias(name, alias)
            return None if mv is None else self._describe(mv)

    def download(self, ref: ModelRef, destination: Path) -> Path:
        """The version's MLflow model directory, downloaded through the registry."""
        from pytest_modelgate.candidate.digest import download_model

        with self.translate(ref.describe()), quiet_logger("mlflow"):
            _ = self.client  # sets the global URIs that models:/ resolves through
            return download_model(ref.name, ref.version, destination, self.tracking_uri)

    def load(self, ref: ModelRef, local: Path | None = None) -> Adapted:
        """Load the model once through its flavour's adapter (``candidate.adapters``): the
        native estimator where there is one, else an adapter or the pyfunc. ``local`` is a copy
        already downloaded (the files the gate run digested)."""
        from pytest_modelgate.candidate.adapters import load_model

        uri = str(local) if local is not None else ref.uri
        with self.translate(ref.describe()), quiet_logger("mlflow"):
            _ = self.client  # sets the global URIs that models:/ resolves through
            return load_model(uri, ref.flavors)

    def load_pyfunc(self, ref: ModelRef, local: Path | None = None) -> Any:
        """The generic MLflow pyfunc (it enforces the signature): how a server loads the model."""
        uri = str(local) if local is not None else ref.uri
        with self.translate(ref.describe()), quiet_logger("mlflow"):
            _ = self.client
            import mlflow.pyfunc

            return mlflow.pyfunc.load_model(uri)

    def log_artifact(self, ref: ModelRef, path: Path, artifact_path: str) -> str:
        """Attach a file to the run that produced ``ref``; returns its runs:/ URI."""
        if ref.run_id is None:
            raise RegistryError(f"{ref.describe()} has no source run to log {path.name} to")
        with self.translate(f"the run of {ref.describe()}"), quiet_logger("mlflow"):
            self.client.log_artifact(ref.run_id, str(path), artifact_path)
        return f"runs:/{ref.run_id}/{artifact_path}/{path.name}"

    @property
    def redacted_uri(self) -> str:
        """The tracking URI without credentials, for messages and reports."""
        return redacted(self.tracking_uri)

    # -- internals -------------------------------------------------------------------------

    def _require_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise RegistryError(
                    f"no registered model {name!r} in {self.redacted_uri}{self._suggest(name)}"
                ) from None
            raise

    def _suggest(self, name: str) -> str:
        import difflib

        names = [
            m.name
            for m in self.client.search_registered_models(max_results=1000)
            if not m.name.startswith(LEASE_PREFIX)
        ]
        close = difflib.get_close_matches(name, names, n=3)
        if close:
            return f"; did you mean {', '.join(repr(c) for c in close)}?"
        return f"; registered models: {', '.join(names) or 'none'}"

    def _version(self, name: str, version: int) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                versions = sorted(
                    int(v.version) for v in self.client.search_model_versions(f"name='{name}'")
                )
                raise RegistryError(
                    f"model {name!r} has no version {version} in {self.redacted_uri}; "
                    f"versions: {', '.join(map(str, versions)) or 'none'}"
                ) from None
            raise

    def _latest(self, name: str) -> Any:
        versions = self.client.search_model_versions(f"name='{name}'")
        if not versions:
            raise RegistryError(f"model {name!r} has no versions in {self.redacted_uri}")
        return max(versions, key=lambda v: int(v.version))

    def _by_alias(self, name: str, alias: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def _alias_list(self, name: str) -> str:
        aliases = self.client.get_registered_model(name).aliases or {}
        return ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "none"

    def _describe(self, mv: Any) -> ModelRef:
        import mlflow.models

        ref_uri = f"models:/{mv.name}/{mv.version}"
        info = mlflow.models.get_model_info(ref_uri)
        inputs = outputs = output_types = None
        if info.signature is not None:
            inputs = tuple(
                (str(col.name), str(getattr(col.type, "name", col.type)))
                for col in info.signature.inputs.inputs
            )
            outputs = str(info.signature.outputs) if info.signature.outputs else None
            if info.signature.outputs:
                output_types = tuple(
                    str(getattr(col.type, "name", col.type))
                    for col in info.signature.outputs.inputs
                )
        return ModelRef(
            name=mv.name,
            version=int(mv.version),
            run_id=mv.run_id,
            source=mv.source,
            aliases=tuple(mv.aliases or ()),
            flavors=tuple(info.flavors),
            signature_inputs=inputs,
            signature_outputs=outputs,
            tags=dict(mv.tags or {}),
            signature_output_types=output_types,
        )

    @contextlib.contextmanager
    def translate(self, what: str) -> Iterator[None]:
        """Turn connection and server failures into one clear RegistryError."""
        try:
            yield
        except RegistryError:
            raise
        except Exception as exc:
            from mlflow.exceptions import MlflowException

            if isinstance(exc, MlflowException | OSError) or _is_connection_error(exc):
                raise RegistryError(
                    f"registry {self.redacted_uri} could not answer for {what}: {failure(exc)}"
                ) from None
            raise


# what an unreachable or failing server looks like in the text of MLflow's exceptions
_FAILURES = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("RemoteDisconnected", "the server closed the connection"),
    ("Connection aborted", "the server closed the connection"),
    ("Connection reset", "the server closed the connection"),
    ("too many 5", "the server kept answering with errors"),
    ("too many 429", "the server kept refusing (rate limited)"),
)


def redacted(uri: str) -> str:
    """A tracking URI without its credentials."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password or parts.username:
        netloc = f"***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def failure(exc: BaseException) -> str:
    """One short line saying why a registry call failed (never a traceback or a pool dump)."""
    text = str(exc).strip()
    for needle, said in _FAILURES:
        if needle in text:
            return f"{said} (after retries)" if "Max retries" in text else said
    first = text.splitlines()[0] if text else repr(exc)
    return first if len(first) <= 300 else first[:300] + "..."


TRANSIENT_CODES = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})


def is_transient(exc: BaseException) -> bool:
    """A failure that may pass if tried again (the server unreachable, slow, restarting or
    erroring), as opposed to a refusal that will answer the same (no such model, bad value)."""
    from mlflow.exceptions import MlflowException

    if _is_connection_error(exc) or isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, MlflowException):
        text = str(exc)
        return exc.error_code in TRANSIENT_CODES or "database is locked" in text
    return False


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - mlflow depends on requests
        return False
    return isinstance(exc, requests.exceptions.RequestException)
