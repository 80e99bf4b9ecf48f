"""Train and register the reference models: the iris logistic regression and a credit-risk
classifier on the German credit data. Each call registers a new version and returns it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate.reference import datasets

if TYPE_CHECKING:
    import pandas as pd

EXPERIMENT = "modelgate-reference"
CREDIT_CATEGORICAL = ["sex", "housing", "saving_accounts", "checking_account", "purpose"]
CREDIT_NUMERIC = ["job", "credit_amount", "duration", "age"]


@dataclass(frozen=True)
class Registered:
    name: str
    version: int
    run_id: str


def iris_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def credit_model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CREDIT_CATEGORICAL),
            ("numeric", StandardScaler(), CREDIT_NUMERIC),
        ]
    )
    return Pipeline([("features", features), ("classifier", LogisticRegression(max_iter=1000))])


# name -> (dataset, feature columns or None for all but the target, estimator factory)
REFERENCE_MODELS: dict[str, tuple[str, list[str] | None, Callable[[], Any]]] = {
    "iris": ("iris", None, iris_model),
    "credit-risk": ("german-credit", CREDIT_CATEGORICAL + CREDIT_NUMERIC, credit_model),
}


def pip_requirements() -> list[str]:
    """Pinned from the running environment, so logging does not spend seconds inferring them."""
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "numpy", "pandas", "scipy")]


def trusted_types(estimator: Any) -> list[str]:
    """MLflow stores sklearn models with skops, which refuses types it does not know (trees,
    custom functions). We trust what we just fitted ourselves, and say so type by type."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(estimator)))


def experiment_id(client: Any, artifact_root: Path | None) -> str:
    """The reference experiment, with artifacts kept where we say (not in the cwd)."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = artifact_root.resolve().as_uri() if artifact_root is not None else None
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))


def log_and_register(
    estimator: Any,
    name: str,
    train: pd.DataFrame,
    *,
    tracking_uri: str,
    artifact_root: Path | None = None,
    params: dict[str, Any] | None = None,
) -> Registered:
    """Log a fitted estimator with its signature and register it as a new version."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; the schema gate's
        # malformed-input probe checks exactly how the served model refuses a null
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column")
        signature = infer_signature(train, estimator.predict(train.head(5)))
    with mlflow.start_run(experiment_id=experiment_id(client, artifact_root)) as run:
        mlflow.log_params(params or {})
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            registered_model_name=name,
            signature=signature,
            pip_requirements=pip_requirements(),
            skops_trusted_types=trusted_types(estimator),
        )
    return Registered(name, int(info.registered_model_version), run.info.run_id)


def train_reference(
    name: str, *, tracking_uri: str, artifact_root: Path | None = None
) -> Registered:
    """Fit a reference model on its dataset's train split and register a new version."""
    dataset, features, factory = REFERENCE_MODELS[name]
    frame = datasets.load(dataset, "train")
    target = datasets.target_of(dataset)
    X = frame[features] if features else frame.drop(columns=[target])
    estimator = factory().fit(X, frame[target])
    return log_and_register(
        estimator,
        name,
        X,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        params={"dataset": dataset, "rows": len(frame)},
    )
