"""The main job end to end on the embedded registry: train and register the reference
models, gate each new version with its suite in ``gates/`` and promote it to staging when
every gate passed; then serve the staging bento of the served model and ask it one question."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytest_modelgate.settings import DEFAULT_REGISTRY_DIR, default_tracking_uri

SERVED_MODEL = "iris"


def run_demo(root: Path) -> int:
    from pytest_modelgate.reference.models import REFERENCE_MODELS, train_reference

    root = root.resolve()
    uri = default_tracking_uri(root)
    artifacts = root / DEFAULT_REGISTRY_DIR / "artifacts"
    # the demo's bentos stay beside its registry unless a BentoML store is chosen
    os.environ.setdefault("BENTOML_HOME", str(root / DEFAULT_REGISTRY_DIR / "bentoml"))
    failures = 0
    for name in REFERENCE_MODELS:
        registered = train_reference(name, tracking_uri=uri, artifact_root=artifacts)
        print(f"\n== registered {name} v{registered.version}; gating it", flush=True)
        report = root / DEFAULT_REGISTRY_DIR / "reports" / f"{name}-v{registered.version}.json"
        command = [
            sys.executable, "-m", "pytest", "gates/", "-p", "no:cacheprovider",
            "--model-name", name, "--model-version", str(registered.version),
            "--tracking-uri", uri, "--gate-report", str(report), "--promote", "staging",
        ]  # fmt: skip
        print("$ " + " ".join(command[2:]), flush=True)
        failures += subprocess.call(command, cwd=root) != 0
    print(f"\ndemo: {len(REFERENCE_MODELS) - failures} of {len(REFERENCE_MODELS)} models passed")
    answered = ask_staging(root, uri, SERVED_MODEL)
    return 1 if failures or not answered else 0


def ask_staging(root: Path, uri: str, name: str) -> bool:
    """Serve ``name``'s staging bento on loopback, send it one evaluation row, stop it."""
    from pytest_modelgate.bento.loopback import post, served
    from pytest_modelgate.errors import ServeError
    from pytest_modelgate.reference.datasets import load, target_of
    from pytest_modelgate.reference.models import REFERENCE_MODELS

    dataset, features, _ = REFERENCE_MODELS[name]
    row = load(dataset, "eval").drop(columns=[target_of(dataset)]).iloc[:1]
    rows = (row[features] if features else row).to_dict(orient="records")
    print(f"\n== serving {name}'s staging bento; $ modelgate serve staging", flush=True)
    log = root / DEFAULT_REGISTRY_DIR / "serve-staging.log"
    try:
        with served("staging", name, uri, log) as url:
            status, info = post(f"{url}/model_info", {})
            print(f"model_info -> {status} {info}")
            status, answer = post(f"{url}/predict", {"rows": rows})
            print(f"predict {rows} -> {status} {answer}")
    except (ServeError, OSError) as exc:
        print(f"demo: the staging service did not answer: {exc}", file=sys.stderr)
        return False
    return status == 200
