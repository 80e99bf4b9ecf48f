"""The model the comparison apps serve: MODEL_DIR names a local MLflow sklearn model."""

from __future__ import annotations

import os
from typing import Any

import mlflow.sklearn
import pandas as pd

MODEL = mlflow.sklearn.load_model(os.environ["MODEL_DIR"])


def predict(rows: list[dict[str, Any]]) -> list[Any]:
    # tolist(): plain Python labels whether the classes are numpy numbers or str objects
    return MODEL.predict(pd.DataFrame.from_records(rows)).tolist()
