"""Run locust headless against a URL in its own process group, and read its summary.

With more than one process, locust runs in its own distributed mode (``--processes N``: a
master and N forked workers, talking on a free loopback port), so the offered load is not
capped by what one core of locust produces. The master aggregates the workers' figures and
writes ``PREFIX_stats.csv``; its ``Aggregated`` row holds the request and failure counts, the
response-time percentiles (ms) and the request rate the load gate decides on. A run is bounded
in time (``--run-time``, then killed after a grace) and in count (each user stops after its
share of ``max_requests``).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_modelgate.errors import LoadError
from pytest_modelgate.processes import LOOPBACK, free_port, kill_group, tail

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ENV_ROWS = "MODELGATE_LOAD_ROWS"
ENV_BATCH = "MODELGATE_LOAD_BATCH"
ENV_BODY = "MODELGATE_LOAD_BODY"
ENV_USER_REQUESTS = "MODELGATE_LOAD_USER_REQUESTS"
BODIES = ("rows", "dataframe_split", "columns")
DEFAULT_MAX_REQUESTS = 100_000
GRACE_S = 60.0  # locust start-up and shutdown on a busy machine, beyond the run time
# Aggregated-row columns kept, as they are named in the report
STATS = {
    "requests": "Request Count",
    "failures": "Failure Count",
    "rps": "Requests/s",
    "median_ms": "Median Response Time",
    "mean_ms": "Average Response Time",
    "max_ms": "Max Response Time",
    "p50_ms": "50%",
    "p90_ms": "90%",
    "p95_ms": "95%",
    "p99_ms": "99%",
}


@dataclass(frozen=True)
class LoadPlan:
    users: int
    spawn_rate: float
    run_time_s: float
    batch: int = 1
    processes: int = 2  # locust worker processes (1: a single locust process)
    body: str = "rows"  # the body form each request sends (one of BODIES)
    max_requests: int = DEFAULT_MAX_REQUESTS

    @property
    def timeout_s(self) -> float:
        return self.run_time_s + GRACE_S

    @property
    def user_requests(self) -> int:
        """Requests each user makes at most, so the run's total stays within max_requests."""
        return max(1, self.max_requests // self.users)


def locust_command(url: str, prefix: Path, plan: LoadPlan, port: int | None = None) -> list[str]:
    """The headless locust command; with several processes the master listens on ``port``
    (a free one by default) of the loopback interface only."""
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(plan.users), "-r", f"{plan.spawn_rate:g}", "--run-time",
        f"{max(1, round(plan.run_time_s))}s", "--host", url, "--csv", str(prefix),
        "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "2",
    ]  # fmt: skip
    if plan.processes > 1:
        port = port or free_port()
        command += [
            "--processes", str(plan.processes), "--master-bind-host", LOOPBACK,
            "--master-bind-port", str(port), "--master-host", LOOPBACK, "--master-port", str(port),
        ]  # fmt: skip
    return command


def run_locust(url: str, rows: Path, plan: LoadPlan, workdir: Path) -> dict[str, Any]:
    """The Aggregated stats of a headless run; locust is stopped by its group whatever happens."""
    prefix = workdir / "locust"
    env = dict(
        os.environ,
        **{
            ENV_ROWS: str(rows),
            ENV_BATCH: str(plan.batch),
            ENV_BODY: plan.body,
            ENV_USER_REQUESTS: str(plan.user_requests),
        },
    )
    log = workdir / "locust.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            locust_command(url, prefix, plan),
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=plan.timeout_s)
        except subprocess.TimeoutExpired:
            raise LoadError(
                f"locust did not finish within {plan.timeout_s:.0f}s:\n{tail(log)}"
            ) from None
        finally:
            kill_group(process)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.is_file():
        raise LoadError(f"locust exited with {process.returncode} and no stats:\n{tail(log)}")
    return {**read_aggregated(stats), "exit_code": process.returncode}


def read_aggregated(path: Path) -> dict[str, Any]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("Name") == "Aggregated"]
    if not rows:
        raise LoadError(f"{path} has no Aggregated row")
    return {key: _number(rows[0].get(column)) for key, column in STATS.items()}


def _number(text: str | None) -> float | None:
    """Locust writes 'N/A' for a percentile of no requests."""
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
