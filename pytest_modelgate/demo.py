"""The main job end to end on the embedded registry: train and register the reference
models, then gate each new version with its suite in ``gates/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .cli import default_tracking_uri
from .settings import DEFAULT_REGISTRY_DIR


def run_demo(root: Path) -> int:
    from .reference.models import REFERENCE_MODELS, train_reference

    root = root.resolve()
    uri = default_tracking_uri(root)
    artifacts = root / DEFAULT_REGISTRY_DIR / "artifacts"
    failures = 0
    for name in REFERENCE_MODELS:
        registered = train_reference(name, tracking_uri=uri, artifact_root=artifacts)
        print(f"\n== registered {name} v{registered.version}; gating it", flush=True)
        report = root / DEFAULT_REGISTRY_DIR / "reports" / f"{name}-v{registered.version}.json"
        command = [
            sys.executable, "-m", "pytest", "gates/", "-p", "no:cacheprovider",
            "--model-name", name, "--model-version", str(registered.version),
            "--tracking-uri", uri, "--gate-report", str(report),
        ]  # fmt: skip
        print("$ " + " ".join(command[2:]), flush=True)
        failures += subprocess.call(command, cwd=root) != 0
    print(f"\ndemo: {len(REFERENCE_MODELS) - failures} of {len(REFERENCE_MODELS)} models passed")
    return 1 if failures else 0
