"""Start ``modelgate serve ENV`` in the background for a bounded time, and talk to it.

Used by the demo and the end-to-end tests: the server runs in its own process group and is
stopped by that group's id whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

STARTUP_S = 120.0


class ServeError(Exception):
    """The service did not come up (its log tail says why)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(
    env: str, model: str, tracking_uri: str, log: Path, startup_s: float = STARTUP_S
) -> Iterator[str]:
    """Yield the base URL of ``modelgate serve ENV`` once it is ready; stop it on exit."""
    port = free_port()
    command = [
        sys.executable, "-m", "pytest_modelgate.cli", "serve", env, "--model-name", model,
        "--tracking-uri", tracking_uri, "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log, startup_s)
            yield url
        finally:
            stop(process)


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
    bentoml = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml) if bentoml.exists() else "bentoml", "serve", bento]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    child = dict(os.environ, MODELGATE_ENV=env, **(extra_env or {}))
    child.setdefault("BENTOML_DO_NOT_TRACK", "True")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=child, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log, startup_s)
            yield url, process.pid
        finally:
            stop(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, startup_s: float) -> None:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeError(f"the service exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise ServeError(f"the service was not ready after {startup_s:.0f}s:\n{_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
    # workers left behind by a crashed parent share the group
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


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


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
