"""``modelgate init`` writes a suite that runs as written, for string classes too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from pytest_modelgate.cli.main import main

from .conftest import ScratchRegistry, eval_frame


def test_init_on_string_classes_writes_a_fairness_gate_that_runs(
    pytester: pytest.Pytester, registry: ScratchRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    X = pd.DataFrame({"a": [0.0, 1.0] * 20})
    model = DecisionTreeClassifier(random_state=0).fit(X, np.where(X.a == 1, "good", "bad"))
    version = registry.register(model, "m", X)
    frame = eval_frame(400, {"a": 0.05})
    frame["y"] = np.where(frame.y == 1, "good", "bad")
    frame["sex"] = ["female", "male"] * 200
    frame.to_csv(pytester.path / "eval.csv", index=False)

    status = main(["init", "m", "--data", str(pytester.path / "eval.csv"), "--target", "y",
                   "--sensitive", "sex", "--tracking-uri", registry.uri,
                   "--root", str(pytester.path)])  # fmt: skip
    assert status == 0
    said = capsys.readouterr().out
    assert "the fairness gate counts 'good' (the larger of the two labels)" in said
    assert 'pos_label: "good"' in (pytester.path / "gates" / "m.yaml").read_text()

    result = pytester.runpytest("gates", *registry.args("m", version), "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["PASSED*fairness[[]demographic_parity_difference@sex[]]*"])
    result.stdout.no_fnmatch_line("*could not run*")
