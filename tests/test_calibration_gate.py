"""The calibration gate: a deliberately overconfident model with exactly the calibrated model's
accuracy passes the accuracy gate and fails calibration, alone and against the champion."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from .conftest import ScratchRegistry, write_suite
from .flawed_models import SigmoidClassifier

SUITE = """
model: m
data: {path: eval.csv}
target: y
gates:
  accuracy:
    resamples: 300
    metrics:
      accuracy: {min: 0.6}
  calibration:
    resamples: 300
    on_missing_champion: pass
    metrics:
      ece: {max: 0.06, max_increase: 0.02}
      brier: {max: 0.22}
"""


@pytest.fixture
def models(pytester: pytest.Pytester, registry: ScratchRegistry) -> tuple[int, int]:
    """P(y = 1 | a) = sigmoid(4 (a - 0.5)): v1 says exactly that (calibrated), v2 says
    sigmoid(40 (a - 0.5)) (overconfident). Both predict 1 exactly when a > 0.5: the same
    labels, so the same accuracy."""
    train = pd.DataFrame({"a": np.linspace(0, 1, 20)})
    versions = tuple(
        registry.register(SigmoidClassifier("a", 0.5, scale).fit(train, [0, 1] * 10), "m", train)
        for scale in (4.0, 40.0)
    )
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 1500)
    y = (rng.uniform(size=a.size) < 1 / (1 + np.exp(-4 * (a - 0.5)))).astype(int)
    pd.DataFrame({"a": a, "y": y}).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE)
    return versions  # type: ignore[return-value]


def items(pytester: pytest.Pytester, name: str) -> dict[str, dict]:
    report = json.loads((pytester.path / name).read_text())
    return {i["nodeid"].split("::")[-1]: i for i in report["items"]}


def test_a_calibrated_model_passes_and_a_miscalibrated_one_with_its_accuracy_fails(
    pytester, registry, models
):
    calibrated, overconfident = models
    good = pytester.runpytest(*registry.args("m", calibrated), "--gate-report", "good.json")
    good.assert_outcomes(passed=4)
    registry.set_alias("m", "production", calibrated)
    bad = pytester.runpytest(
        *registry.args("m", overconfident), "--gate-report", "bad.json", "--gate-html", "bad.html"
    )
    bad.assert_outcomes(passed=1, failed=3)
    ours, theirs = items(pytester, "bad.json"), items(pytester, "good.json")
    assert (
        ours["accuracy[accuracy]"]["result"]["value"]
        == theirs["accuracy[accuracy]"]["result"]["value"]
    )
    ece = ours["calibration[ece]"]["result"]
    assert ece["value"] > 0.15 > 0.06 > theirs["calibration[ece]"]["result"]["value"]
    assert ece["details"]["judged"] == "P(class 1)"
    bins = ece["details"]["reliability"]
    assert sum(b["rows"] for b in bins) == 1500
    assert len(bins) == 10
    bad.stdout.fnmatch_lines(
        [
            "*expected calibration error of P(class 1) = 0.* [[]*]: upper bound of the * interval * "
            "is above max 0.06, and so is the whole * interval*Calibrate the model*",
            "*candidate m v2 expected calibration error 0.*, champion m v1 0.0*; increase +0.*: the "
            "increase's whole * interval * exceeds max_increase 0.02*",
        ]
    )
    html = (pytester.path / "bad.html").read_text()
    assert html.index('id="forest-plot"') < html.index('id="gate-table"')
    assert '<img alt="Reliability: calibration[ece]"' in html


def test_calibration_needs_probabilities_and_says_so(pytester, registry):
    from sklearn.svm import LinearSVC

    X = pd.DataFrame({"a": np.linspace(0, 1, 40)})
    version = registry.register(LinearSVC().fit(X, [0] * 20 + [1] * 20), "m", X)
    X.assign(y=[0] * 20 + [1] * 20).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE)
    result = pytester.runpytest(*registry.args("m", version), "-k", "calibration")
    result.stdout.fnmatch_lines(
        ["*calibration[[]ece[]] needs predicted probabilities, but m v1 gives none (it has no "
         "predict_proba)*"]
    )  # fmt: skip
