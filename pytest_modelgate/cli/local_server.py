"""A real ``mlflow server`` on 127.0.0.1, started and stopped by its user: the CI gate run
when no shared tracking server is configured, and the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_modelgate.processes import LOOPBACK, free_port, kill_group, start, stop, wait_ready

STARTUP_SECONDS = 90


class MlflowServer:
    """One ``mlflow server`` process group; it can be stopped and started again on the same
    port and stores (a server restart, as the promotion fault tests do)."""

    def __init__(
        self,
        root: Path,
        *,
        backend_store_uri: str | None = None,
        workers: int = 1,
        port: int | None = None,
        app_name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.port = port or free_port()
        self.backend_store_uri = backend_store_uri or f"sqlite:///{root / 'server.db'}"
        self.workers = workers
        self.app_name = app_name  # "basic-auth": MLflow's own authentication
        self.env = dict(env or {})
        self.log = root / f"mlflow-server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", LOOPBACK, "--port",
            str(self.port), "--workers", str(self.workers),
            "--backend-store-uri", self.backend_store_uri,
            "--artifacts-destination", str(self.root / "server-artifacts"),
        ]  # fmt: skip
        command += ["--app-name", self.app_name] if self.app_name else []
        # no job runner: nothing here submits server-side jobs, and it slows start-up on 2 cores
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **self.env)
        self.process = start(command, self.log, env=env)
        try:
            wait_ready(
                f"{self.uri}/health", self.process, self.log, STARTUP_SECONDS, "mlflow server"
            )
        except BaseException:
            self.stop()
            raise
        return self.uri

    def kill(self) -> None:
        """SIGKILL the whole group at once: a server that dies mid-request."""
        if self.process is not None:
            kill_group(self.process)
            self.process = None

    def stop(self, grace_s: float = 15) -> None:
        if self.process is not None:
            stop(self.process, grace_s=grace_s)
            self.process = None


@contextmanager
def mlflow_server(
    root: Path, *, backend_store_uri: str | None = None, workers: int = 1
) -> Iterator[str]:
    """Yield the server's URI; stop its whole process group whatever happens. The backend
    store is a sqlite file under ``root`` unless one is given (a PostgreSQL URI, say)."""
    server = MlflowServer(root, backend_store_uri=backend_store_uri, workers=workers)
    try:
        yield server.start()
    finally:
        server.stop()
