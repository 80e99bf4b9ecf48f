"""Benchmark: what the fairness gate costs on 100k eval rows with 3 groups.

Runs each fairness item of a suite (the real check code: MetricFrame point values, the
multinomial bootstrap, the decision, the per-group table and the PNG chart) on fixed
predictions, so the figures are the gate's own cost without model loading or prediction.
For comparison it times fairlearn's own bootstrap (``MetricFrame(n_boot=...)``) per resample.

    python bench/fairness_cost.py [--rows 100000] [--resamples 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUITE = """
model: bench
data: {{path: eval.parquet}}
target: y
sensitive: [group]
gates:
  fairness:
    resamples: {resamples}
    seed: 0
    min_group_size: 30
    metrics:
      demographic_parity_difference: {{max: 0.1}}
      demographic_parity_ratio: {{min: 0.8}}
      equalized_odds_difference: {{max: 0.1}}
      recall_every_group: {{metric: recall, group_min: 0.7}}
"""


def eval_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Three groups of unequal size whose selection rates differ a little."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2])
    y = rng.integers(0, 2, rows)
    hit = {"a": 0.85, "b": 0.8, "c": 0.75}
    right = rng.random(rows) < np.vectorize(hit.get)(group)
    return pd.DataFrame({"group": group, "y": y, "pred": np.where(right, y, 1 - y)})


@dataclass
class _Predictions:
    labels: np.ndarray
    proba: None = None
    classes: Any = (0, 1)


class _Handle:
    def __init__(self, labels: np.ndarray) -> None:
        from pytest_modelgate.candidate.registry import ModelRef

        self.ref = ModelRef("bench", 1, None, "bench", (), ("sklearn",), None, None)
        self._predictions = _Predictions(labels)

    def predictions(self, data: Any) -> _Predictions:
        return self._predictions


class _Context:
    """The part of the gate session a fairness item uses, with predictions already made."""

    def __init__(self, data: Any, labels: np.ndarray, artifacts: Path) -> None:
        self.candidate, self.champion, self.champion_alias = _Handle(labels), None, "production"
        self._data, self.artifact_dir = data, artifacts

    def eval_data(self, suite: Any) -> Any:
        return self._data

    def log_artifact(self, path: Path, artifact_path: str) -> str:
        return "not logged (benchmark)"


def fairlearn_per_resample(frame: pd.DataFrame, n_boot: int) -> float:
    from fairlearn.metrics import MetricFrame, selection_rate

    start = time.perf_counter()
    MetricFrame(
        metrics=selection_rate,
        y_true=frame.y,
        y_pred=frame.pred,
        sensitive_features=frame.group,
        n_boot=n_boot,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    return (time.perf_counter() - start) / n_boot


def main() -> None:
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.gates.fairness.kind import FairnessGate
    from pytest_modelgate.gates.plan import plan
    from pytest_modelgate.suite.parse import load_suite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fairlearn-boot", type=int, default=10)
    args = parser.parse_args()

    frame = eval_frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frame.to_parquet(root / "eval.parquet")
        suite_path = root / "suite.yaml"
        suite_path.write_text(textwrap.dedent(SUITE.format(resamples=args.resamples)).lstrip())
        checks = plan(load_suite(suite_path), {"fairness": FairnessGate()})
        data = Dataset(frame, "y", ("pred",), "bench", "bench")
        ctx = _Context(data, frame.pred.to_numpy(), root / "charts")
        sizes = frame.group.value_counts().sort_index().to_dict()
        print(f"fairness gate: {args.rows} rows, groups {sizes}, {args.resamples} resamples")
        total = 0.0
        for check in checks:
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                result = check.run(ctx)  # type: ignore[arg-type]
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            total += median
            verdict = "pass" if result.passed else "fail"
            print(f"  {check.name:<40} {median:7.3f} s   {result.value_text()}  ({verdict})")
        print(f"  {'all items':<40} {total:7.3f} s")
    per = fairlearn_per_resample(frame, args.fairlearn_boot)
    print(
        f"fairlearn MetricFrame(n_boot) selection rate alone: {per:.3f} s per resample, "
        f"{per * args.resamples:.1f} s for {args.resamples} resamples"
    )


if __name__ == "__main__":
    main()
