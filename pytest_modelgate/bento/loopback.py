"""Start ``modelgate serve ENV`` in the background for a bounded time, and talk to it.

Used by the demo and the end-to-end tests: the server runs in its own process group and is
stopped by that group's id whatever happens.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_modelgate.processes import LOOPBACK, free_port, start, stop, wait_ready

STARTUP_S = 120.0


@contextmanager
def served(
    env: str,
    model: str,
    tracking_uri: str,
    log: Path,
    startup_s: float = STARTUP_S,
    root: Path | None = None,
) -> Iterator[str]:
    """Yield the base URL of ``modelgate serve ENV`` once it is ready; stop it on exit.
    ``root`` is the project whose promotion path says where ``env`` lives."""
    port = free_port()
    command = [
        sys.executable, "-m", "pytest_modelgate.cli", "serve", env, "--model-name", model,
        "--tracking-uri", tracking_uri, "--host", LOOPBACK, "--port", str(port),
    ]  # fmt: skip
    command += ["--root", str(root)] if root is not None else []
    with _running(command, log, None, port, startup_s) as (url, _pid):
        yield url


@contextmanager
def served_bento(
    bento: str,
    log: Path,
    *,
    env: str = "candidate",
    extra_env: dict[str, str] | None = None,
    startup_s: float = STARTUP_S,
) -> Iterator[tuple[str, int]]:
    """Yield (base URL, server pid) of ``bentoml serve BENTO`` on a free loopback port; the
    server runs in its own process group and is stopped by that group's id on exit."""
    port = free_port()
    # the same interpreter, so the bento is served by this installation's packages
    command = [sys.executable, "-m", "bentoml", "serve", bento, "--host", LOOPBACK]
    command += ["--port", str(port)]
    child = dict(os.environ, MODELGATE_ENV=env, **(extra_env or {}))
    child.setdefault("BENTOML_DO_NOT_TRACK", "True")
    with _running(command, log, child, port, startup_s) as running:
        yield running


@contextmanager
def _running(
    command: list[str], log: Path, env: dict[str, str] | None, port: int, startup_s: float
) -> Iterator[tuple[str, int]]:
    log.write_bytes(b"")
    process = start(command, log, env=env)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_ready(f"{url}/readyz", process, log, startup_s, "the service")
        yield url, process.pid
    finally:
        stop(process)


def post(url: str, payload: Any, timeout: float = 30.0) -> tuple[int, Any]:
    """(status, decoded JSON body) of a POST; HTTP errors are returned, not raised."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except json.JSONDecodeError:
            return exc.code, body.decode(errors="replace")
