"""A deliberately biased credit-risk model, to show the fairness gate refusing one.

Trained on the same data as the reference credit model, except that half of one group's
training rows are relabelled 'bad risk' (0), so most of that group ends up labelled bad: the
model learns the group itself as a risk factor, and its selection rate (predicted 'good') for
that group is clearly lower (about 0.17 against 0.91 for sex=female on the eval split).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_modelgate.errors import DataError
from pytest_modelgate.reference import datasets
from pytest_modelgate.reference.models import (
    CREDIT_CATEGORICAL,
    CREDIT_NUMERIC,
    Registered,
    credit_model,
    log_and_register,
)

if TYPE_CHECKING:
    import pandas as pd


def biased_training_frame(
    column: str = "sex", group: str = "female", share: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    """The credit train split with ``share`` of ``group``'s rows relabelled as bad risk."""
    import numpy as np

    frame = datasets.load("german-credit", "train")
    target = datasets.target_of("german-credit")
    rows = np.flatnonzero((frame[column] == group).to_numpy())
    if rows.size == 0:
        raise DataError(f"no training rows with {column}={group!r}")
    flipped = np.random.default_rng(seed).permutation(rows)[: round(share * rows.size)]
    frame.loc[flipped, target] = 0
    return frame


def train_biased_credit(
    *,
    tracking_uri: str,
    artifact_root: Path | None = None,
    name: str = "credit-risk",
    column: str = "sex",
    group: str = "female",
    share: float = 0.5,
) -> Registered:
    """Fit the reference credit pipeline on the biased labels and register a new version."""
    frame = biased_training_frame(column, group, share)
    features = CREDIT_CATEGORICAL + CREDIT_NUMERIC
    X = frame[features]
    estimator = credit_model().fit(X, frame[datasets.target_of("german-credit")])
    return log_and_register(
        estimator,
        name,
        X,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        params={"dataset": "german-credit", "biased_against": f"{column}={group}", "share": share},
    )
