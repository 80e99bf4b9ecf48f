"""A real ``mlflow server`` on 127.0.0.1, started and stopped by its user: the CI gate run
when no shared tracking server is configured, and the end-to-end tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_modelgate.processes import LOOPBACK, free_port, start, stop, wait_ready

STARTUP_SECONDS = 90


@contextmanager
def mlflow_server(
    root: Path, *, backend_store_uri: str | None = None, workers: int = 1
) -> Iterator[str]:
    """Yield the server's URI; stop its whole process group whatever happens. The backend
    store is a sqlite file under ``root`` unless one is given (a PostgreSQL URI, say)."""
    port = free_port()
    log = root / "mlflow-server.log"
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", LOOPBACK, "--port", str(port),
        "--workers", str(workers),
        "--backend-store-uri", backend_store_uri or f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination", str(root / "server-artifacts"),
    ]  # fmt: skip
    # no job runner: nothing here submits server-side jobs, and it slows start-up on 2 cores
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    process = start(command, log, env=env)
    uri = f"http://{LOOPBACK}:{port}"
    try:
        wait_ready(f"{uri}/health", process, log, STARTUP_SECONDS, "mlflow server")
        yield uri
    finally:
        stop(process, grace_s=15)
