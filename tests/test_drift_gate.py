"""The drift gate: eval data against a training reference, one PSI per feature."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .conftest import copy_column_model, write_suite

SUITE = """
model: m
data: {{path: eval.csv}}
target: y
features: [a, b, colour]
gates:
  drift:
    reference: {{path: train.csv}}
    {extra}
"""


def frame(rows: int, seed: int, shift: float = 0.0, red: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": rng.integers(0, 2, rows),
            "a": rng.normal(shift, 1.0, rows),
            "b": rng.uniform(0, 1, rows),
            "colour": np.where(rng.uniform(size=rows) < red, "red", "blue"),
        }
    )


def _setup(pytester, registry, eval_data: pd.DataFrame, extra: str = "max_psi: 0.25") -> list[str]:
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    frame(2000, seed=1).to_csv(pytester.path / "train.csv", index=False)
    eval_data.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE.format(extra=extra))
    return registry.args("m", version)


def test_eval_data_from_the_training_distribution_passes(pytester, registry):
    args = _setup(pytester, registry, frame(500, seed=2))
    result = pytester.runpytest(*args, "--gate-report", "report.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PASSED  drift[[]psi[]]*max_psi 0.25*"])
    item = json.loads((pytester.path / "report.json").read_text())["items"][0]["result"]
    assert set(item["details"]["features"]) == {"a", "b", "colour"}
    assert item["value"] < 0.1


def test_shifted_features_fail_naming_each_drifted_feature_with_its_psi(pytester, registry):
    args = _setup(pytester, registry, frame(500, seed=2, shift=1.0, red=0.9))
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: drift[[]psi[]]*",
            "*eval.csv (500 rows) vs *train.csv (2000 rows), 10 bins: a (PSI *), colour (PSI *) "
            "drifted past max_psi 0.25. Every feature: a *, b 0.0*, colour *",
        ]
    )


def test_a_reference_without_the_features_is_an_error_naming_them(pytester, registry):
    args = _setup(pytester, registry, frame(100, seed=2), extra="features: [a, z]")
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*drift reference *train.csv (suite *suite.yaml:7) lacks z; columns: y, a, b, colour*"]
    )


def test_malformed_drift_section_is_rejected_with_file_and_line(pytester, registry):
    args = _setup(pytester, registry, frame(100, seed=2), extra="max_psi: -1")
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(["*suite.yaml:8: gates.drift.max_psi: expected a number > 0*"])
