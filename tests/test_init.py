"""``modelgate init`` writes a suite that runs as written, for string classes too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from pytest_modelgate.cli.main import main
from pytest_modelgate.promotion.path import DEFAULT_PATH, load_path

from .conftest import ScratchRegistry, eval_frame

ACTIONLINT = Path(sys.executable).with_name("actionlint")


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


def test_init_writes_one_promotion_job_per_environment_of_the_declared_path(
    pytester: pytest.Pytester, registry: ScratchRegistry
) -> None:
    X = pd.DataFrame({"a": [0.0, 1.0] * 20})
    registry.register(DecisionTreeClassifier().fit(X, X.a.astype(int)), "m", X)
    eval_frame(40, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    pytester.makepyprojecttoml(
        """
        [[tool.modelgate.path]]
        env = "dev"
        [[tool.modelgate.path]]
        env = "uat"
        guard = {url = "${UAT_URL}", interval = "10s", looks = 6}
        [[tool.modelgate.path]]
        env = "production"
        approval = true
        model = "m-prod"
        tracking_uri = "${PROD_MLFLOW}"
        """
    )
    args = ["init", "m", "--data", str(pytester.path / "eval.csv"), "--target", "y",
            "--tracking-uri", registry.uri, "--root", str(pytester.path)]  # fmt: skip
    assert main(args) == 0
    assert not (pytester.path / "modelgate.yaml").exists()  # the project declares its own
    workflow = (pytester.path / ".github" / "workflows" / "model-promote.yml").read_text()
    assert "options: [dev, uat, production]" in workflow
    jobs = workflow.split("\njobs:\n", 1)[1]
    assert [line.strip(" :") for line in jobs.splitlines() if line.startswith("  ") and
            not line.startswith("   ")] == ["dev", "uat", "production"]  # fmt: skip
    assert "needs: uat\n" in jobs
    assert jobs.count("environment: ") == 3  # a GitHub environment per job
    assert jobs.count("MODELGATE_APPROVAL: reviewers of the production environment") == 1
    # production's registry comes from its GitHub environment's secret of the same name
    assert jobs.count("PROD_MLFLOW: ${{ secrets.PROD_MLFLOW }}") == 1
    assert """if: contains(fromJSON('["uat", "production"]'), inputs.target)""" in jobs
    # uat's live guard runs in its job, its endpoint from that environment's secret
    assert jobs.count("run: modelgate guard uat --model-name m\n") == 1
    assert jobs.count("UAT_URL: ${{ secrets.UAT_URL }}") == 1
    linted = subprocess.run([str(ACTIONLINT), "-"], input=workflow, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_init_writes_the_default_path_where_the_project_declares_none(
    pytester: pytest.Pytester, registry: ScratchRegistry
) -> None:
    X = pd.DataFrame({"a": [0.0, 1.0] * 20})
    registry.register(DecisionTreeClassifier().fit(X, X.a.astype(int)), "m", X)
    eval_frame(40, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    args = ["init", "m", "--data", str(pytester.path / "eval.csv"), "--target", "y",
            "--tracking-uri", registry.uri, "--root", str(pytester.path)]  # fmt: skip
    assert main(args) == 0
    assert load_path(pytester.path).envs == DEFAULT_PATH.envs
    assert load_path(pytester.path).source == str(pytester.path / "modelgate.yaml")
