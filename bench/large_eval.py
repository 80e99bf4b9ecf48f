"""Benchmark: a 1,000,000-row evaluation set (8 float features) gated in one process.

Prints two figures, each the median of ``--repeats`` fresh processes:

- time: the accuracy suite (pytest + plugin) against a hand-written script doing the same
  work: load the model once, predict once, draw the same multinomial row-weight bootstrap
  (every row's count in each of 1000 resamples) and score rmse, mae and r2 on every resample
  with numpy (target: suite <= 1.5x the script);
- peak resident memory of the gate run (``ru_maxrss`` of the child) against a 2,000-row run of
  the same suite plus 3x the evaluation frame's size (target: below that).

The classification variant (``--task classification``: a logistic regression scored on
accuracy, roc_auc and log_loss) exercises the probability path. Before the script runs the
suite it checks that both print the same point values.

    python bench/large_eval.py [--rows 1000000] [--repeats 3] [--resamples 1000]
                               [--task regression|classification]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

FEATURES = 8
METRICS = {
    "regression": ("rmse", "mae", "r2"),
    "classification": ("accuracy", "roc_auc", "log_loss"),
}
# sklearn's names, so that the benchmark also runs against versions without the short ones
THRESHOLDS = {
    "rmse": "{metric: neg_root_mean_squared_error, max: 1000}",
    "mae": "{metric: neg_mean_absolute_error, max: 1000}",
    "r2": "{min: 0.1}",
    "accuracy": "{min: 0.5}",
    "roc_auc": "{min: 0.5}",
    "log_loss": "{max: 2}",
}

# The floor: what someone would write by hand for the same bootstrap. Each resample's weights
# are every row's count in n draws with replacement (a multinomial over the rows, drawn as a
# bincount of uniform indices), and each metric is a weighted sum over the rows.
FLOOR = textwrap.dedent(
    """
    import sys
    import mlflow, mlflow.sklearn
    import numpy as np, pandas as pd

    uri, data, resamples, task = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
    model = mlflow.sklearn.load_model("models:/bench-large/1")
    frame = pd.read_parquet(data)
    y = frame.pop("y").to_numpy()
    n = len(y)
    if task == "regression":
        pred = model.predict(frame)
        err = pred - y
        terms = np.stack([err ** 2, np.abs(err), y, y ** 2])          # n x 4
    else:
        p = model.predict_proba(frame)[:, 1]
        correct = (model.classes_[(p > 0.5).astype(int)] == y).astype(float)
        eps = np.finfo(float).eps
        loss = -np.where(y == 1, np.log(np.clip(p, eps, 1)), np.log(np.clip(1 - p, eps, 1)))
        order = np.argsort(p, kind="stable"); pos = (y[order] == 1).astype(float)
        terms = np.stack([correct, loss])
    rng = np.random.default_rng(0)
    out = {}
    values = []
    for _ in range(resamples):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        s = terms @ w
        if task == "regression":
            sse, sae, sy, syy = s
            values.append((np.sqrt(sse / n), sae / n, 1 - sse / (syy - sy * sy / n)))
        else:
            wp = w[order] * pos; wn = w[order] * (1 - pos)
            auc = (wp * (np.cumsum(wn) - wn / 2)).sum() / (wp.sum() * wn.sum())
            values.append((s[0] / n, auc, s[1] / n))
    values = np.array(values)
    low, high = np.quantile(values, [0.025, 0.975], axis=0)
    print(" ".join(f"[{a:.4f}, {b:.4f}]" for a, b in zip(low, high)))
    """
)


def prepare(root: Path, rows: int, resamples: int, task: str) -> tuple[str, Path, Path, Path]:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification, make_regression
    from sklearn.linear_model import LogisticRegression, Ridge

    from pytest_modelgate.reference.models import log_and_register

    train_rows = 20_000
    if task == "regression":
        X, y = make_regression(
            n_samples=rows + train_rows, n_features=FEATURES, noise=20.0, random_state=0
        )
        model = Ridge(alpha=1.0)
    else:
        X, y = make_classification(
            n_samples=rows + train_rows, n_features=FEATURES, n_informative=5, random_state=0
        )
        model = LogisticRegression(max_iter=500)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(FEATURES)])
    train = frame.iloc[:train_rows]
    model.fit(train, y[:train_rows])
    uri = f"sqlite:///{root / 'registry.db'}"
    log_and_register(model, "bench-large", train, tracking_uri=uri, artifact_root=root / "art")
    for name, n in (("eval.parquet", rows), ("small.parquet", 2000)):
        part = frame.iloc[train_rows : train_rows + n].copy()
        part["y"] = y[train_rows : train_rows + n].astype(
            np.float64 if task == "regression" else np.int64
        )
        part.to_parquet(root / name)
    big = pd.read_parquet(root / "eval.parquet")
    size = big.memory_usage(index=True, deep=True).sum()
    (root / "frame-bytes").write_text(str(int(size)))
    lines = "\n".join(f"      {m}: {THRESHOLDS[m]}" for m in METRICS[task])
    for name, data in (("large.yaml", "eval.parquet"), ("small.yaml", "small.parquet")):
        (root / name).write_text(
            f"model: bench-large\ndata: {{path: {data}}}\ntarget: y\ngates:\n  accuracy:\n"
            f"    resamples: {resamples}\n    seed: 0\n    metrics:\n{lines}\n"
        )
    (root / "floor.py").write_text(FLOOR)
    return uri, root / "eval.parquet", root / "large.yaml", root / "small.yaml"


MEASURE = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    start = time.perf_counter()
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"seconds": elapsed, "peak": peak, "code": done.returncode,
                      "out": done.stdout[-3000:], "err": done.stderr[-3000:]}))
    """
)


def measured(command: list[str], cwd: Path) -> dict[str, float]:
    """Wall time and peak RSS of one fresh child process (measured by a fresh parent)."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=cwd, capture_output=True, text=True
    )
    figures = json.loads(out.stdout)
    if figures["code"] not in (0, 1):  # 1: a gate failed, still a full run
        raise SystemExit(f"failed: {' '.join(command)}\n{figures['out']}\n{figures['err']}")
    return figures  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--task", choices=tuple(METRICS), default="regression")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-large-") as tmp:
        root = Path(tmp)
        uri, data, large, small = prepare(root, args.rows, args.resamples, args.task)
        frame_bytes = int((root / "frame-bytes").read_text())

        def gate(suite: Path) -> list[str]:
            return [
                sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider",
                "-p", "no:hypothesispytest", "--model-name", "bench-large", "--model-version",
                "1", "--tracking-uri", uri, "--gate-report", str(suite.with_suffix(".json")),
            ]  # fmt: skip

        floor = [
            sys.executable,
            str(root / "floor.py"),
            uri,
            str(data),
            str(args.resamples),
            args.task,
        ]
        runs: dict[str, list[dict[str, float]]] = {"gate": [], "small": [], "floor": []}
        for _ in range(args.repeats):  # interleaved, so machine drift hits all alike
            runs["gate"].append(measured(gate(large), root))
            runs["small"].append(measured(gate(small), root))
            runs["floor"].append(measured(floor, root))
        report = json.loads(large.with_suffix(".json").read_text())
        intervals = {i["nodeid"].split("::")[-1]: i["result"]["interval"] for i in report["items"]}
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    peak = {k: statistics.median(r["peak"] for r in v) for k, v in runs.items()}
    mib = 1024 * 1024
    limit = peak["small"] + 3 * frame_bytes
    print(
        f"large eval benchmark ({args.task}): {args.rows:,} rows x {FEATURES} float features, "
        f"metrics {', '.join(METRICS[args.task])}, {args.resamples} resamples, median of "
        f"{args.repeats}"
    )
    print(f"  evaluation frame                 {frame_bytes / mib:8.1f} MiB")
    print(f"  gate suite (pytest + plugin)     {med['gate']:8.2f} s   runs {_fmt(runs['gate'])}")
    print(f"  hand-written bootstrap script    {med['floor']:8.2f} s   runs {_fmt(runs['floor'])}")
    print(
        f"  ratio suite/script               {med['gate'] / med['floor']:8.2f}x  (target <= 1.50x)"
    )
    print(f"  peak RSS, 1M-row gate run        {peak['gate'] / mib:8.1f} MiB")
    print(f"  peak RSS, 2,000-row gate run     {peak['small'] / mib:8.1f} MiB")
    print(
        f"  limit: small run + 3 x frame     {limit / mib:8.1f} MiB  ({'met' if peak['gate'] < limit else 'NOT met'})"
    )
    print(f"  gate intervals {json.dumps(intervals)}")
    print(f"  script intervals {runs['floor'][-1]['out'].strip()}")


def _fmt(values: list[dict[str, float]]) -> str:
    return ", ".join(f"{v['seconds']:.2f}" for v in values)


if __name__ == "__main__":
    main()
