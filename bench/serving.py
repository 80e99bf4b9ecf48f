"""Serving benchmark: the iris reference model behind our bento (batching on with one and two
workers, batching off), a Flask app (dev server, gunicorn 2 sync workers) and FastAPI + uvicorn
(1 worker), under the same load from the same generator, one after the other on this machine;
and the in-process floor: the same model and the same bodies with no HTTP at all.

Load: wrk (``apt-get install wrk``; a Lua script POSTs the JSON bodies), 2 threads, 50
keep-alive connections, RUN_S seconds per run, one-row requests. Per server it prints req/s,
p50, p99, failures (non-2xx and socket errors), server CPU per request and resident memory
(psutil over the server's process tree), rows/s with 1,000-row requests (16 connections) as
records (``{"rows": [...]}``, the body every server takes) and, for our service, as columns
(``{"columns": {...}}``), and the resident memory of the bento after each of five
back-to-back runs. The floor row runs the service's own parsing, checking, model call and JSON
writing on each body in a loop, in rows per CPU-second (twice that on two cores). Last, the time
the bento takes to refuse a 50 MB body (413), declared by Content-Length and streamed. Every
server runs in its own process group and is stopped by that group's id.

    python bench/serving.py [--run-s 10] [--only bento-batched,fastapi-uvicorn-1]
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
BIG_CONNECTIONS = 16
MEMORY_RUNS = 5
BIG_ROWS = 1000
REFUSED_BYTES = 50 * 2**20
REFUSALS = 5
FLOOR_S = 3.0
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
    big_columns_per_s: float | None = None
    big_cpu_ms: tuple[float, float | None] | None = None  # CPU ms per 1,000-row request
    rss_runs: list[float] = field(default_factory=list)
    note: str = ""
    refusal_ms: dict[str, float] = field(default_factory=dict)


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
BIG: list[dict[str, float]] = []
SCHEMA = "pytest_modelgate.reference.schemas:IrisInput"


def prepare(work: Path) -> tuple[str, str, Path]:
    """Register the iris reference model, build its bento; (bento, tracking uri, model dir)."""
    import mlflow

    from pytest_modelgate.bento.build import BentoTarget, build_bento
    from pytest_modelgate.reference.datasets import load
    from pytest_modelgate.reference.models import train_reference

    uri = f"sqlite:///{work / 'registry.db'}"
    registered = train_reference("iris", tracking_uri=uri, artifact_root=work / "artifacts")
    target = BentoTarget(registered.name, registered.version, registered.run_id)
    bento = build_bento(target, uri, REPO / "bentofile.yaml", SCHEMA)
    mlflow.set_tracking_uri(uri)
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/iris/{registered.version}", dst_path=str(work / "model")
        )
    )
    eval_rows = load("iris", "eval").drop(columns=["species"]).to_dict(orient="records")
    ROW.update(eval_rows[0])
    BIG.extend((eval_rows * (BIG_ROWS // len(eval_rows) + 1))[:BIG_ROWS])
    return bento, uri, model_dir


def write_bodies(work: Path) -> dict[str, Path]:
    """The request bodies: one row, and 1,000 rows as records and as columns."""
    columns = {name: [row[name] for row in BIG] for name in ROW}
    bodies = {
        "one": {"rows": [ROW]},
        "records": {"rows": BIG},
        "columns": {"columns": columns},
    }
    paths = {}
    for name, body in bodies.items():
        paths[name] = work / f"{name}.json"
        paths[name].write_text(json.dumps(body))
    return paths


def servers(bento: str, uri: str, model_dir: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    py = sys.executable
    bin_dir = Path(py).parent
    base = dict(os.environ, PYTHONPATH=str(REPO), MODEL_DIR=str(model_dir))
    ours = dict(base, MODELGATE_ENV="candidate", MLFLOW_TRACKING_URI=uri)
    ours.setdefault("BENTOML_DO_NOT_TRACK", "True")
    bentoml = [str(bin_dir / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port"]
    return {
        "bento-batched": (bentoml, ours),
        "bento-batched-2w": (bentoml, dict(ours, MODELGATE_WORKERS="2")),
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
    bodies = write_bodies(work)
    row = Row(name)
    ours = name.startswith("bento")
    with server(argv, env, url, work / f"{name}.log") as pid:
        wrk(url, bodies["one"], 2, CONNECTIONS, pid, work)  # warm-up
        row.one = wrk(url, bodies["one"], run_s, CONNECTIONS, pid, work)
        row.rss_runs.append(row.one.rss_mb)
        if name == "bento-batched":
            for _ in range(MEMORY_RUNS - 1):
                row.rss_runs.append(wrk(url, bodies["one"], run_s, CONNECTIONS, pid, work).rss_mb)
        big_s = max(3.0, run_s / 2)
        big_run = wrk(url, bodies["records"], big_s, BIG_CONNECTIONS, pid, work)
        row.big_rows_per_s = big_run.rps * BIG_ROWS
        failures = big_run.failures
        row.big_cpu_ms = (big_run.cpu_ms_per_req, None)
        if ours:
            columns_run = wrk(url, bodies["columns"], big_s, BIG_CONNECTIONS, pid, work)
            row.big_columns_per_s = columns_run.rps * BIG_ROWS
            row.big_cpu_ms = (big_run.cpu_ms_per_req, columns_run.cpu_ms_per_req)
            failures += columns_run.failures
        if failures:
            row.note = f"{failures} failed 1000-row requests"
        if name == "bento-batched":
            row.refusal_ms = refusal_times(port)
    return row


def refusal_times(port: int) -> dict[str, float]:
    """Median ms from the first byte of a 50 MB request to the 413 status line: the body
    declared by Content-Length, and streamed in chunks. The client keeps sending, as one that
    does not wait for an early answer would, and reads the answer as soon as it comes."""
    import statistics

    return {
        kind: statistics.median(refusal_ms(port, kind) for _ in range(REFUSALS))
        for kind in ("declared", "streamed")
    }


def refusal_ms(port: int, kind: str) -> float:
    import socket
    import threading

    chunk = b"x" * 2**20
    piece = chunk if kind == "declared" else b"%x\r\n%s\r\n" % (len(chunk), chunk)
    length = (
        f"Content-Length: {REFUSED_BYTES}" if kind == "declared" else "Transfer-Encoding: chunked"
    )
    head = f"POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    answered = threading.Event()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:

        def send_body() -> None:
            with suppress(OSError):
                for _ in range(REFUSED_BYTES // len(chunk)):
                    if answered.is_set():
                        return
                    sock.sendall(piece)

        started = time.perf_counter()
        sock.sendall(head.encode())
        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        status = sock.recv(64).split(b"\r\n", 1)[0]
        elapsed = (time.perf_counter() - started) * 1e3
        answered.set()
    sender.join(timeout=10)
    if b" 413 " not in status:
        raise RuntimeError(f"expected 413, got {status!r}")
    return elapsed


# -- the in-process floor ---------------------------------------------------------------------


def floor_worker(model_dir: Path, body: Path, seconds: float) -> float:
    """Rows per CPU-second of the service's own request path with no HTTP: parse and check the
    body, one DataFrame, the model's predict, the labels written as JSON, in a loop. CPU time,
    not wall time, so other work on the machine does not lower the floor."""
    import mlflow.sklearn

    from pytest_modelgate.candidate.input_schema import as_schema, import_object
    from pytest_modelgate.serving.bodies import Shape
    from pytest_modelgate.serving.columns import from_model_dir
    from pytest_modelgate.serving.limits import Limits, dump

    model = mlflow.sklearn.load_model(str(model_dir))
    contract = from_model_dir(str(model_dir), as_schema(import_object(SCHEMA), SCHEMA))
    assert contract is not None
    shape = Shape(contract.names, contract.required, Limits().max_rows)
    raw = body.read_bytes()
    rows = 0
    deadline = time.perf_counter() + seconds
    started = time.process_time()
    while time.perf_counter() < deadline:
        parsed = shape.parse(raw)
        batch = contract.validate(parsed.columns, parsed.rows, parsed.locate)
        dump(model.predict(contract.frame(batch)).tolist())
        rows += parsed.rows
    return rows / (time.process_time() - started)


def floor(model_dir: Path, bodies: dict[str, Path]) -> dict[str, float]:
    """Per body form, rows per CPU-second in one process. Requests share nothing, so two cores
    give twice as much: the floor on two cores is twice this."""
    return {form: run_floor(model_dir, bodies[form]) for form in ("records", "columns")}


def run_floor(model_dir: Path, body: Path) -> float:
    command = [
        sys.executable, "-m", "bench.serving", "--floor-worker", str(model_dir), str(body),
    ]  # fmt: skip
    # one BLAS thread, as a serving worker runs, so CPU time is one core's
    threads = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    env = dict(os.environ, PYTHONPATH=str(REPO), **threads)
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def table(rows: list[Row], run_s: float, floors: dict[str, float]) -> str:
    head = (
        f"{'server':<18} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'fail':>5} "
        f"{'CPU ms/req':>10} {'RSS MB':>7} {'x fastapi':>9} {'rows/s@1000':>11} "
        f"{'columns@1000':>12} {'CPU ms/1000 rec|col':>19}"
    )
    ref = next((r.one.rps for r in rows if r.name == "fastapi-uvicorn-1" and r.one), None)
    lines = [
        f"wrk, 2 threads, {CONNECTIONS} keep-alive connections, {run_s:g} s per run, one-row "
        f"JSON requests; rows/s@1000: wrk, {BIG_CONNECTIONS} connections, 1,000-row requests "
        "as records; columns@1000: the same rows as one list per column; CPU ms/1000: server "
        "CPU per 1,000-row request (records | columns)",
        head,
        "-" * len(head),
    ]
    for r in rows:
        if r.one is None:
            lines.append(f"{r.name:<18} {r.note}")
            continue
        o = r.one
        ratio = f"{o.rps / ref:.2f}" if ref else "-"
        columns = f"{r.big_columns_per_s:>12.0f}" if r.big_columns_per_s else f"{'-':>12}"
        rec, col = r.big_cpu_ms or (float("nan"), None)
        cpu = f"{rec:.2f} | {col:.2f}" if col is not None else f"{rec:.2f} | -"
        lines.append(
            f"{r.name:<18} {o.rps:>7.0f} {o.p50_ms:>7.1f} {o.p99_ms:>7.1f} {o.failures:>5} "
            f"{o.cpu_ms_per_req:>10.3f} {o.rss_mb:>7.0f} {ratio:>9} {r.big_rows_per_s or 0:>11.0f} "
            f"{columns} {cpu:>19}" + (f"  {r.note}" if r.note else "")
        )
    for form, per_core in floors.items():
        label = f"floor-{form}"
        lines.append(
            f"{label:<18} in process, no HTTP: {per_core:.0f} rows per CPU-second, "
            f"{2 * per_core:.0f} rows/s on two cores"
        )
    for r in rows:
        if len(r.rss_runs) > 1:
            growth = r.rss_runs[-1] / r.rss_runs[0] - 1
            runs = " -> ".join(f"{m:.0f}" for m in r.rss_runs)
            lines.append(f"{r.name} RSS after {len(r.rss_runs)} runs (MB): {runs} ({growth:+.1%})")
        for kind, ms in r.refusal_ms.items():
            lines.append(
                f"{r.name}: a 50 MB body {kind} is refused with 413 in {ms:.1f} ms (median of {REFUSALS})"
            )
    lines.extend(goals(rows, floors))
    return "\n".join(lines)


def goals(rows: list[Row], floors: dict[str, float]) -> list[str]:
    """The issue's goals, as ratios of this run's figures."""
    by_name = {r.name: r for r in rows}
    best = max(
        (r for r in rows if r.name.startswith("bento-batched") and r.big_columns_per_s),
        key=lambda r: r.big_columns_per_s or 0,
        default=None,
    )
    fastapi, gunicorn = by_name.get("fastapi-uvicorn-1"), by_name.get("flask-gunicorn-2")
    if best is None or best.big_columns_per_s is None:
        return []
    ours = best.big_columns_per_s
    found = [f"goals ({best.name}, 1,000-row columns requests):"]
    if fastapi and fastapi.big_rows_per_s:
        found.append(f"  rows/s {ours / fastapi.big_rows_per_s:.2f}x FastAPI's (goal >= 5)")
    if gunicorn and gunicorn.big_rows_per_s:
        found.append(f"  rows/s {ours / gunicorn.big_rows_per_s:.2f}x gunicorn Flask's (goal >= 3)")
    if "columns" in floors:
        floor_two = 2 * floors["columns"]
        found.append(f"  rows/s {ours / floor_two:.2f}x the floor on two cores (goal >= 0.5)")
        if best.big_cpu_ms and best.big_cpu_ms[1]:
            floor_cpu = BIG_ROWS / floors["columns"] * 1e3
            found.append(
                f"  server CPU per 1,000-row request {best.big_cpu_ms[1]:.2f} ms, the floor's "
                f"{floor_cpu:.2f} ms ({floor_cpu / best.big_cpu_ms[1]:.2f}x)"
            )
    if fastapi and fastapi.one and best.one:
        found.append(f"  one-row req/s {best.one.rps / fastapi.one.rps:.2f}x FastAPI's (goal >= 2)")
    for other in (fastapi, gunicorn):
        if other and other.big_cpu_ms and best.big_cpu_ms and best.big_cpu_ms[1]:
            found.append(
                f"  server CPU per 1,000-row request {other.big_cpu_ms[0] / best.big_cpu_ms[1]:.2f}x "
                f"less than {other.name}'s (the figure other work on the machine disturbs least)"
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-s", type=float, default=10.0)
    parser.add_argument("--only", default="", help="comma-separated server names")
    parser.add_argument("--no-floor", action="store_true", help="skip the in-process floor")
    parser.add_argument(
        "--floor-worker", nargs=2, metavar=("MODEL_DIR", "BODY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.floor_worker:
        print(floor_worker(Path(args.floor_worker[0]), Path(args.floor_worker[1]), FLOOR_S))
        return 0
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
        floors = {} if args.no_floor else floor(model_dir, write_bodies(work))
        print(table(rows, args.run_s, floors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
