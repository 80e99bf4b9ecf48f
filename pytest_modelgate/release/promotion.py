"""Promote one gated version to an environment, or roll an environment back.

A promotion is, in this order: check the gate report and (for production) the staging
evidence; compare the alias with the version it pinned when the run began; build the bento;
log the report and write the evidence tags; compare again and move the alias; record the move
in the alias history. A failure at any step undoes the steps before it, so an alias never points
at a version whose bento or evidence is missing. Registry aliases only, never stages.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_modelgate.errors import EvidenceError, PromotionError
from pytest_modelgate.jsonio import canonical_bytes, sha256, utc_now
from pytest_modelgate.release.evidence import (
    ENVIRONMENTS,
    PASSED,
    append_history,
    tag,
    verify_evidence,
)
from pytest_modelgate.version import __version__

STAGING, PRODUCTION = ENVIRONMENTS
ARTIFACT_DIR = "modelgate"


@dataclass(frozen=True)
class PromotionRequest:
    """What is to be promoted where, and the alias state the decision was made on."""

    name: str
    version: int
    run_id: str
    env: str
    report: dict[str, Any]
    expected: int | None  # the version the alias pinned when the gate run began
    bentofile: Path | None  # the user's own, or None for the package's generated one
    tracking_uri: str
    reason: str | None = None  # an explicit production override, recorded with the evidence
    code_root: Path = field(default_factory=Path.cwd)
    # the feature profile the served bento measures drift against (pytest_modelgate.stats.drift)
    drift_reference: dict[str, Any] | None = None

    def describe(self) -> str:
        return f"{self.name} v{self.version} to {self.env}"


@dataclass(frozen=True)
class PromotionResult:
    request: PromotionRequest
    previous: int | None
    bento: str
    report_sha256: str
    report_artifact: str


Build = Callable[[PromotionRequest], str]


def alias_version(client: Any, name: str, alias: str) -> int | None:
    aliases = client.get_registered_model(name).aliases or {}
    value = aliases.get(alias)
    return None if value is None else int(value)


def version_text(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"


def promote(client: Any, request: PromotionRequest, build: Build | None = None) -> PromotionResult:
    """Run every step or none; raise PromotionError saying which step refused or failed."""
    check_report(request)
    check_environment(client, request)
    compare_alias(client, request)
    if request.drift_reference is None:
        from pytest_modelgate.release.drift_reference import suite_reference

        reference = suite_reference(request.report.get("data") or {})
        request = dataclasses.replace(request, drift_reference=reference)
    try:
        bento = (build or build_bento)(request)
    except Exception as exc:
        raise PromotionError(f"bento build failed, nothing was changed: {exc}") from exc
    undo = TagUndo(client, request.name, request.version)
    try:
        result = write_evidence(client, request, bento, undo)
        compare_alias(client, request)
        move_alias(client, request, result)
    except Exception as exc:
        undo.run()
        if isinstance(exc, PromotionError):
            raise
        raise PromotionError(
            f"promoting {request.describe()} failed, its evidence was removed: {exc}"
        ) from exc
    return result


def check_report(request: PromotionRequest) -> None:
    report = request.report
    model = report.get("model") or {}
    if (model.get("name"), model.get("version")) != (request.name, request.version):
        raise PromotionError(
            f"the gate report is for {model.get('name')} v{model.get('version')}, "
            f"not {request.name} v{request.version}"
        )
    if report.get("promotable") is not True:
        reasons = "; ".join(report.get("blocking_reasons") or ["it is not marked promotable"])
        raise PromotionError(f"the gate report does not allow promotion: {reasons}")


def check_environment(client: Any, request: PromotionRequest) -> None:
    """Production takes only a version that holds staging with passing evidence, unless an
    override gives a reason (which is recorded)."""
    if request.env not in ENVIRONMENTS:
        raise PromotionError(f"unknown environment {request.env!r}: {', '.join(ENVIRONMENTS)}")
    if request.env != PRODUCTION:
        return
    problem = staging_problem(client, request.name, request.version)
    if problem is not None and not (request.reason or "").strip():
        raise PromotionError(
            f"{request.name} v{request.version} cannot go to production: {problem}. "
            "Promote it to staging first, or override with --promote-reason 'why'"
        )


def staging_problem(client: Any, name: str, version: int) -> str | None:
    """Why ``version`` does not qualify for production, or None when it does."""
    pinned = alias_version(client, name, STAGING)
    if pinned != version:
        return f"staging pins {version_text(pinned)}, not v{version}"
    try:
        verify_evidence(client, name, version, STAGING)
    except EvidenceError as exc:
        return str(exc)
    return None


def compare_alias(client: Any, request: PromotionRequest) -> None:
    """The compare of compare-and-set: the alias still pins what it pinned at the start."""
    current = alias_version(client, request.name, request.env)
    if current != request.expected:
        raise PromotionError(
            f"alias {request.env!r} of {request.name} moved since the run began "
            f"({version_text(request.expected)} then, {version_text(current)} now); "
            "nothing was changed: gate again against the current state"
        )


def build_bento(request: PromotionRequest) -> str:
    from pytest_modelgate.release.bento import BentoTarget, suite_input_schema
    from pytest_modelgate.release.bento import build_bento as build

    target = BentoTarget(request.name, request.version, request.run_id)
    schema = suite_input_schema(request.report.get("data") or {})
    return build(target, request.tracking_uri, request.bentofile, schema, request.drift_reference)


class TagUndo:
    """Model version tags set so far, with their old values, to put back on failure."""

    def __init__(self, client: Any, name: str, version: int) -> None:
        self.client, self.name, self.version = client, name, str(version)
        self.old: dict[str, str | None] = {}

    def set(self, key: str, value: str) -> None:
        if key not in self.old:
            tags = self.client.get_model_version(self.name, self.version).tags or {}
            self.old[key] = tags.get(key)
        self.client.set_model_version_tag(self.name, self.version, key, value)

    def run(self) -> None:
        for key, value in self.old.items():
            try:
                if value is None:
                    self.client.delete_model_version_tag(self.name, self.version, key)
                else:
                    self.client.set_model_version_tag(self.name, self.version, key, value)
            except Exception:  # best effort: the error that started the undo is reported
                continue


def write_evidence(
    client: Any, request: PromotionRequest, bento: str, undo: TagUndo
) -> PromotionResult:
    """Log the gate report to the version's run and tag the version with its evidence."""
    data = canonical_bytes(request.report)
    digest = sha256(data)
    stamp = utc_now()
    artifact = f"{ARTIFACT_DIR}/gate-report-{request.env}-{stamp.replace(':', '')}.json"
    client.log_text(request.run_id, data.decode(), artifact)
    drift = ""
    if request.drift_reference is not None:  # beside the report: what /drift compares with
        drift = artifact.replace("gate-report-", "drift-reference-")
        client.log_text(request.run_id, json.dumps(request.drift_reference, indent=1), drift)
    previous = alias_version(client, request.name, request.env)
    fields = {
        "report_sha256": digest,
        "report_artifact": artifact,
        "data_sha256": data_hashes(request.report),
        "code_commit": code_commit(request.code_root),
        "plugin_version": __version__,
        "promoted_by": promoted_by(),
        "ci_run": ci_run() or "",
        "gated_at": str(request.report.get("generated_at") or stamp),
        "promoted_at": stamp,
        "bento": bento,
        "drift_reference": drift,
        "override_reason": (request.reason or "").strip(),
    }
    if previous != request.version:
        fields["previous_version"] = "" if previous is None else str(previous)
    for key, value in fields.items():
        undo.set(tag(request.env, key), value)
    # the verdict goes last: a reader that sees it sees every other field
    undo.set(tag(request.env, "verdict"), PASSED)
    return PromotionResult(request, previous, bento, digest, artifact)


def move_alias(client: Any, request: PromotionRequest, result: PromotionResult) -> None:
    """Set the alias, check it reads back, and record the move; on failure put it back."""
    name, env = request.name, request.env
    client.set_registered_model_alias(name, env, str(request.version))
    try:
        if alias_version(client, name, env) != request.version:
            raise PromotionError(f"alias {env!r} of {name} was moved by someone else meanwhile")
        event = {
            "action": "promote",
            "version": request.version,
            "previous": result.previous,
            "at": utc_now(),
            "by": promoted_by(),
            "ci_run": ci_run(),
            "report_sha256": result.report_sha256,
            "reason": request.reason,
        }
        append_history(client, name, env, event)
    except Exception:
        restore_alias(client, name, env, request.expected)
        raise


def restore_alias(client: Any, name: str, env: str, version: int | None) -> None:
    if version is None:
        client.delete_registered_model_alias(name, env)
    else:
        client.set_registered_model_alias(name, env, str(version))


def rollback(client: Any, name: str, env: str, reason: str | None = None) -> tuple[int, int]:
    """Move ``env`` back to the version it pinned before the current one; (from, to)."""
    current = alias_version(client, name, env)
    if current is None:
        raise PromotionError(f"alias {env!r} of {name} is not set: nothing to roll back")
    tags = client.get_model_version(name, str(current)).tags or {}
    previous = tags.get(tag(env, "previous_version"))
    if not previous:
        raise PromotionError(
            f"{name} v{current} was the first version {env} pinned: nothing to roll back to"
        )
    target = int(previous)
    try:
        verify_evidence(client, name, target, env)
    except EvidenceError as exc:
        raise PromotionError(f"cannot roll {env} back to v{target}: {exc}") from exc
    if alias_version(client, name, env) != current:
        raise PromotionError(f"alias {env!r} of {name} moved meanwhile; nothing was changed")
    client.set_registered_model_alias(name, env, str(target))
    event = {
        "action": "rollback",
        "version": target,
        "previous": current,
        "at": utc_now(),
        "by": promoted_by(),
        "ci_run": ci_run(),
        "reason": reason,
    }
    try:
        append_history(client, name, env, event)
    except Exception:
        restore_alias(client, name, env, current)
        raise
    return current, target


# -- provenance ------------------------------------------------------------------------------


def data_hashes(report: dict[str, Any]) -> str:
    hashes = sorted({str(d.get("sha256")) for d in (report.get("data") or {}).values()})
    return ",".join(h for h in hashes if h and h != "None")


def code_commit(root: Path) -> str:
    """The git commit of the code that ran the gates ('+dirty' with local changes), or ''."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def promoted_by() -> str:
    who = os.environ.get("MODELGATE_PROMOTED_BY") or os.environ.get("GITHUB_ACTOR")
    if not who:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
    return f"{who}@{socket.gethostname()}"


def ci_run() -> str | None:
    run = os.environ.get("GITHUB_RUN_ID")
    if not run:
        return os.environ.get("CI_PIPELINE_URL") or os.environ.get("BUILD_URL") or None
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo else run


def done_lines(result: PromotionResult) -> list[str]:
    request = result.request
    lines = [
        f"promoted {request.name} v{request.version} to {request.env} "
        f"(alias {request.env!r} was {version_text(result.previous)})",
        f"  bento {result.bento}",
        f"  evidence sha256 {result.report_sha256} in {result.report_artifact}",
    ]
    if request.reason:
        lines.append(f"  override reason: {request.reason}")
    return lines
