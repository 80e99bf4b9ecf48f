"""Child processes in their own process groups: free loopback ports, start, wait until an
HTTP endpoint answers, stop the whole group, and read the tail of a log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from pytest_modelgate.errors import ServeError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start(
    command: Sequence[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new process group, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command),
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float, what: str
) -> None:
    """Poll ``url`` until it answers 200; raise ServeError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeError(f"{what} exited with {process.returncode}:\n{tail(log)}")
        with suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise ServeError(f"{what} was not ready after {timeout_s:.0f}s:\n{tail(log)}")


def stop(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers; workers left behind by a crashed
    parent share the group, so the group is killed in any case."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_s)
        except ProcessLookupError:
            pass
    kill_group(process)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
