"""Shared test helpers: a throwaway sqlite registry and models whose errors we control."""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# import the heavy libraries once, so pytester's in-process runs do not re-import them
import mlflow
import mlflow.sklearn
import mlflow.store.model_registry.sqlalchemy_store
import mlflow.store.tracking.sqlalchemy_store
import numpy as np
import pandas as pd
import pandera.pandas  # noqa: F401  (re-imported, it warns that it re-registers its accessor)
import pytest
import sklearn.metrics  # noqa: F401
from sklearn.tree import DecisionTreeClassifier

from pytest_modelgate.reference.models import log_and_register


@dataclass
class ScratchRegistry:
    """A sqlite MLflow registry in a temporary directory."""

    root: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.root / 'registry.db'}"

    def register(self, estimator: Any, name: str, X: pd.DataFrame) -> int:
        registered = log_and_register(
            estimator, name, X, tracking_uri=self.uri, artifact_root=self.root / "artifacts"
        )
        return registered.version

    def set_alias(self, name: str, alias: str, version: int) -> None:
        mlflow.MlflowClient(self.uri, self.uri).set_registered_model_alias(
            name, alias, str(version)
        )

    def args(self, name: str, version: int | None = None, alias: str | None = None) -> list[str]:
        """pytest arguments that gate this registry's model."""
        chosen = ["--model-version", str(version)] if version else ["--model-alias", str(alias)]
        return ["--model-name", name, *chosen, "--tracking-uri", self.uri]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with the most slow tests first (a stable sort, so each file keeps its order).
    Under ``--dist loadfile`` a file is one unit of work handed out in this order
    (``dev.py`` passes ``--no-loadscope-reorder``): the long files start early and the short
    ones fill the gaps, instead of one worker starting a long file while the other idles."""
    weight: dict[Any, int] = {}
    for item in items:
        slow = item.get_closest_marker("slow") is not None
        weight[item.path] = weight.get(item.path, 0) + slow
    items.sort(key=lambda item: -weight[item.path])


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI; undo that after every test."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gate runs inside the tests must not append to a CI job's own summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(scope="session")
def empty_registry_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite database with its tables created, made once per session (per worker
    under xdist): creating the tables runs every migration, which costs about a second."""
    path = tmp_path_factory.mktemp("registry-template") / "registry.db"
    uri = f"sqlite:///{path}"
    mlflow.MlflowClient(uri, uri).search_experiments()
    return path


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory, empty_registry_db: Path) -> ScratchRegistry:
    scratch = ScratchRegistry(tmp_path_factory.mktemp("registry"))
    shutil.copyfile(empty_registry_db, scratch.root / "registry.db")
    return scratch


@pytest.fixture
def bentoml_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A BentoML store of the test's own; the bento build runs in a child that inherits it."""
    home = tmp_path_factory.mktemp("bentoml")
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return home


def copy_column_model(column: str, labels: tuple[Any, ...] = (0, 1)) -> tuple[Any, pd.DataFrame]:
    """A classifier that predicts the value of ``column``: its errors are exactly the rows
    where the evaluation data's ``column`` differs from the target."""
    X = pd.DataFrame({column: np.array(labels * 20, dtype=float)})
    model = DecisionTreeClassifier(random_state=0).fit(X, X[column].astype(type(labels[0])))
    return model, X


def eval_frame(rows: int, error_rates: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """Target ``y`` in {0, 1}; each named column copies it except on an exact share of rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    frame = pd.DataFrame({"y": y})
    for column, rate in error_rates.items():
        wrong = rng.permutation(rows) < round(rate * rows)
        frame[column] = np.where(wrong, 1 - y, y).astype(float)
    return frame


def assert_verdicts(result: pytest.RunResult, **expected: int) -> None:
    """pytest's outcome counts with gate verdicts: ``inconclusive`` is its own count (an
    inconclusive gate item fails, but reads INCONCLUSIVE and is not counted as failed)."""
    seen = result.parseoutcomes()
    seen = {k: v for k, v in seen.items() if k not in ("warnings", "warning")}
    assert {k: v for k, v in seen.items() if v} == {k: v for k, v in expected.items() if v}


# an accuracy suite the copy-column models pass (eval data from ``eval_frame``)
ACCURACY_SUITE = """
model: m
data: {path: eval.csv}
target: y
gates:
  accuracy:
    resamples: 200
    seed: 3
    on_missing_champion: pass
    metrics:
      accuracy: {min: 0.8}
"""


def write_suite(directory: Path, text: str, name: str = "suite.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def places(client: Any, name: str = "m", path: Any = None) -> Any:
    """The environments of ``path`` (default staging -> production) for candidate ``name``
    in ``client``'s registry, as the promotion functions take them."""
    from pytest_modelgate.promotion.path import DEFAULT_PATH
    from pytest_modelgate.promotion.places import Places

    return Places.of_candidate(path or DEFAULT_PATH, client, str(client.tracking_uri), name)


def cli(*args: str) -> int:
    """A ``modelgate`` command in this process; its exit code."""
    from pytest_modelgate.cli.main import main

    return main(list(args))
