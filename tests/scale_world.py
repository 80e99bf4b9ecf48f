"""A world for the engines' tests: a classifier with string classes and a sensitive column, and
a regressor, registered once per module, their evaluation sets written as Parquet files with
several row groups, and one suite per model whose ``data:`` names the engine."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from .conftest import ScratchRegistry

FEATURES = ["a", "b", "c"]

CLASSIFIER_SUITE = """
model: clf
data: {{path: {data}{engine}}}
target: y
sensitive: [sex]
gates:
  accuracy:
    resamples: 200
    seed: 5
    metrics:
      accuracy: {{min: 0.7}}
      f1_macro: {{min: 0.7, max_drop: 0.02}}
      recall: {{metric: recall_score, params: {{pos_label: 'yes'}}, min: 0.7745}}
      log_loss: {{max: 0.6}}
      roc_auc: {{min: 0.8}}
    slices: {{columns: [sex], metrics: [accuracy]}}
  calibration:
    resamples: 200
    seed: 5
    metrics:
      ece: {{max: 0.05}}
      brier: {{max: 0.2}}
  fairness:
    resamples: 200
    seed: 5
    pos_label: 'yes'
    metrics:
      demographic_parity_difference: {{max: 0.1}}
      recall_every_group: {{metric: recall, params: {{pos_label: 'yes'}}, group_min: 0.7}}
  drift:
    reference: {{path: {reference}}}
    max_psi: 0.1
    bins: 5
  schema:
    columns:
      a: {{dtype: float64, checks: {{le: 3.5}}}}
      b: float64
      c: float64
"""

REGRESSOR_SUITE = """
model: reg
data: {{path: {data}{engine}}}
target: y
gates:
  accuracy:
    resamples: 200
    seed: 11
    metrics:
      rmse: {{max: 1.05}}
      mae: {{max: 0.9}}
      r2: {{min: 0.5}}
      mape: {{max: 5}}
"""


def features(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=FEATURES)
    frame["sex"] = np.where(rng.uniform(size=rows) < 0.4, "female", "male")
    return frame


def classified(rows: int, seed: int) -> pd.DataFrame:
    frame = features(rows, seed)
    rng = np.random.default_rng(seed + 100)
    score = frame[FEATURES].to_numpy() @ [1.0, -0.5, 0.25] + rng.logistic(size=rows) * 0.6
    return frame.assign(y=np.where(score > 0, "yes", "no"))


def regressed(rows: int, seed: int) -> pd.DataFrame:
    frame = features(rows, seed)
    rng = np.random.default_rng(seed + 200)
    return frame.assign(y=frame[FEATURES].to_numpy() @ [2.0, -1.0, 0.5] + rng.normal(size=rows))


@dataclass
class World:
    root: Path
    registry: ScratchRegistry
    versions: dict[str, int]

    def suite(self, model: str, engine: str = "", data: str | None = None) -> Path:
        """The model's suite on ``engine`` (``''``: memory), in a directory of its own."""
        text = CLASSIFIER_SUITE if model == "clf" else REGRESSOR_SUITE
        directory = self.root / f"{model}-{abs(hash((engine, data)))}"
        directory.mkdir(exist_ok=True)
        path = directory / "suite.yaml"
        chosen = data or str(self.root / f"{model}.parquet")
        reference = self.root / "reference.parquet"
        path.write_text(text.format(data=chosen, engine=engine, reference=reference).lstrip())
        return path

    def args(self, model: str) -> list[str]:
        return self.registry.args(model, self.versions[model])


def make_world(root: Path, template: Path, rows: int) -> World:
    registry = ScratchRegistry(root / "registry")
    registry.root.mkdir()
    shutil.copyfile(template, registry.root / "registry.db")
    clf_train, reg_train = classified(3000, 1), regressed(3000, 2)
    versions = {
        "clf": registry.register(
            LogisticRegression().fit(clf_train[FEATURES], clf_train.y), "clf", clf_train[FEATURES]
        ),
        "reg": registry.register(
            Ridge().fit(reg_train[FEATURES], reg_train.y), "reg", reg_train[FEATURES]
        ),
    }
    # the champion: a more regularised fit of the same data
    champion = registry.register(
        LogisticRegression(C=0.01).fit(clf_train[FEATURES], clf_train.y), "clf", clf_train[FEATURES]
    )
    registry.set_alias("clf", "production", champion)
    classified(rows, 3).to_parquet(root / "clf.parquet", row_group_size=rows // 3 + 1)
    regressed(rows, 4).to_parquet(root / "reg.parquet", row_group_size=rows // 4 + 1)
    features(5000, 9).to_parquet(root / "reference.parquet")
    return World(root, registry, versions)


def gate(pytester: pytest.Pytester, world: World, model: str, suite: Path, *extra: str) -> Any:
    """Run the suite; its JSON report's items by name: (value, interval, verdict), and the
    run's outcome."""
    report = suite.parent / "report.json"
    result = pytester.runpytest(
        str(suite), *world.args(model), "--gate-report", str(report), "-p", "no:xdist", *extra
    )
    items = json.loads(report.read_text())["items"]
    figures = {
        i["nodeid"].split("::")[-1]: (
            (i["result"] or {}).get("value"),
            (i["result"] or {}).get("interval"),
            (i["result"] or {}).get("verdict"),
        )
        for i in items
    }
    return result, figures


def assert_agree(memory: dict[str, Any], other: dict[str, Any], share: float) -> None:
    """The same items, verdicts and point values (within 1e-9, binned ROC AUC within 1e-3);
    each interval end within ``share`` of the in-memory interval's width (the in-memory
    bootstrap draws a multinomial, the engines Poisson weights: Monte-Carlo error apart)."""
    assert memory.keys() == other.keys()
    for name, (value, interval, verdict) in memory.items():
        o_value, o_interval, o_verdict = other[name]
        assert o_verdict == verdict, name
        if value is None:
            continue
        close = 1e-3 if "roc_auc" in name else 1e-9
        assert abs(o_value - value) <= close * max(1.0, abs(value)), name
        if interval and interval[0] is not None:
            width = interval[1] - interval[0]
            assert abs(o_interval[0] - interval[0]) <= share * width + 1e-12, name
            assert abs(o_interval[1] - interval[1]) <= share * width + 1e-12, name


def assert_identical(one: dict[str, Any], two: dict[str, Any]) -> None:
    """The same draws: the same figures up to the order of floating-point sums."""
    assert one.keys() == two.keys()
    for name in one:
        for a, b in zip(one[name][:2], two[name][:2], strict=True):
            np.testing.assert_allclose(
                np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=1e-12
            )
        assert one[name][2] == two[name][2], name
