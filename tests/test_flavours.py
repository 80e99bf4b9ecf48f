"""Every common flavour gated on its probabilities: XGBoost and LightGBM (scikit-learn API and
raw Boosters, string classes too), CatBoost, and a pyfunc that answers one probability column
per class, each by accuracy (ROC AUC, log loss, Brier), calibration, robustness with a
probability shift, latency, and against a champion of another flavour (scikit-learn); a
regressor of each booster; a flavour without an adapter said so once; and a LightGBM version
promoted and served, answering the probabilities the gates computed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer, load_diabetes

from pytest_modelgate.candidate.adapters import load_model

from .conftest import ScratchRegistry, write_suite

PROBABILITY_SUITE = """
model: m
data: {{path: eval.csv}}
target: y
gates:
  accuracy:
    resamples: 200
    metrics:
      accuracy: {{min: 0.85}}
      roc_auc: {{min: 0.9}}
      log_loss: {{max: 0.5}}
      brier_score_loss: {{max: 0.15{pos}}}
  calibration:
    resamples: 200
    bins: 5
    metrics:
      ece: {{max: 0.25}}
  robustness:
    seed: 0
    examples: 10
    noise: {{relative: 0.01, max_flip_rate: 0.1, max_prob_shift: 0.95}}
    edge_inputs: {{timeout_s: 60}}
  latency:
    warmup: 3
    repeats: 3
    calls: 20
    batches:
      - {{size: 1, p99_ms: 5000}}
"""
# the same gates against a champion (the version 'production' pins) of another flavour
VERSUS = {
    "      roc_auc: {{min: 0.9}}": "      roc_auc: {{min: 0.9, max_drop: 0.1}}",
    "      ece: {{max: 0.25}}": "      ece: {{max: 0.25, max_increase: 0.25}}",
}
REGRESSION_SUITE = """
model: m
data: {path: eval.csv}
target: y
gates:
  accuracy:
    resamples: 200
    metrics:
      r2: {min: 0.2}
"""


def cancer(labels: tuple[Any, Any] = (0, 1)) -> tuple[pd.DataFrame, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:, :8].rename(columns=lambda c: c.replace(" ", "_"))
    return X, np.where(data.target.to_numpy() == 1, labels[1], labels[0])


@contextmanager
def run_in(registry: ScratchRegistry) -> Iterator[None]:
    """An MLflow run in this test's own registry (MLflow keeps its URIs and its active
    experiment in process globals, which earlier tests set to their registries)."""
    mlflow.set_tracking_uri(registry.uri)
    mlflow.set_registry_uri(registry.uri)
    experiment = mlflow.set_experiment("flavours")
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        yield


def log(registry: ScratchRegistry, flavour: str, model: Any, X: pd.DataFrame, out: Any) -> int:
    """Log ``model`` with MLflow's own flavour and register it, as its team would."""
    import importlib

    with run_in(registry):
        info = importlib.import_module(f"mlflow.{flavour}").log_model(
            model, name="model", signature=infer_signature(X, out),
            registered_model_name="m", pip_requirements=[flavour.replace("xgboost", "xgboost-cpu")],
        )  # fmt: skip
    return int(info.registered_model_version)


def gate(pytester: pytest.Pytester, registry: ScratchRegistry, version: int, frame: pd.DataFrame,
         suite: str) -> pytest.RunResult:  # fmt: skip
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, suite)
    return pytester.runpytest(*registry.args("m", version), "-p", "no:cacheprovider")


def xgb_classifier(X: pd.DataFrame, y: np.ndarray) -> tuple[Any, Any]:
    import xgboost

    model = xgboost.XGBClassifier(n_estimators=30, max_depth=3).fit(X, y)
    return model, model.predict(X)


def xgb_booster(X: pd.DataFrame, y: np.ndarray) -> tuple[Any, Any]:
    import xgboost

    params = {"objective": "binary:logistic", "max_depth": 3}
    booster = xgboost.train(params, xgboost.DMatrix(X, label=y), num_boost_round=30)
    return booster, booster.predict(xgboost.DMatrix(X))


def lgbm_classifier(X: pd.DataFrame, y: np.ndarray) -> tuple[Any, Any]:
    import lightgbm

    model = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
    return model, model.predict(X)


def lgbm_booster(X: pd.DataFrame, y: np.ndarray) -> tuple[Any, Any]:
    import lightgbm

    params = {"objective": "binary", "verbose": -1}
    booster = lightgbm.train(params, lightgbm.Dataset(X, label=y), num_boost_round=30)
    return booster, booster.predict(X)


def catboost_classifier(X: pd.DataFrame, y: np.ndarray) -> tuple[Any, Any]:
    import catboost

    model = catboost.CatBoostClassifier(iterations=30, verbose=False, allow_writing_files=False)
    model.fit(X, y)
    return model, model.predict(X)


CLASSIFIERS: dict[str, tuple[str, Callable[..., tuple[Any, Any]], tuple[Any, Any], str]] = {
    "xgboost-sklearn-api": ("xgboost", xgb_classifier, (0, 1), "xgboost XGBClassifier"),
    "xgboost-booster": ("xgboost", xgb_booster, (0, 1), "xgboost Booster"),
    "lightgbm-string-classes": (
        "lightgbm",
        lgbm_classifier,
        ("malignant", "benign"),
        "lightgbm LGBMClassifier",
    ),
    "lightgbm-booster": ("lightgbm", lgbm_booster, (0, 1), "lightgbm Booster"),
    "catboost": ("catboost", catboost_classifier, (0, 1), "catboost CatBoostClassifier"),
}


@pytest.mark.parametrize("kind", list(CLASSIFIERS))
def test_a_booster_flavour_is_gated_on_its_probabilities(
    pytester: pytest.Pytester, registry: ScratchRegistry, kind: str
) -> None:
    flavour, train, labels, adapter = CLASSIFIERS[kind]
    X, y = cancer(labels)
    champion = sklearn_champion(registry, X.iloc[::2], y[::2])
    model, out = train(X.iloc[::2], y[::2])
    version = log(registry, flavour, model, X, out)
    pos = ", params: {pos_label: benign}" if isinstance(labels[1], str) else ""
    frame = X.iloc[1::2].assign(y=y[1::2])
    suite = PROBABILITY_SUITE
    for plain, versus in VERSUS.items():
        suite = suite.replace(plain, versus)
    result = gate(pytester, registry, version, frame, suite.format(pos=pos))
    result.stdout.no_fnmatch_line("*could not run*")
    result.stdout.fnmatch_lines(
        [f"candidate m v{version} ({adapter})*champion (production) m v{champion}*"]
    )
    outcomes = item_outcomes(result)
    for item in ("accuracy[roc_auc]", "accuracy[roc_auc-vs-champion]", "accuracy[log_loss]",
                 "calibration[ece]", "calibration[ece-vs-champion]",
                 "robustness[noise]", "latency[batch-1]"):  # fmt: skip
        assert outcomes.get(item) == "PASSED", (item, result.stdout.str())
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


def sklearn_champion(registry: ScratchRegistry, X: pd.DataFrame, y: np.ndarray) -> int:
    """A scikit-learn pipeline as the version 'production' pins: the champion."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    version = registry.register(champion, "m", X)
    registry.set_alias("m", "production", version)
    return version


def item_outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Each gate item's status from the gate table (``STATUS  kind[item]  value ...``)."""
    statuses = ("PASSED", "FAILED", "INCONCLUSIVE", "ERROR", "SKIPPED", "ADVISORY")
    found = {}
    for line in result.stdout.lines:
        parts = line.split()
        if len(parts) > 1 and parts[0] in statuses and "[" in parts[1]:
            found[parts[1]] = parts[0]
    return found


class ClassProbabilities(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A plain PythonModel answering one probability column per class, as many teams write
    (in the order its author chose)."""

    def __init__(self, order: list[str]) -> None:
        self.order = order

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        radius = np.nan_to_num(model_input["mean_radius"].to_numpy(dtype=float), nan=15.0)
        p = 1 / (1 + np.exp(-np.clip(radius - 15.0, -50, 50)))
        return pd.DataFrame({"0": p, "1": 1 - p})[self.order]


@pytest.mark.parametrize("order", [["0", "1"], ["1", "0"]])
def test_a_pyfunc_answering_a_probability_column_per_class_is_gated_on_them(
    pytester: pytest.Pytester, registry: ScratchRegistry, order: list[str]
) -> None:
    X, y = cancer()
    out = pd.DataFrame({name: np.full(len(X), 0.5) for name in order})
    with run_in(registry):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=ClassProbabilities(order), registered_model_name="m",
            signature=infer_signature(X, out), pip_requirements=["pandas"],
            input_example=X.head(2),
        )  # fmt: skip
    frame = X.assign(y=y)
    suite = PROBABILITY_SUITE.format(pos="").replace("min: 0.85", "min: 0.8")
    result = gate(pytester, registry, int(info.registered_model_version), frame, suite)
    result.stdout.no_fnmatch_line("*could not run*")
    result.stdout.fnmatch_lines(["PASSED*accuracy[[]roc_auc[]]*"])
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


class Labels(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return (model_input["mean_radius"].to_numpy() < 15).astype(int)


def test_a_flavour_without_an_adapter_is_called_through_its_pyfunc_and_says_so(
    tmp_path: Path,
) -> None:
    mlflow.pyfunc.save_model(tmp_path / "m", python_model=Labels(), pip_requirements=["pandas"])
    loaded = load_model(str(tmp_path / "m"), ["onnx", "python_function"])
    assert loaded.adapter == "pyfunc"
    assert loaded.note is not None
    assert "flavour onnx has no adapter" in loaded.note
    assert not hasattr(loaded.model, "predict_proba")


@pytest.mark.parametrize("flavour", ["xgboost", "lightgbm"])
def test_a_booster_regressor_is_gated_on_its_numbers(
    pytester: pytest.Pytester, registry: ScratchRegistry, flavour: str
) -> None:
    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target.to_numpy()
    if flavour == "xgboost":
        import xgboost

        model = xgboost.XGBRegressor(n_estimators=40, max_depth=2).fit(X.iloc[::2], y[::2])
    else:
        import lightgbm

        model = lightgbm.LGBMRegressor(n_estimators=40, verbose=-1).fit(X.iloc[::2], y[::2])
    version = log(registry, flavour, model, X, model.predict(X))
    result = gate(pytester, registry, version, X.iloc[1::2].assign(y=y[1::2]), REGRESSION_SUITE)
    result.stdout.fnmatch_lines(["PASSED*accuracy[[]r2[]]*"])
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


def test_each_adapter_says_how_it_calls_the_model(tmp_path: Path) -> None:
    import xgboost

    X, y = cancer()
    booster, _ = xgb_booster(X, y)
    mlflow.xgboost.save_model(booster, tmp_path / "booster")
    loaded = load_model(str(tmp_path / "booster"), ["xgboost", "python_function"])
    assert loaded.adapter == "xgboost Booster"
    assert list(loaded.model.classes_) == [0, 1]
    proba = loaded.model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba[:, 1], booster.predict(xgboost.DMatrix(X)), rtol=1e-6)
    regressor = xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(X, label=y), 5)
    mlflow.xgboost.save_model(regressor, tmp_path / "regressor")
    numbers = load_model(str(tmp_path / "regressor"), ["xgboost"]).model
    assert not hasattr(numbers, "predict_proba")
    assert numbers.predict(X).shape == (len(X),)


@pytest.mark.slow
def test_a_lightgbm_version_promoted_and_served_answers_the_probabilities_it_was_gated_on(
    pytester: pytest.Pytester, registry: ScratchRegistry, bentoml_home: Path, tmp_path: Path
) -> None:
    from pytest_modelgate.bento.loopback import post, served

    X, y = cancer(("malignant", "benign"))
    model, out = lgbm_classifier(X.iloc[::2], y[::2])
    version = log(registry, "lightgbm", model, X, out)
    frame = X.iloc[1::2].assign(y=y[1::2])
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, PROBABILITY_SUITE.format(pos=", params: {pos_label: benign}"))
    args = [*registry.args("m", version), "-p", "no:cacheprovider", "--promote", "staging"]
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    # the numbers the gates judged: the adapter's, on the model files the run downloaded
    gated = load_model(f"models:/m/{version}", ["lightgbm", "python_function"]).model
    rows = frame.drop(columns="y").head(5)
    expected = gated.predict_proba(rows)
    classes = list(gated.classes_)
    with served("staging", "m", registry.uri, tmp_path / "serve.log", root=pytester.path) as url:
        status, info = post(f"{url}/model_info", {})
        assert status == 200, info
        assert (info["version"], info["flavour"], info["adapter"], info["probabilities"]) == (
            version,
            "lightgbm",
            "lightgbm LGBMClassifier",
            True,
        )
        records = rows.to_dict(orient="records")
        status, labels = post(f"{url}/predict", {"rows": records})
        assert status == 200, labels
        assert labels == list(gated.predict(rows))
        status, probabilities = post(f"{url}/predict_proba", {"rows": records})
        assert status == 200, probabilities
        for answer, row in zip(probabilities, expected, strict=True):
            for label, value in zip(classes, row, strict=True):
                assert answer[label] == pytest.approx(value, abs=1e-9)
        status, body = post(f"{url}/predict", {"rows": [{**records[0], "mean_radius": "big"}]})
        assert status == 400, body
