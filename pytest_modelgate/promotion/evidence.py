"""Promotion evidence as it is stored in the registry, and how it is checked.

Evidence lives on the model version, one set of tags per environment
(``modelgate.<env>.<field>``), plus the gate report logged as an artifact of the version's run.
It names the gate report (sha256), the data, the code commit and the digest of the model's own
files as gated (``model_digest``). The history of moves is the ledger (``promotion.ledger``). The
service, the CLI and promotion all read evidence through this module, which imports nothing
heavy at module level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pytest_modelgate.errors import EvidenceError
from pytest_modelgate.jsonio import sha256
from pytest_modelgate.promotion.registry import Registry

PASSED = "passed"
# a version copied in from another registered model or registry names its source: the gate
# report it is promoted on names that source, not the copy (``promotion.places``)
SOURCE = "modelgate.source"  # "<registry>#<name>/<version>", what a copy is found by
SOURCE_REGISTRY = "modelgate.source.registry"
SOURCE_NAME = "modelgate.source.name"
SOURCE_VERSION = "modelgate.source.version"
SOURCE_DIGEST = "modelgate.source.digest"
FIELDS = (
    "verdict",
    "report_sha256",
    "report_artifact",
    "data_sha256",
    "model_digest",
    "code_commit",
    "plugin_version",
    "promoted_by",
    "os_user",
    "ci_run",
    "gated_at",
    "promoted_at",
    "previous_version",
    "bento",
    "drift_reference",
    "override_reason",
    "source",
)


def tag(env: str, field: str) -> str:
    return f"modelgate.{env}.{field}"


@dataclass(frozen=True)
class Evidence:
    """What a version carries for one environment."""

    name: str
    version: int
    env: str
    fields: dict[str, str]

    @property
    def report_sha256(self) -> str:
        return self.fields.get("report_sha256", "")

    @property
    def model_digest(self) -> str:
        return self.fields.get("model_digest", "")

    @property
    def gated_at(self) -> str:
        return self.fields.get("gated_at", "")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "env": self.env, **self.fields}


def read_evidence(mv: Any, env: str) -> Evidence:
    """The evidence tags of a model version (``MlflowClient.get_model_version``) for ``env``."""
    tags = dict(mv.tags or {})
    fields = {f: tags[tag(env, f)] for f in FIELDS if tags.get(tag(env, f))}  # blank: undone
    return Evidence(mv.name, int(mv.version), env, fields)


def verify_evidence(registry: Registry, name: str, version: int, env: str) -> Evidence:
    """Passing evidence of ``name`` v``version`` for ``env``, checked against the logged report:
    its sha256 must match the tag, and the report must name this version and be promotable."""
    mv = registry.model_version(name, version)
    evidence = read_evidence(mv, env)
    where = f"{name} v{version}"
    if evidence.fields.get("verdict") != PASSED:
        raise EvidenceError(f"{where} carries no passing gate evidence for {env}")
    artifact = evidence.fields.get("report_artifact")
    if not artifact or not evidence.report_sha256 or not mv.run_id:
        raise EvidenceError(f"{where}: the {env} evidence names no gate report artifact")
    data = _download(registry, mv.run_id, artifact)
    if sha256(data) != evidence.report_sha256:
        raise EvidenceError(
            f"{where}: gate report {artifact} does not match its recorded sha256 "
            f"{evidence.report_sha256[:12]}"
        )
    report = json.loads(data)
    model = report.get("model", {})
    if report.get("promotable") is not True or (
        model.get("name"),
        model.get("version"),
    ) != gated_identity(mv):
        raise EvidenceError(f"{where}: gate report {artifact} is not a passing report for it")
    return evidence


def gated_identity(mv: Any) -> tuple[str, int]:
    """The (name, version) a gate report of this version names: its source for a copy."""
    tags = dict(mv.tags or {})
    if tags.get(SOURCE_NAME) and (tags.get(SOURCE_VERSION) or "").isdigit():
        return tags[SOURCE_NAME], int(tags[SOURCE_VERSION])
    return str(mv.name), int(mv.version)


def report_bytes(registry: Registry, run_id: str, artifact: str) -> bytes:
    """The gate report logged to a run, as logged."""
    return _download(registry, run_id, artifact)


def _download(registry: Registry, run_id: str, artifact: str) -> bytes:
    import os
    import tempfile
    from pathlib import Path

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in logs
    with tempfile.TemporaryDirectory(prefix="modelgate-evidence-") as tmp:
        try:
            local = registry.download(run_id, artifact, tmp)
        except Exception as exc:
            from pytest_modelgate.candidate.registry import is_transient

            if is_transient(exc):  # the registry did not answer: that says nothing of the report
                raise
            raise EvidenceError(
                f"gate report {artifact} of run {run_id} is unreadable: {exc}"
            ) from None
        return Path(local).read_bytes()
