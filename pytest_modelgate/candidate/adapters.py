"""One model adapter per MLflow flavour: the object the gates, the latency timing and the
served bento all call, so what is gated and timed is what is served.

Each adapter answers ``predict`` (labels, or numbers for a regressor) and, when the model
really gives them, ``predict_proba`` (one column per class, in ``classes_`` order):

- sklearn, and the scikit-learn APIs of xgboost (``XGBClassifier``), lightgbm
  (``LGBMClassifier``) and catboost (``CatBoostClassifier``): the estimator itself;
- a raw ``xgboost.Booster`` or ``lightgbm.Booster``: probabilities when its objective is
  probabilistic (binary logistic, softmax), numbers otherwise;
- a pyfunc whose signature's outputs are one numeric column per class: those columns are the
  probabilities and the column names the classes; a pyfunc whose raw model has
  ``predict_proba``: that model;
- any other flavour: its pyfunc, labels only (``note`` says so once, naming the flavour).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NATIVE = ("sklearn", "xgboost", "lightgbm", "catboost")
PROBABILISTIC_XGB = ("binary:logistic", "multi:softprob", "multi:softmax")
PROBABILISTIC_LGB = ("binary", "multiclass", "multiclassova", "cross_entropy", "softmax")


@dataclass(frozen=True)
class Adapted:
    model: Any  # predict; predict_proba and classes_ when it gives probabilities
    flavour: str  # the MLflow flavour it was loaded through
    adapter: str  # how it is called, for the report and model_info
    note: str | None = None  # said once in the report: e.g. no probabilities for this flavour


def load_model(uri: str, flavors: tuple[str, ...] | list[str]) -> Adapted:
    """Load ``uri`` (a models:/ URI or a local MLflow model directory) through the first
    flavour an adapter knows, else as a pyfunc."""
    for flavour in NATIVE:
        if flavour in flavors:
            return _native(uri, flavour)
    return _pyfunc(uri, [f for f in flavors if f != "python_function"])


def _native(uri: str, flavour: str) -> Adapted:
    import importlib

    module = importlib.import_module(f"mlflow.{flavour}")
    model = module.load_model(uri)
    kind = type(model).__name__
    if flavour == "xgboost" and kind == "Booster":
        return Adapted(XGBoostBooster(model), flavour, "xgboost Booster")
    if flavour == "lightgbm" and kind == "Booster":
        return Adapted(LightGBMBooster(model), flavour, "lightgbm Booster")
    return Adapted(model, flavour, f"{flavour} {kind}")


def _pyfunc(uri: str, others: list[str]) -> Adapted:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(uri)
    classes = _probability_columns(model)
    if classes is not None:
        return Adapted(PyfuncProbabilities(model, classes), "python_function",
                      "pyfunc (one probability column per class)")  # fmt: skip
    raw = _raw(model)
    if raw is not None and callable(getattr(raw, "predict_proba", None)):
        return Adapted(raw, "python_function", f"pyfunc raw model {type(raw).__name__}")
    note = None
    if others:
        note = (
            f"flavour {', '.join(others)} has no adapter: gated through its pyfunc, which "
            "answers labels only (no probability metrics)"
        )
    return Adapted(model, "python_function", "pyfunc", note)


def _raw(model: Any) -> Any:
    try:
        return model.get_raw_model()
    except Exception:  # not every pyfunc has one; MLflow raises several kinds
        return None


def _probability_columns(model: Any) -> list[Any] | None:
    """The classes, when the signature's outputs are two or more named numeric columns."""
    try:
        outputs = model.metadata.get_output_schema()
    except Exception:
        return None
    if outputs is None or not outputs.has_input_names():
        return None
    columns = outputs.inputs
    numeric = all(
        str(getattr(c, "type", "")).lower().endswith(("double", "float")) for c in columns
    )
    if len(columns) < 2 or not numeric:
        return None
    return [_class_name(c.name) for c in columns]


def _class_name(name: str) -> Any:
    """A column named "1" is the class 1: targets of integer classes compare equal."""
    return int(name) if name.lstrip("-").isdigit() else name


class PyfuncProbabilities:
    """A pyfunc that answers one probability column per class, presented as scikit-learn
    presents a classifier: ``classes_`` sorted and the columns in that order (sklearn's
    log loss and binary metrics assume it)."""

    def __init__(self, model: Any, classes: list[Any]) -> None:
        import numpy as np

        self.model = model
        try:
            self.order = sorted(range(len(classes)), key=lambda i: classes[i])
        except TypeError:  # mixed types have no order: keep the signature's
            self.order = list(range(len(classes)))
        ordered = [classes[i] for i in self.order]
        self.classes_ = np.asarray(ordered, dtype=object if _mixed(ordered) else None)

    def predict_proba(self, X: Any) -> Any:
        import numpy as np
        import pandas as pd

        out = self.model.predict(X)
        frame = out if isinstance(out, pd.DataFrame) else pd.DataFrame(np.asarray(out))
        return frame.to_numpy(dtype=float)[:, self.order]

    def predict(self, X: Any) -> Any:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _mixed(classes: list[Any]) -> bool:
    return len({type(c) for c in classes}) > 1


class _Booster:
    """A raw gradient-boosting Booster behind the estimator API the gates call."""

    def __init__(self, booster: Any, objective: str, probabilistic: bool, classes: int) -> None:
        import numpy as np

        self.booster, self.objective = booster, objective
        if probabilistic:
            self.classes_ = np.arange(max(classes, 2))
            self.predict_proba = self._proba

    def raw(self, X: Any) -> Any:
        raise NotImplementedError

    def _proba(self, X: Any) -> Any:
        import numpy as np

        out = np.asarray(self.raw(X), dtype=float)
        return np.column_stack([1 - out, out]) if out.ndim == 1 else out

    def predict(self, X: Any) -> Any:
        if hasattr(self, "classes_"):
            return self.classes_[self._proba(X).argmax(axis=1)]
        return self.raw(X)


class XGBoostBooster(_Booster):
    def __init__(self, booster: Any) -> None:
        config = json.loads(booster.save_config())["learner"]
        objective = config["objective"]["name"]
        classes = int(config["learner_model_param"].get("num_class", "0") or 0)
        super().__init__(booster, objective, objective in PROBABILISTIC_XGB, classes)

    def raw(self, X: Any) -> Any:
        import xgboost

        return self.booster.predict(xgboost.DMatrix(X))


class LightGBMBooster(_Booster):
    def __init__(self, booster: Any) -> None:
        # a Booster read from its model file carries the parameters it was trained with
        objective = str((booster.params or {}).get("objective", "")).split()[0:1]
        name = objective[0] if objective else ""
        classes = int(booster.num_model_per_iteration())
        super().__init__(booster, name, name in PROBABILISTIC_LGB, classes)

    def raw(self, X: Any) -> Any:
        return self.booster.predict(X)
