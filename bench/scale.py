"""Benchmark: an evaluation set far larger than memory's comfort, gated three ways.

20,000,000 rows x 8 float features (about 1.3 GB as a frame) in a directory of Parquet files,
a ridge regressor gated on rmse, mae and r2 with bootstrap intervals:

- streaming (``engine: streaming``): one process, record batches, mergeable sums; its peak RSS
  (target: under 700 MiB) and wall time against a hand-written streaming script doing the same
  sums (the same Poisson weights, the same terms; target: within 1.5x);
- Spark (``engine: spark`` on ``local[2]``): its time and the Python driver's peak RSS;
- in memory (the whole frame at once), where the machine holds it;

and for each the rows per second per core: from the CPU time of the process for the ones in
one process, from the wall time times the cores of ``local[N]`` for Spark (its JVM and Python
workers are not children this benchmark can read the CPU time of).

    python bench/scale.py [--rows 20000000] [--resamples 200] [--repeats 2]
                          [--paths streaming,script,spark,memory] [--spark-master local[2]]

Streaming and the script run ``--repeats`` times interleaved (the figures are each one's
fastest run: a machine shared with other work slows some runs, never speeds one up); Spark
and memory once. The machine's load average before and after is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

FEATURES = 8
FILE_ROWS = 1_000_000

SUITE = """\
model: bench-scale
data: {{path: {data}{engine}}}
target: y
gates:
  accuracy:
    resamples: {resamples}
    seed: 0
    metrics:
      rmse: {{max: 1000}}
      mae: {{max: 1000}}
      r2: {{min: 0.1}}
"""

# What someone would write by hand: read the batches, predict, build the per-row terms and
# add their Poisson-weighted sums, the weights from the same counter-based generator.
SCRIPT = textwrap.dedent(
    """
    import math, sys
    import mlflow, mlflow.sklearn
    import numpy as np, pyarrow.dataset as ds

    uri, data, resamples = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
    model = mlflow.sklearn.load_model("models:/bench-scale/1")
    G, M1, M2 = (np.uint64(v) for v in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))
    cdf = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(12)])
    table = np.searchsorted(np.round(cdf * 65536), np.arange(65536), side="right").astype(float)

    def mix(x):
        x ^= x >> np.uint64(30); x *= M1; x ^= x >> np.uint64(27); x *= M2; x ^= x >> np.uint64(31)
        return x

    def weights(rows):
        with np.errstate(over="ignore"):
            base = mix((rows.astype(np.uint64) + np.uint64(0) * G) * G + np.uint64(1))
            keys = base[:, None] ^ (np.arange(1, -(-resamples // 4) + 1, dtype=np.uint64) * G)
            mix(keys)
        return table[keys.view(np.uint16).reshape(len(rows), -1)[:, :resamples]]

    features = [f"x{i}" for i in range(8)]
    sums = np.zeros((resamples, 5)); point = np.zeros(5); first = 0
    for batch in ds.dataset(data, format="parquet").to_batches(batch_size=65536):
        frame = batch.to_pandas()
        y = frame["y"].to_numpy()
        e = model.predict(frame[features]) - y
        terms = np.column_stack([np.ones(len(y)), e * e, np.abs(e), y, y * y])
        point += terms.sum(axis=0)
        step = 4_000_000 // resamples
        for a in range(0, len(y), step):
            rows = np.arange(first + a, first + min(len(y), a + step))
            sums += (terms[a : a + step].T @ weights(rows)).T
        first += len(y)

    def metrics(s):
        n, sse, sae, sy, syy = s.T
        return np.stack([np.sqrt(sse / n), sae / n, 1 - sse / (syy - sy * sy / n)], axis=-1)

    low, high = np.quantile(metrics(sums), [0.025, 0.975], axis=0)
    print("point", " ".join(f"{v:.6f}" for v in metrics(point[None])[0]))
    print(" ".join(f"[{a:.4f}, {b:.4f}]" for a, b in zip(low, high)))
    """
)

# Runs one command and reports its wall time, CPU time and peak RSS: of the command itself
# (ru_maxrss of its own process, read from inside a pytest run by the plugin-free hook below)
# and of its largest descendant.
MEASURE = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    start = time.perf_counter()
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": elapsed, "cpu": use.ru_utime + use.ru_stime,
                      "peak": use.ru_maxrss * 1024, "code": done.returncode,
                      "out": done.stdout[-4000:], "err": done.stderr[-4000:]}))
    """
)

# pytest inside a process that prints its own peak RSS at the end (Spark's JVM is a child
# of this process: its memory is not the driver's)
PYTEST_SELF = textwrap.dedent(
    """
    import resource, sys
    import pytest
    code = pytest.main(sys.argv[1:])
    print("SELF_PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    sys.exit(int(code))
    """
)


def prepare(root: Path, rows: int) -> str:
    """A registered ridge regressor and ``rows`` evaluation rows in files of a million."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import Ridge

    from pytest_modelgate.reference.models import log_and_register

    coef = np.random.default_rng(1).normal(size=FEATURES) * 10
    columns = [f"x{i}" for i in range(FEATURES)]

    def chunk(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, FEATURES))
        frame = pd.DataFrame(X, columns=columns)
        frame["y"] = X @ coef + rng.normal(scale=20.0, size=n)
        return frame

    train = chunk(20_000, 0)
    model = Ridge(alpha=1.0).fit(train[columns], train["y"])
    uri = f"sqlite:///{root / 'registry.db'}"
    log_and_register(
        model, "bench-scale", train[columns], tracking_uri=uri, artifact_root=root / "art"
    )
    (root / "data").mkdir()
    for i, first in enumerate(range(0, rows, FILE_ROWS)):
        chunk(min(FILE_ROWS, rows - first), 100 + i).to_parquet(
            root / "data" / f"part-{i:04d}.parquet", row_group_size=250_000
        )
    return uri


def measured(command: list[str], cwd: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=cwd, capture_output=True, text=True
    )
    figures: dict[str, object] = json.loads(out.stdout)
    if figures["code"] not in (0, 1):  # 1: a gate failed, still a full run
        raise SystemExit(f"failed: {' '.join(command)}\n{figures['out']}\n{figures['err']}")
    for line in str(figures["out"]).splitlines():
        if line.startswith("SELF_PEAK"):
            figures["self_peak"] = int(line.split()[1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--paths", default="streaming,script,spark,memory")
    parser.add_argument("--spark-master", default="local[2]")
    args = parser.parse_args()
    chosen = args.paths.split(",")
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-scale-") as tmp:
        root = Path(tmp)
        uri = prepare(root, args.rows)
        data = root / "data"
        engines = {
            "streaming": ", engine: streaming",
            "spark": f", engine: spark, spark_master: '{args.spark_master}'",
            "memory": "",
        }
        runs: dict[str, dict[str, object]] = {}
        reports: dict[str, object] = {}
        order = [p for _ in range(args.repeats) for p in chosen if p in ("streaming", "script")]
        order += [p for p in chosen if p not in ("streaming", "script")]
        load = os.getloadavg()[0]
        for path in order:
            if path == "script":
                (root / "script.py").write_text(SCRIPT)
                command = [
                    sys.executable,
                    str(root / "script.py"),
                    uri,
                    str(data),
                    str(args.resamples),
                ]
            else:
                suite = root / f"{path}.yaml"
                suite.write_text(
                    SUITE.format(data=data, engine=engines[path], resamples=args.resamples)
                )
                command = [
                    sys.executable, "-c", PYTEST_SELF, str(suite), "-q", "-p", "no:cacheprovider",
                    "-p", "no:hypothesispytest", "-p", "no:xdist", "--model-name", "bench-scale",
                    "--model-version", "1", "--tracking-uri", uri,
                    "--gate-report", str(suite.with_suffix(".json")),
                ]  # fmt: skip
            print(f"running {path} ...", flush=True)
            run = measured(command, root)
            if path not in runs or float(run["seconds"]) < float(runs[path]["seconds"]):  # type: ignore[arg-type]
                runs[path] = run
            if path != "script":
                report = json.loads((root / f"{path}.json").read_text())
                reports[path] = {
                    i["nodeid"].split("::")[-1]: [i["result"]["value"], i["result"]["interval"]]
                    for i in report["items"]
                }
    print_table(args, runs, reports)
    print(f"load average (1 min) before {load:.2f}, after {os.getloadavg()[0]:.2f}")


def print_table(
    args: argparse.Namespace, runs: dict[str, dict[str, object]], reports: dict[str, object]
) -> None:
    mib = 1024 * 1024
    frame = args.rows * (FEATURES + 1) * 8
    print(
        f"\nscale benchmark: {args.rows:,} rows x {FEATURES} float features "
        f"({frame / mib:,.0f} MiB as a frame with its target), rmse, mae and r2, "
        f"{args.resamples} resamples"
    )
    print(f"{'path':<12}{'wall s':>9}{'cpu s':>9}{'peak RSS MiB':>14}{'rows/s/core':>14}")
    for path, r in runs.items():
        seconds, cpu = float(r["seconds"]), float(r["cpu"])  # type: ignore[arg-type]
        peak = int(r.get("self_peak") or r["peak"])  # type: ignore[call-overload]
        cores = _cores(args.spark_master) if path == "spark" else 0
        rate = args.rows / (seconds * cores) if cores else args.rows / cpu
        print(f"{path:<12}{seconds:9.1f}{cpu:9.1f}{peak / mib:14.0f}{rate:14,.0f}")
    if "streaming" in runs and "script" in runs:
        ratio = float(runs["streaming"]["seconds"]) / float(runs["script"]["seconds"])  # type: ignore[arg-type]
        print(f"streaming / hand-written script: {ratio:.2f}x (target <= 1.5x)")
    if "streaming" in runs:
        peak = int(runs["streaming"].get("self_peak") or 0)  # type: ignore[call-overload]
        print(f"streaming peak RSS: {peak / mib:.0f} MiB (target < 700 MiB)")
    for path, figures in reports.items():
        print(f"{path} figures: {json.dumps(figures)}")
    if "script" in runs:
        print("script figures:", str(runs["script"]["out"]).strip().replace("\n", "; "))


def _cores(master: str) -> int:
    """N of local[N] (a cluster's cores are not known here: the machine's)."""
    import re

    found = re.fullmatch(r"local\[(\d+)\]", master)
    return int(found.group(1)) if found else os.cpu_count() or 1


if __name__ == "__main__":
    main()
