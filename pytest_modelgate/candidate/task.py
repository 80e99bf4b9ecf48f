"""Classification or regression: what the candidate does, read from the model and the target.

A suite's ``task:`` wins. Otherwise a model with classes (``classes_``) or probabilities
(``predict_proba``) classifies; one that scikit-learn calls a regressor regresses; for any other
model (a plain MLflow pyfunc) the target decides: a numeric target with non-integer values or
more than ``MAX_CLASSES`` distinct values is a regression target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"
MAX_CLASSES = 20


@dataclass(frozen=True)
class Task:
    name: str  # classification or regression
    why: str  # how it was decided, for messages and the report

    @property
    def regression(self) -> bool:
        return self.name == REGRESSION

    def as_dict(self) -> dict[str, str]:
        return {"task": self.name, "why": self.why}


def detect_task(model: Any, y: Any, declared: str | None = None, where: str = "") -> Task:
    if declared is not None:
        return Task(declared, f"declared in the suite ({where})" if where else "declared")
    if getattr(model, "classes_", None) is not None:
        return Task(CLASSIFICATION, "the model has classes (classes_)")
    if callable(getattr(model, "predict_proba", None)):
        return Task(CLASSIFICATION, "the model gives probabilities (predict_proba)")
    if _sklearn_regressor(model):
        return Task(REGRESSION, "scikit-learn calls the model a regressor")
    return _from_target(y)


def _sklearn_regressor(model: Any) -> bool:
    try:
        from sklearn.base import is_regressor
    except ImportError:  # pragma: no cover - sklearn is a dependency
        return False
    try:
        return bool(is_regressor(model))
    except Exception:  # a non-sklearn object; is_regressor may probe it in many ways
        return False


def _from_target(y: Any) -> Task:
    import numpy as np

    values = np.asarray(y)
    if values.dtype.kind not in "fiu":
        return Task(CLASSIFICATION, f"the target holds labels ({values.dtype})")
    if values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        if finite.size and not np.all(finite == np.round(finite)):
            return Task(REGRESSION, "the target has non-integer values")
    distinct = len(np.unique(values))
    if distinct > MAX_CLASSES:
        return Task(REGRESSION, f"the numeric target has {distinct} distinct values")
    return Task(CLASSIFICATION, f"the numeric target has {distinct} distinct values")
