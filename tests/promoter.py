"""A promoter process for the race and fault tests: ``python -m tests.promoter``.

It reads one JSON command per line on stdin, promotes as ``modelgate promote`` does (the same
``promote`` call, with a stand-in bento build: these tests are about the registry, not the
bento) and answers one JSON line per command. A command may say when to start (``start_at``,
epoch seconds), so that several promoters begin together, and which environment variables to
set first (``environ``: a fault to inject, quicker retries).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def fake_build(request: Any) -> str:
    return f"modelgate-{request.name}:v{request.version}-fake"


def promote_once(command: dict[str, Any]) -> dict[str, Any]:
    import os

    from pytest_modelgate.candidate.registry import Registry

    os.environ.update(command.get("environ") or {})  # a fault to inject, quicker retries
    from pytest_modelgate.errors import LeaseHeldError, PromotionError
    from pytest_modelgate.promotion.moves import PromotionRequest, promote
    from pytest_modelgate.promotion.path import load_path
    from pytest_modelgate.promotion.places import Places

    path = load_path(Path(command["root"]))
    client = Registry(command["uri"]).client
    report = json.loads(Path(command["report"]).read_text(encoding="utf-8"))
    request = PromotionRequest(
        name=command["name"],
        version=int(command["version"]),
        run_id=command["run_id"],
        env=command["env"],
        report=report,
        expected=command.get("expected"),
        bentofile=Path("bentofile.yaml"),
        tracking_uri=command["uri"],
        code_root=Path.cwd(),
        path=path,
    )
    delay = float(command.get("start_at", 0)) - time.time()
    if delay > 0:
        time.sleep(delay)
    started = time.monotonic()
    try:
        places = Places.of_candidate(path, client, command["uri"], request.name)
        result = promote(places, request, build=fake_build)
    except PromotionError as exc:
        held = isinstance(exc, LeaseHeldError)
        return {"ok": False, "held": held, "error": str(exc), "changed": exc.changed,
                "seconds": time.monotonic() - started}  # fmt: skip
    return {"ok": True, "noop": result.noop, "event": result.event,
            "recovered": list(result.recovered), "seconds": time.monotonic() - started}  # fmt: skip


def main() -> int:
    # import the heavy libraries before the first command, so a start_at is met
    import mlflow  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(promote_once(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
