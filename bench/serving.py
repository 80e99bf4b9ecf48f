"""Serving benchmark: the iris reference model behind our bento (batching on and off), a Flask
app (dev server, gunicorn 2 sync workers) and FastAPI + uvicorn (1 worker), under the same
load from the same generator, one after the other on this machine.

Load: wrk (``apt-get install wrk``; a Lua script POSTs the JSON bodies), 2 threads, 50
keep-alive connections, RUN_S seconds per run. Per server it prints req/s, p50, p99, failures
(non-2xx and socket errors), server CPU per request and resident memory (psutil over the server's
process tree), rows/s with 1,000-row requests, and for our service the resident memory after
each of five back-to-back runs. Every server runs in its own process group and is stopped by
that group's id.

    python bench/serving.py [--run-s 10] [--only bento-batched,fastapi]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONNECTIONS = 50
MEMORY_RUNS = 5
BIG_ROWS = 1000
LUA = """
local f = io.open(os.getenv("BODY_FILE"), "rb")
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int
    cpu_ms_per_req: float
    rss_mb: float


@dataclass
class Row:
    name: str
    one: Run | None = None
    big_rows_per_s: float | None = None
    rss_runs: list[float] = field(default_factory=list)
    note: str = ""


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_s(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        with suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        with suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def free_port() -> int:
    from pytest_modelgate.processes import free_port as port

    return port()


@contextmanager
def server(command: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[int]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_ready(url, process, log)
            yield process.pid
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    body = json.dumps({"rows": [ROW]}).encode()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited:\n{log.read_text()[-3000:]}")
        request = urllib.request.Request(
            url, data=body, headers={"content-type": "application/json"}
        )
        with suppress(OSError), urllib.request.urlopen(request, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{process.args} not ready:\n{log.read_text()[-3000:]}")


def wrk(url: str, body: Path, run_s: float, connections: int, pid: int, work: Path) -> Run:
    script = work / "post.lua"
    script.write_text(LUA)
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{run_s:g}s", "--latency"]
    command += ["--timeout", "10s", "-s", str(script), url]
    before = cpu_s(pid)
    done = subprocess.run(
        command, env=dict(os.environ, BODY_FILE=str(body)), capture_output=True, text=True,
        timeout=run_s + 30, check=True,
    )  # fmt: skip
    used = cpu_s(pid) - before
    return parse_wrk(done.stdout, used, rss_mb(pid))


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(out: str, cpu_used: float, rss: float) -> Run:
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    failures = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    per_req = cpu_used / requests * 1e3 if requests else float("nan")
    return Run(rps, p50, p99, requests, failures, per_req, rss)


# -- the model and the servers ---------------------------------------------------------------

ROW: dict[str, float] = {}


def prepare(work: Path) -> tuple[str, str, Path]:
    """Register the iris reference model, build its bento; (bento, tracking uri, model dir)."""
    import mlflow

    from pytest_modelgate.reference.datasets import load
    from pytest_modelgate.reference.models import train_reference
    from pytest_modelgate.release.bento import BentoTarget, build_bento

    uri = f"sqlite:///{work / 'registry.db'}"
    registered = train_reference("iris", tracking_uri=uri, artifact_root=work / "artifacts")
    target = BentoTarget(registered.name, registered.version, registered.run_id)
    bento = build_bento(
        target, uri, REPO / "bentofile.yaml", "pytest_modelgate.reference.schemas:IrisInput"
    )
    mlflow.set_tracking_uri(uri)
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/iris/{registered.version}", dst_path=str(work / "model")
        )
    )
    eval_rows = load("iris", "eval").drop(columns=["species"]).to_dict(orient="records")
    ROW.update(eval_rows[0])
    return bento, uri, model_dir


def servers(bento: str, uri: str, model_dir: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    py = sys.executable
    bin_dir = Path(py).parent
    base = dict(os.environ, PYTHONPATH=str(REPO), MODEL_DIR=str(model_dir))
    ours = dict(base, MODELGATE_ENV="candidate", MLFLOW_TRACKING_URI=uri)
    ours.setdefault("BENTOML_DO_NOT_TRACK", "True")
    bentoml = [str(bin_dir / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port"]
    return {
        "bento-batched": (bentoml, ours),
        "bento-unbatched": (bentoml, dict(ours, MODELGATE_BATCHING="off")),
        "flask-dev": ([py, "-m", "bench.serving_apps.flask_app"], base),
        "flask-gunicorn-2": (
            [
                str(bin_dir / "gunicorn"),
                "-w",
                "2",
                "-k",
                "sync",
                "--log-level",
                "warning",
                "bench.serving_apps.flask_app:app",
                "-b",
            ],
            base,
        ),
        "fastapi-uvicorn-1": (
            [
                str(bin_dir / "uvicorn"),
                "bench.serving_apps.fastapi_app:app",
                "--no-access-log",
                "--host",
                "127.0.0.1",
                "--port",
            ],
            base,
        ),
    }


def bench_one(name: str, command: list[str], env: dict[str, str], work: Path, run_s: float) -> Row:
    port = free_port()
    last = command[-1]
    if last == "-b":
        argv = [*command, f"127.0.0.1:{port}"]
    elif last == "--port":
        argv = [*command, str(port)]
    else:
        argv = command
    env = dict(env, PORT=str(port))
    url = f"http://127.0.0.1:{port}/predict"
    one, big = work / "one.json", work / "big.json"
    one.write_text(json.dumps({"rows": [ROW]}))
    big.write_text(json.dumps({"rows": [ROW] * BIG_ROWS}))
    row = Row(name)
    with server(argv, env, url, work / f"{name}.log") as pid:
        wrk(url, one, 2, CONNECTIONS, pid, work)  # warm-up
        row.one = wrk(url, one, run_s, CONNECTIONS, pid, work)
        row.rss_runs.append(row.one.rss_mb)
        if name == "bento-batched":
            for _ in range(MEMORY_RUNS - 1):
                row.rss_runs.append(wrk(url, one, run_s, CONNECTIONS, pid, work).rss_mb)
        big_run = wrk(url, big, max(3.0, run_s / 2), 4, pid, work)
        row.big_rows_per_s = big_run.rps * BIG_ROWS
        if big_run.failures:
            row.note = f"{big_run.failures} failed 1000-row requests"
    return row


def table(rows: list[Row], run_s: float) -> str:
    head = (
        f"{'server':<18} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'fail':>5} "
        f"{'CPU ms/req':>10} {'RSS MB':>7} {'x fastapi':>9} {'rows/s@1000':>11}"
    )
    ref = next((r.one.rps for r in rows if r.name == "fastapi-uvicorn-1" and r.one), None)
    lines = [
        f"wrk, 2 threads, {CONNECTIONS} keep-alive connections, {run_s:g} s per run, one-row "
        "JSON requests; rows/s@1000: wrk, 4 connections, 1,000-row requests",
        head,
        "-" * len(head),
    ]
    for r in rows:
        if r.one is None:
            lines.append(f"{r.name:<18} {r.note}")
            continue
        o = r.one
        ratio = f"{o.rps / ref:.2f}" if ref else "-"
        lines.append(
            f"{r.name:<18} {o.rps:>7.0f} {o.p50_ms:>7.1f} {o.p99_ms:>7.1f} {o.failures:>5} "
            f"{o.cpu_ms_per_req:>10.3f} {o.rss_mb:>7.0f} {ratio:>9} {r.big_rows_per_s or 0:>11.0f}"
            + (f"  {r.note}" if r.note else "")
        )
    for r in rows:
        if len(r.rss_runs) > 1:
            growth = r.rss_runs[-1] / r.rss_runs[0] - 1
            runs = " -> ".join(f"{m:.0f}" for m in r.rss_runs)
            lines.append(f"{r.name} RSS after {len(r.rss_runs)} runs (MB): {runs} ({growth:+.1%})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-s", type=float, default=10.0)
    parser.add_argument("--only", default="", help="comma-separated server names")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/serving.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-") as tmp:
        work = Path(tmp)
        os.environ["BENTOML_HOME"] = str(work / "bentoml")
        bento, uri, model_dir = prepare(work)
        rows = []
        for name, (command, env) in servers(bento, uri, model_dir).items():
            if args.only and name not in args.only.split(","):
                continue
            print(f"-- {name}", flush=True)
            try:
                rows.append(bench_one(name, command, env, work, args.run_s))
            except (RuntimeError, subprocess.SubprocessError) as exc:
                rows.append(Row(name, note=f"failed: {str(exc)[-500:]}"))
        print(table(rows, args.run_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
