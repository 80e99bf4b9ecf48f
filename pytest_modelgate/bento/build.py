"""Build the bento of one exact registry version.

The model is imported into the BentoML store (labelled with its registry name, version and
run), then the bento is built from the bentofile ``bento.bentofile`` plans (the package's
own service, or the user's bentofile honoured) with the model tag baked in as a bento
argument. Both steps run in a child process
(``python -m pytest_modelgate.bento.build``), so BentoML's start-up, logging and store location
(``BENTOML_HOME``) never leak into the gate run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_modelgate.errors import BentoError

BUILD_TIMEOUT_S = 300.0
BENTO_PREFIX = "modelgate-"
ARG_MODEL_TAG = "model_tag"
ARG_INPUT_SCHEMA = "input_schema"
LABEL_NAME = "registry-name"
LABEL_VERSION = "registry-version"
LABEL_RUN = "registry-run"
META_DRIFT = "drift_reference"  # JSON of the reference profile (pytest_modelgate.stats.drift)
META_DIGEST = "model_digest"  # the digest of the model's files as gated (candidate.digest)
MLFLOW_DIR = "mlflow_model"  # where bentoml.mlflow keeps the MLflow model inside a store model


@dataclass(frozen=True)
class BentoTarget:
    """One registry version and the BentoML tags it is stored and built under."""

    name: str
    version: int
    run_id: str

    @property
    def store_name(self) -> str:
        # BentoML names are lowercase letters, digits, '-', '_' and '.'
        return re.sub(r"[^a-z0-9._-]+", "-", self.name.lower()).strip("-._") or "model"

    @property
    def tag_version(self) -> str:
        """Version number plus the run, so two registries' v1 never share a tag."""
        return f"v{self.version}-{self.run_id[:12]}"

    @property
    def model_tag(self) -> str:
        return f"{self.store_name}:{self.tag_version}"

    @property
    def bento_tag(self) -> str:
        return f"{BENTO_PREFIX}{self.store_name}:{self.tag_version}"

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_NAME: self.name, LABEL_VERSION: str(self.version), LABEL_RUN: self.run_id}


def child_env(tracking_uri: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MODELGATE_ENV", None)  # building never serves
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    return env


def build_bento(
    target: BentoTarget,
    tracking_uri: str,
    bentofile: Path | None,
    input_schema: str | None = None,
    drift_reference: dict[str, Any] | None = None,
    model_digest: str | None = None,
) -> str:
    """Import the model and build its bento in a child process; return the bento tag.
    ``bentofile`` is the user's own (honoured), or None for the package's generated one;
    ``input_schema`` (an import path) is the pandera schema the service validates rows with;
    ``drift_reference`` the feature profile its drift is measured against; ``model_digest``
    the digest of the model's files as gated, which the imported copy must match (without one,
    outside a gate run, the bento records the digest of the files it imported)."""
    if bentofile is not None and not bentofile.is_file():
        raise BentoError(
            f"no bentofile at {bentofile} (--bentofile, or leave it out to use the package's own)"
        )
    with tempfile.TemporaryDirectory(prefix="modelgate-bento-") as tmp:
        extra = ["--model-digest", model_digest] if model_digest else []
        if drift_reference is not None:
            path = Path(tmp) / "drift-reference.json"
            path.write_text(json.dumps(drift_reference), encoding="utf-8")
            extra += ["--drift-reference", str(path)]
        return _build(target, tracking_uri, bentofile, input_schema, extra)


def _build(
    target: BentoTarget,
    tracking_uri: str,
    bentofile: Path | None,
    input_schema: str | None,
    extra: list[str],
) -> str:
    command = [
        sys.executable, "-m", "pytest_modelgate.bento.build", "--name", target.name,
        "--version", str(target.version), "--run-id", target.run_id,
    ]  # fmt: skip
    if bentofile is not None:
        command += ["--bentofile", str(bentofile)]
    if input_schema:
        command += ["--input-schema", input_schema]
    command += extra
    try:
        done = subprocess.run(
            command,
            env=child_env(tracking_uri),
            cwd=bentofile.parent if bentofile is not None else None,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BentoError(f"building {target.bento_tag} took over {BUILD_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BentoError(f"building {target.bento_tag} failed:\n{tail}")
    return str(json.loads(done.stdout.strip().splitlines()[-1])["bento"])


def suite_input_schema(suite_paths: Iterable[str | Path]) -> str | None:
    """The pandera schema the run's suite checked, as the service will load it: the import
    path of ``gates.schema.schema``, or an inline ``gates.schema.columns`` declaration as
    pandera YAML; None when no suite declares one."""
    import yaml

    from pytest_modelgate.candidate.input_schema import section_reference

    for suite in suite_paths:
        try:
            document = yaml.safe_load(Path(suite).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        section = ((document or {}).get("gates") or {}).get("schema") or {}
        if isinstance(section, dict) and (reference := section_reference(section)):
            return reference
    return None


# -- the child process ----------------------------------------------------------------------


def import_model(
    target: BentoTarget, digest: str | None, drift_reference: Path | None = None
) -> str:
    """The exact registry version in the BentoML store, holding the files that were gated: an
    existing import is reused only if its labels name the same version and run and its files
    match ``digest``; a fresh download that does not match never enters the store. Without a
    digest (a bento built outside a gate run) the import records the digest of its own files."""
    import bentoml
    from bentoml.exceptions import NotFound

    from pytest_modelgate.candidate.digest import directory_digest, download_model

    try:
        existing = bentoml.models.get(target.model_tag)
    except NotFound:
        existing = None
    if existing is not None:
        if dict(existing.info.labels) != target.labels:
            raise BentoError(
                f"store model {target.model_tag} has labels {dict(existing.info.labels)}, "
                f"expected {target.labels}"
            )
        if digest:
            check_digest(target, Path(existing.path) / MLFLOW_DIR, digest, "the store's copy")
        return target.model_tag
    uri = os.environ["MLFLOW_TRACKING_URI"]
    with tempfile.TemporaryDirectory(prefix="modelgate-import-") as tmp:
        local = download_model(target.name, target.version, Path(tmp), uri)
        if digest:
            check_digest(target, local, digest, "the registry's files now")
        metadata = {META_DIGEST: digest or directory_digest(local)}
        if drift_reference:
            metadata[META_DRIFT] = drift_reference.read_text(encoding="utf-8")
        bentoml.mlflow.import_model(
            target.model_tag, str(local), labels=target.labels, metadata=metadata
        )
    stored = Path(bentoml.models.get(target.model_tag).path) / MLFLOW_DIR
    try:  # what the service will load is the copy in the store
        check_digest(target, stored, metadata[META_DIGEST], "the store's copy")
    except BentoError:
        bentoml.models.delete(target.model_tag)
        raise
    return target.model_tag


def check_digest(target: BentoTarget, directory: Path, digest: str, what: str) -> None:
    from pytest_modelgate.candidate.digest import directory_digest

    found = directory_digest(directory)
    if found != digest:
        raise BentoError(
            f"the model files of {target.name} v{target.version} are not the ones gated: "
            f"{what} have sha256 {found[:16]}, the gate run saw {digest[:16]}; the artifact "
            "changed after gating: gate the version again"
        )


def bento_exists(tag: str) -> bool:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        bentoml.bentos.get(tag)
    except NotFound:
        return False
    return True


def model_requirements(target: BentoTarget) -> list[str]:
    """The requirements MLflow logged with the version, as imported into the store."""
    import bentoml

    path = Path(bentoml.models.get(target.model_tag).path) / "mlflow_model" / "requirements.txt"
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []  # a model logged without requirements: the serving extra alone


def run_bentoml_build(
    target: BentoTarget, bentofile: Path | None, input_schema: str | None
) -> None:
    import bentoml
    from bentoml.exceptions import BentoMLException

    from pytest_modelgate.bento.bentofile import planned_build

    args = {ARG_MODEL_TAG: target.model_tag}
    if input_schema:
        args[ARG_INPUT_SCHEMA] = input_schema
    name, version = target.bento_tag.split(":")
    with planned_build(bentofile, model_requirements(target)) as plan:
        os.chdir(plan.build_ctx)  # BentoML refuses files outside the working directory
        try:
            bentoml.bentos.build_bentofile(
                str(plan.bentofile),
                build_ctx=str(plan.build_ctx),
                name=name,
                version=version,
                labels=target.labels,
                args=args,
            )
        except BentoMLException as exc:
            raise BentoError(f"bentoml build of {target.bento_tag} failed: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_modelgate.bento.build")
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--bentofile", type=Path, default=None)
    parser.add_argument("--input-schema", default=None)
    parser.add_argument("--drift-reference", type=Path, default=None)
    parser.add_argument("--model-digest", default=None)
    args = parser.parse_args(argv)
    import mlflow

    uri = os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    target = BentoTarget(args.name, args.version, args.run_id)
    try:
        import_model(target, args.model_digest, args.drift_reference)
        if not bento_exists(target.bento_tag):
            bentofile = args.bentofile.resolve() if args.bentofile else None
            run_bentoml_build(target, bentofile, args.input_schema)
    except BentoError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps({"bento": target.bento_tag, "model": target.model_tag}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
