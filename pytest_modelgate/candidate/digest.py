"""The digest of a model version's own files: what binds gate evidence to the model's bytes.

The gate run computes it over the MLflow model directory it downloaded through the registry
(and then loads the model from that very copy); the bento build recomputes it over the copy it
imports, and the service over the copy inside the bento. Equal digests mean the same files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# written by MLflow's downloader beside the model (the name and version it was asked for),
# not one of the model's artifacts
IGNORED = frozenset({"registered_model_meta"})
CHUNK = 1 << 20


def directory_digest(root: Path) -> str:
    """sha256 over every file under ``root`` in sorted relative-path order: each file's
    relative path, its size and its bytes, so a renamed, added or changed file changes it."""
    files = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).as_posix() not in IGNORED
    )
    digest = hashlib.sha256()
    for relative in files:
        path = root / relative
        digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def download_model(name: str, version: int, destination: Path, tracking_uri: str) -> Path:
    """Download ``models:/name/version`` through the registry into ``destination``."""
    import mlflow
    import mlflow.artifacts

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in logs
    mlflow.set_registry_uri(tracking_uri)
    destination.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version}",
        dst_path=str(destination),
        tracking_uri=tracking_uri,
    )
    return Path(local)


def version_digest(name: str, version: int, tracking_uri: str) -> str:
    """The digest of a version's files as the registry serves them now."""
    with tempfile.TemporaryDirectory(prefix="modelgate-digest-") as tmp:
        return directory_digest(download_model(name, version, Path(tmp), tracking_uri))
