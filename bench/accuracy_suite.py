"""Benchmark: the accuracy gate suite on a 100k-row eval set against a hand-written floor.

Both run as fresh processes on the same registered model and parquet file and do the same
work: load the model once, predict once, compute the same metrics with the same bootstrap.
Prints the median wall time of each and the ratio (target: suite <= 1.3x the floor).
The floor draws the same multinomial resamples of distinct (label, prediction) pairs and
scores each with sklearn; the gate scores label metrics for a whole chunk of resamples at
once from their confusion matrices (pytest_modelgate/stats/confusion.py).

    python bench/accuracy_suite.py [--rows 100000] [--repeats 3] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

METRICS = ("accuracy", "f1_macro", "balanced_accuracy")

FLOOR = textwrap.dedent(
    """
    import sys
    import mlflow, mlflow.sklearn
    import numpy as np, pandas as pd
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    uri, data, resamples = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
    model = mlflow.sklearn.load_model("models:/bench/1")
    frame = pd.read_parquet(data)
    y = frame.pop("y").to_numpy()
    pred = model.predict(frame)
    # bootstrap over distinct (label, prediction) pairs: a multinomial draw of their counts
    pairs, counts = np.unique(np.stack([y, pred]), axis=1, return_counts=True)
    metrics = {
        "accuracy": accuracy_score,
        "f1_macro": lambda t, p, sample_weight: f1_score(t, p, average="macro", sample_weight=sample_weight),
        "balanced_accuracy": balanced_accuracy_score,
    }
    for name, metric in metrics.items():
        rng = np.random.default_rng(0)
        weights = rng.multinomial(len(y), counts / len(y), size=resamples)
        values = [metric(pairs[0], pairs[1], sample_weight=w) for w in weights]
        point = metric(pairs[0], pairs[1], sample_weight=counts)
        low, high = np.quantile(values, [0.025, 0.975])
        print(f"{name} {point:.4f} [{low:.4f}, {high:.4f}]")
    """
)


def prepare(root: Path, rows: int, resamples: int) -> tuple[str, Path, Path]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from pytest_modelgate.reference.models import log_and_register

    X, y = make_classification(
        n_samples=rows + 20_000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    train, evaluate = frame.iloc[:20_000], frame.iloc[20_000:].copy()
    model = LogisticRegression(max_iter=500).fit(train, y[:20_000])
    uri = f"sqlite:///{root / 'registry.db'}"
    log_and_register(model, "bench", train, tracking_uri=uri, artifact_root=root / "artifacts")
    evaluate["y"] = y[20_000:]
    data = root / "eval.parquet"
    evaluate.to_parquet(data)
    suite = root / "bench.yaml"
    lines = "\n".join(f"      {m}: {{min: 0.5}}" for m in METRICS)
    suite.write_text(
        "model: bench\ndata: {path: eval.parquet}\ntarget: y\ngates:\n  accuracy:\n"
        f"    resamples: {resamples}\n    seed: 0\n    metrics:\n{lines}\n"
    )
    (root / "floor.py").write_text(FLOOR)
    return uri, data, suite


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-") as tmp:
        root = Path(tmp)
        uri, data, suite = prepare(root, args.rows, args.resamples)
        gate = [
            sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider",
            "--model-name", "bench", "--model-version", "1", "--tracking-uri", uri,
        ]  # fmt: skip
        # Hypothesis's own pytest plugin imports all of Hypothesis at the terminal summary
        # (about a second); the gates drive Hypothesis directly and do not need the plugin
        bare = [*gate, "-p", "no:hypothesispytest"]
        floor = [sys.executable, str(root / "floor.py"), uri, str(data), str(args.resamples)]
        suite_times, bare_times, floor_times = [], [], []
        for _ in range(args.repeats):  # interleaved, so machine drift hits all alike
            suite_times.append(timed(gate, root))
            bare_times.append(timed(bare, root))
            floor_times.append(timed(floor, root))
    suite_s, floor_s = statistics.median(suite_times), statistics.median(floor_times)
    bare_s = statistics.median(bare_times)
    print(f"accuracy suite benchmark: {args.rows} rows, {len(METRICS)} metrics, "
          f"{args.resamples} resamples, median of {args.repeats}")  # fmt: skip
    print(f"  gate suite (pytest + plugin)     {suite_s:6.2f} s   runs {_fmt(suite_times)}")
    print(f"  gate suite, no hypothesis plugin {bare_s:6.2f} s   runs {_fmt(bare_times)}")
    print(f"  hand-written floor               {floor_s:6.2f} s   runs {_fmt(floor_times)}")
    print(f"  ratio suite/floor                {suite_s / floor_s:6.2f}x  (target <= 1.30x)")
    print(f"  ratio without hypothesis' plugin {bare_s / floor_s:6.2f}x")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
