"""Gates that hold on any model: regressors on sklearn's diabetes data, classifiers with string
and integer labels, binary and multiclass, with and without predict_proba."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

# imported once here: pytester's in-process runs would re-register pandera's accessor
import pandera.pandas  # noqa: F401
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from pytest_modelgate.stats.metrics import LABEL_METRICS, REGRESSION_METRICS

from .conftest import ScratchRegistry, assert_verdicts, write_suite

DIABETES = """
model: diabetes
data: {path: eval.csv}
target: progression
features: [age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]
sensitive: [sex_group]
gates:
  accuracy:
    resamples: 300
    on_missing_champion: pass
    metrics:
      rmse: {max: 80, max_drop: 25}
      mae: {max: 70}
      r2: {min: 0.1}
      mape: {max: 0.8}
  schema:
    columns: {age: float64, sex: float64, bmi: float64, bp: float64, s1: float64, s2: float64,
              s3: float64, s4: float64, s5: float64, s6: float64}
  robustness:
    seed: 1
    examples: 10
    rows: 60
    noise: {relative: 0.01, max_output_shift: 2.0}
    monotonic: {features: {bmi: increasing}}
  fairness:
    resamples: 300
    metrics:
      mae_every_group: {metric: mae, group_max: 80}
"""


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X.astype("float64"), y


def _diabetes_project(
    pytester, registry: ScratchRegistry, diabetes, suite: str = DIABETES
) -> list[int]:
    """Ridge (v1, the champion) and gradient boosting (v2), fitted on the first 300 rows."""
    X, y = diabetes
    train = X.iloc[:300]
    versions = [
        registry.register(Ridge(alpha=0.1).fit(train, y.iloc[:300]), "diabetes", train),
        registry.register(
            GradientBoostingRegressor(n_estimators=40, random_state=0).fit(train, y.iloc[:300]),
            "diabetes",
            train,
        ),
    ]
    registry.set_alias("diabetes", "production", versions[0])
    frame = X.iloc[300:].assign(progression=y.iloc[300:].to_numpy())
    frame["sex_group"] = np.where(frame["sex"] > 0, "m", "f")
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, suite)
    return versions


def _items(pytester) -> dict[str, dict]:
    report = json.loads((pytester.path / "report.json").read_text())
    return {i["nodeid"].split("::")[-1]: i for i in report["items"]}


def test_a_ridge_regressor_is_gated_on_errors_numeric_outputs_and_output_shift(
    pytester, registry, diabetes
):
    ridge, _ = _diabetes_project(pytester, registry, diabetes)
    result = pytester.runpytest(*registry.args("diabetes", ridge), "--gate-report", "report.json")
    assert_verdicts(result, passed=12)
    items = _items(pytester)
    rmse = items["accuracy[rmse]"]["result"]
    assert rmse["value"] == pytest.approx(52.76, abs=0.01)  # un-negated, sklearn's RMSE
    assert rmse["interval"][0] < rmse["value"] < rmse["interval"][1] < 80
    assert items["accuracy[r2]"]["result"]["details"]["direction"] == "higher is better"
    output = items["schema[output]"]["result"]
    assert output["details"]["task"] == "regression"
    assert output["message"] == "142 finite predictions of type float64"
    noise = items["robustness[noise]"]["result"]
    assert noise["metric"] == "output shift under noise"
    assert 0 < noise["value"] < 2.0
    assert items["fairness[mae_every_group@sex_group]"]["result"]["verdict"] == "pass"


def test_gradient_boosting_against_the_ridge_champion_and_label_metrics_refused(
    pytester, registry, diabetes
):
    suite = DIABETES.replace(
        "      mape: {max: 0.8}\n", "      mape: {max: 0.8}\n      accuracy: {min: 0.5}\n"
    )
    _, boosted = _diabetes_project(pytester, registry, diabetes, suite)
    result = pytester.runpytest(*registry.args("diabetes", boosted), "--gate-report", "report.json")
    items = _items(pytester)
    versus = items["accuracy[rmse-vs-champion]"]["result"]
    assert versus["champion_version"] == 1
    assert versus["champion_value"] == pytest.approx(52.76, abs=0.01)
    assert versus["verdict"] == "pass"
    # a label metric on a regressor is an error that says what to use instead
    assert items["accuracy[accuracy]"]["outcome"] == "failed"
    result.stdout.fnmatch_lines(
        [
            "*accuracy[[]accuracy[]] could not run: metric 'accuracy' scores class labels, but "
            f"diabetes v2 is a regressor (scikit-learn calls the model a regressor): use a "
            f"regression metric such as {', '.join(REGRESSION_METRICS)}*"
        ]
    )
    # trees answer in steps: monotonicity in bmi does not hold for the boosted model
    assert items["robustness[monotonic-bmi]"]["outcome"] == "failed"


CLASSIFIER = """
model: m
data: {{path: eval.csv}}
target: y
gates:
  accuracy:
    resamples: 200
    metrics:
{metrics}
  schema:
    columns: {{a: float64, b: float64}}
    labels: {labels}
  robustness:
    examples: 10
    rows: 50
    noise: {{relative: 0.01, max_flip_rate: 0.2}}
"""


def _labelled(kind: str, n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    score = X["a"] + 0.5 * X["b"] + rng.normal(scale=0.3, size=n)
    if kind == "strings, three classes":
        y = np.where(score < -0.5, "low", np.where(score < 0.5, "mid", "high"))
    elif kind == "integers, three classes":
        y = np.where(score < -0.5, 0, np.where(score < 0.5, 1, 2))
    elif kind == "strings, two classes":
        y = np.where(score > 0, "yes", "no")
    else:
        y = (score > 0).astype(int)
    return X, y


@pytest.mark.parametrize(
    ("kind", "estimator", "metrics", "expected"),
    [
        pytest.param(
            "strings, three classes",
            LogisticRegression(max_iter=500),
            "      accuracy: {min: 0.6}\n      f1_macro: {min: 0.6}\n"
            "      roc_auc_ovr: {min: 0.7}\n      log_loss: {max: 1.0}",
            {"passed": 9},
            id="string-labels-multiclass-with-probabilities",
        ),
        pytest.param(
            "integers, three classes",
            DecisionTreeClassifier(max_depth=3, random_state=0),
            "      balanced_accuracy: {min: 0.5}\n      log_loss: {max: 5}",
            {"passed": 7},
            id="integer-labels-multiclass-with-probabilities",
        ),
        pytest.param(
            "integers, two classes",
            LinearSVC(),
            "      accuracy: {min: 0.7}\n      f1: {min: 0.7}\n      roc_auc: {min: 0.7}",
            {"passed": 7, "failed": 1},
            id="integer-labels-binary-without-probabilities",
        ),
        pytest.param(
            "strings, two classes",
            DecisionTreeClassifier(max_depth=3, random_state=0),
            "      f1: {min: 0.6}\n"
            "      f1_yes: {metric: f1_score, params: {pos_label: 'yes'}, min: 0.6}\n"
            "      f1_unquoted: {metric: f1_score, params: {pos_label: yes}, min: 0.6}",
            {"passed": 6, "failed": 2},
            id="string-labels-binary-with-probabilities",
        ),
    ],
)
def test_classifiers_of_every_label_kind_keep_their_gates(
    pytester, registry, kind, estimator, metrics, expected
):
    X, y = _labelled(kind)
    model = estimator.fit(X.iloc[:200], y[:200])
    version = registry.register(model, "m", X.iloc[:200])
    X.iloc[200:].assign(y=y[200:]).to_csv(pytester.path / "eval.csv", index=False)
    labels = json.dumps(sorted(np.unique(y).tolist()))
    write_suite(pytester.path, CLASSIFIER.format(metrics=metrics, labels=labels))
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    assert_verdicts(result, **expected)
    items = _items(pytester)
    assert items["schema[output]"]["outcome"] == "passed"
    if kind == "integers, two classes":  # LinearSVC: labels only
        assert items["accuracy[roc_auc]"]["outcome"] == "failed"
        result.stdout.fnmatch_lines(
            [
                "*metric 'roc_auc' needs predicted probabilities, but m v1 gives none (it has no "
                f"predict_proba); metrics of its labels it can have instead: {', '.join(LABEL_METRICS)}*"
            ]
        )
    if kind == "strings, two classes":  # f1 is binary with pos_label=1 by default
        result.stdout.fnmatch_lines(
            ["*metric 'f1' (f1) cannot score m v1's outputs: *pos_label*name the positive class "
             "with params: {pos_label: ...} (labels: no, yes) or use a macro average*"]
        )  # fmt: skip
        assert items["accuracy[f1_yes]"]["outcome"] == "passed"
        result.stdout.fnmatch_lines(  # YAML 1.1 reads an unquoted yes as true
            ["*metric 'f1_score' (f1_unquoted) cannot score m v1's outputs: pos_label=True*"
             "YAML reads an unquoted yes/no/on/off/true/false as the boolean True: quote the "
             "label, for example pos_label: 'yes'*"]
        )  # fmt: skip
