"""A registry as teams run it, for the promotion race and fault tests: PostgreSQL behind
``mlflow server --workers 2``, reached through a slow loopback proxy, holding one model with
several versions and a passing gate report for each; and promoter processes to drive it."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow

from pytest_modelgate.candidate.digest import version_digest
from pytest_modelgate.cli.local_server import MlflowServer
from pytest_modelgate.jsonio import utc_now, write_json
from pytest_modelgate.processes import kill_group
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry
from pytest_modelgate.reference.models import log_and_register

from .conftest import copy_column_model
from .postgres import postgres_database
from .slow_proxy import SlowProxy

REPO = Path(__file__).resolve().parents[1]
MODEL = "m"
# an environment of the tests' own promotion path (modelgate.yaml in the world's root), not
# staging or production: the lease, moves, recovery and verify know no fixed names
ENV = "canary-eu"
PATH = f"path:\n  - env: {ENV}\n"
# a dead registry should fail a test's promoter in seconds: one retry, short timeouts
QUICK_FAILURE = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MODELGATE_RETRY_S": "2",
}


class Standby:
    """A second server on the same stores, started in the background: after the serving one
    is killed it takes over at once, and the killed one starts again as the next standby."""

    def __init__(self, server: MlflowServer) -> None:
        self.server = server
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._start, daemon=True)
        self.thread.start()

    def _start(self) -> None:
        try:
            self.server.start()
        except BaseException as exc:
            self.error = exc

    def ready(self) -> MlflowServer:
        self.thread.join(timeout=120)
        if self.error is not None or self.server.process is None:
            raise AssertionError(f"the standby server did not start: {self.error}")
        return self.server


@dataclass
class World:
    root: Path
    server: MlflowServer
    proxy: SlowProxy
    run_ids: dict[int, str] = field(default_factory=dict)
    reports: dict[int, Path] = field(default_factory=dict)
    standby: Standby | None = None

    def restart_server(self) -> None:
        """The registry back after ``server.kill()``: the same stores, behind the same proxy."""
        if self.standby is None:
            self.server.start()
            return
        killed, self.server = self.server, self.standby.ready()
        self.proxy.upstream_port = self.server.port
        self.standby = Standby(killed)

    @property
    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(self.server.uri, self.server.uri)

    @property
    def versions(self) -> list[int]:
        return sorted(self.run_ids)

    def command(self, version: int, expected: int | None, **extra: Any) -> dict[str, Any]:
        return {
            "uri": self.proxy.uri, "name": MODEL, "env": ENV, "version": version,
            "root": str(self.root),
            "run_id": self.run_ids[version], "report": str(self.reports[version]),
            "expected": expected, **extra,
        }  # fmt: skip

    def modelgate(self, *args: str) -> int:
        """A ``modelgate`` command against this world's registry and promotion path."""
        from pytest_modelgate.cli.main import main

        return main([*args, "--tracking-uri", self.server.uri, "--root", str(self.root)])

    def pinned(self) -> int | None:
        return PromotionRegistry.of(self.client).pinned(MODEL, ENV)

    def events(self) -> list[ledger.Event]:
        return list(ledger.events(PromotionRegistry.of(self.client), MODEL, ENV))


def register_versions(
    uri: str, root: Path, count: int, run_ids: dict[int, str], reports: dict[int, Path]
) -> None:
    """One logged model, registered as ``count`` versions of ``MODEL``, each from a run of its
    own (where its gate report is logged), and a passing gate report of each under ``root``."""
    model, X = copy_column_model("a")
    first = log_and_register(model, MODEL, X, tracking_uri=uri)
    client = mlflow.MlflowClient(uri, uri)
    source = client.get_model_version(MODEL, str(first.version)).source  # models:/m-<id>
    run_ids[first.version] = first.run_id
    experiment = client.get_run(first.run_id).info.experiment_id
    for _ in range(count - 1):
        run = client.create_run(experiment)
        mv = client.create_model_version(
            MODEL, source, run_id=run.info.run_id, model_id=source.rsplit("/", 1)[-1]
        )
        run_ids[int(mv.version)] = run.info.run_id
    digest = version_digest(MODEL, first.version, uri)
    for version, run_id in run_ids.items():
        report = {
            "schema_version": 1,
            "generated_at": utc_now(),
            "model": {"name": MODEL, "version": version, "run_id": run_id, "digest": digest},
            "data": {},
            "items": [],
            "promotable": True,
            "blocking_reasons": [],
        }
        write_json(reports.setdefault(version, root / f"report-v{version}.json"), report)


@contextmanager
def registry_world(root: Path, versions: int = 4, standby: bool = False) -> Iterator[World]:
    (root / "modelgate.yaml").write_text(PATH, encoding="utf-8")
    with postgres_database() as backend:
        server = MlflowServer(root, backend_store_uri=backend, workers=2)
        server.start()
        world = World(root, server, SlowProxy(server.port))
        try:
            with world.proxy:
                if standby:  # after the first server created the tables
                    world.standby = Standby(
                        MlflowServer(root, backend_store_uri=backend, workers=2)
                    )
                register_versions(world.server.uri, root, versions, world.run_ids, world.reports)
                yield world
        finally:
            # throwaway servers: no need to wait for their workers to drain
            world.server.kill()
            if world.standby is not None:  # stop it even while it is still starting
                world.standby.server.kill()
                world.standby.thread.join(timeout=120)
                world.standby.server.kill()


class Promoter:
    """A ``python -m tests.promoter`` process in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, wait: bool = True) -> None:
        self.log = log
        self.ready = False
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.promoter"],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO), **env},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        if not self.ready:
            assert self.answer() == {"ready": True}, self.log.read_text()
            self.ready = True

    def send(self, command: dict[str, Any]) -> None:
        self.wait_ready()
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def send_and_wait(self, command: dict[str, Any]) -> dict[str, Any]:
        self.send(command)
        return self.answer()

    def answer(self, timeout: float = 120) -> dict[str, Any]:
        """The next answer; a promoter silent for ``timeout`` seconds is killed."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            kill_group(self.process)
            raise AssertionError(f"the promoter did not answer in {timeout:.0f}s: see {self.log}")
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            return {"exit": self.process.returncode}
        return dict(json.loads(line))

    def close(self, timeout: float = 30) -> int:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            return self.process.wait(timeout=timeout)
        finally:
            kill_group(self.process)
            if self.process.stdout is not None:
                self.process.stdout.close()


class Promoters:
    """Fresh promoter processes, one always started ahead, so a test that kills one does not
    wait for the next to import its libraries."""

    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0
        self.spare = self._start()

    def _start(self) -> Promoter:
        self.count += 1
        return Promoter({}, self.root / f"promoter-{self.count}.log", wait=False)

    def take(self) -> Promoter:
        taken, self.spare = self.spare, self._start()
        taken.wait_ready()
        return taken

    def close(self) -> None:
        self.spare.close()
