"""What a check asks of a streaming pass, and what each batch of rows offers it.

A request's ``rows`` function turns one batch into key columns and per-row terms; it runs in
this process for the streaming engine and inside Spark's Python workers for the Spark engine,
so it captures only plain values (names, classes, sklearn metric functions), never the run.
A check that can say before any pass what it will ask has a ``sum_requests(ctx)`` method: the
run gathers every check's of a suite, so that one pass computes them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

LABELS = "labels"
PROBA = "proba"


class View(Protocol):
    """One batch of rows: their numbers, their data columns, and the models' outputs on them."""

    @property
    def rows(self) -> np.ndarray: ...

    @property
    def frame(self) -> pd.DataFrame: ...

    def output(self, role: str, what: str) -> np.ndarray:
        """``labels`` or ``proba`` of the candidate or the champion on these rows."""
        ...


Rows = Callable[["View"], tuple[list[Any], "np.ndarray | None"]]


@dataclass(frozen=True)
class SumsRequest:
    """Sums over the rows of key columns x terms (``stats.sums.CellSums``)."""

    key: str  # what it is, unique within the suite's pass
    resamples: int
    seed: int
    terms: int
    rows: Rows
    columns: tuple[str, ...] = ()  # the data columns ``rows`` reads
    outputs: tuple[tuple[str, str], ...] = ()  # the (role, labels|proba) it reads


def target_of(view: View, target: str) -> np.ndarray:
    """The batch's target column; DataError on a missing value (as the memory engine refuses
    a target with missing values before any gate runs)."""
    from pytest_modelgate.errors import DataError

    column = view.frame[target]
    if column.isna().any():
        first = int(view.rows[column.isna().to_numpy()][0])
        raise DataError(
            f"target column {target!r} has missing values ({int(column.isna().sum())} in the "
            f"batch holding row {first})"
        )
    values: np.ndarray = column.to_numpy()
    return values
