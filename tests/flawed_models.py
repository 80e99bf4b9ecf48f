"""Models with one known flaw each, defined at module level so MLflow can store and reload them
by name (the registry refuses anonymous functions and local classes)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

SLEEP_S = 0.02


def sleep_then_pass(X: Any) -> Any:
    """A preprocessing step that costs SLEEP_S per call, whatever the batch."""
    time.sleep(SLEEP_S)
    return X


def slow_model(X: pd.DataFrame, y: Any) -> Any:
    return make_pipeline(
        FunctionTransformer(sleep_then_pass), DecisionTreeClassifier(random_state=0)
    ).fit(X, y)


class SigmoidClassifier(ClassifierMixin, BaseEstimator):
    """P(1) = sigmoid(scale * (x - threshold)) of one column: it answers NaN for NaN input
    instead of refusing it."""

    def __init__(self, column: str = "a", threshold: float = 0.5, scale: float = 10.0) -> None:
        self.column = column
        self.threshold = threshold
        self.scale = scale

    def fit(self, X: pd.DataFrame, y: Any) -> SigmoidClassifier:
        self.classes_ = np.unique(y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        x = np.asarray(X[self.column], dtype=float)
        p = 1.0 / (1.0 + np.exp(-self.scale * (x - self.threshold)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]


# -- flaws only live traffic shows: the evaluation data has b and c in {0, 1} ----------------
UNSEEN = 5.0  # b or c above this never occurs in the evaluation data
SLOW_S = 0.3


def fails_or_stalls_on_unseen(X: Any) -> Any:
    """Refuses a batch holding a row with b above UNSEEN; stalls on one with c above it."""
    frame = pd.DataFrame(X)
    if (frame["b"] > UNSEEN).any():
        raise ValueError("b is out of the range this model was trained on")
    if (frame["c"] > UNSEEN).any():
        time.sleep(SLOW_S)
    return X


def traffic_flawed_model(X: pd.DataFrame, y: Any) -> Any:
    return make_pipeline(
        FunctionTransformer(fails_or_stalls_on_unseen), DecisionTreeClassifier(random_state=0)
    ).fit(X, y)
