"""A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's ``postgresql`` package), for an
``mlflow server`` backend store as teams run it.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(``runuser``) and lives in a directory of its own under the system temp dir (pytest's temp
dirs are private to root). ``.ci/run`` installs the package.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_modelgate.processes import LOOPBACK, free_port

USER = "postgres"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does)")
    return Path(found[-1]).parent


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_database(name: str = "mlflow") -> Iterator[str]:
    """Yield a ``postgresql+psycopg://`` URI of a new database; stop and remove the cluster
    (its own ``pg_ctl stop``) whatever happens."""
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="modelgate-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, USER)
    data, port = base / "data", free_port()

    def run(*command: str) -> None:
        subprocess.run(_as_owner(list(command)), check=True, capture_output=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
            "--no-sync")  # fmt: skip
        options = f"-h {LOOPBACK} -p {port} -k {base} -F"  # fsync off: a test cluster
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", options,
            "-w", "start")  # fmt: skip
        run(str(bindir / "createdb"), "-h", LOOPBACK, "-p", str(port), "-U", USER, name)
        yield f"postgresql+psycopg://{USER}@{LOOPBACK}:{port}/{name}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)
