"""Input schemas of the reference models: the one contract the schema gate checks and the
service enforces on requests (``gates/*.yaml`` name them by import path)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

SEXES = ["female", "male"]
HOUSING = ["free", "own", "rent"]
SAVINGS = ["little", "moderate", "not_known", "quite rich", "rich"]
CHECKING = ["little", "moderate", "not_known", "rich"]
PURPOSES = [
    "business",
    "car",
    "domestic appliances",
    "education",
    "furniture/equipment",
    "radio/TV",
    "repairs",
    "vacation/others",
]


class IrisInput(pa.DataFrameModel):
    """Flower measurements in centimetres."""

    sepal_length: Series[float] = pa.Field(gt=0, le=30)
    sepal_width: Series[float] = pa.Field(gt=0, le=30)
    petal_length: Series[float] = pa.Field(gt=0, le=30)
    petal_width: Series[float] = pa.Field(gt=0, le=30)

    class Config:
        strict = True


class CreditInput(pa.DataFrameModel):
    """One loan application of the German credit data."""

    sex: Series[str] = pa.Field(isin=SEXES)
    housing: Series[str] = pa.Field(isin=HOUSING)
    saving_accounts: Series[str] = pa.Field(isin=SAVINGS)
    checking_account: Series[str] = pa.Field(isin=CHECKING)
    purpose: Series[str] = pa.Field(isin=PURPOSES)
    job: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 3})
    credit_amount: Series[int] = pa.Field(gt=0)
    duration: Series[int] = pa.Field(gt=0, le=120)
    age: Series[int] = pa.Field(ge=18, le=120)

    class Config:
        strict = True
