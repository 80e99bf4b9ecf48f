"""The streaming engine: one pass over a Parquet evaluation set's record batches in this
process, predicting each batch and adding every request's sums, so that memory depends on the
batch size and the number of resamples, never on the number of rows. ``accumulate`` is also
what each Spark partition runs (``spark.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.gates.engines.requests import LABELS, SumsRequest, View

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.candidate.batches import Batch, ParquetSource
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.stats.sums import CellSums

# a block of Poisson weights is rows x resamples float64: about 32 MB at most
MAX_WEIGHT_CELLS = 4_000_000


class LocalView:
    """A batch, with each model's outputs computed on first use."""

    def __init__(
        self, batch: Batch, models: dict[str, ModelHandle], inputs: dict[str, list[str]]
    ) -> None:
        self._batch, self._models, self._inputs = batch, models, inputs
        self._outputs: dict[tuple[str, str], np.ndarray] = {}

    @property
    def rows(self) -> np.ndarray:
        rows: np.ndarray = self._batch.rows
        return rows

    @property
    def frame(self) -> pd.DataFrame:
        return self._batch.frame

    def output(self, role: str, what: str) -> np.ndarray:
        if (role, what) not in self._outputs:
            handle = self._models[role]
            inputs = self.frame.loc[:, self._inputs[role]]
            value = handle.predict(inputs) if what == LABELS else handle.predict_proba(inputs)
            self._outputs[(role, what)] = model_output(value, what)
        return self._outputs[(role, what)]


def model_output(value: Any, what: str) -> np.ndarray:
    array = np.asarray(value)
    if what == LABELS and array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    return array


def accumulate(views: Iterable[View], requests: list[SumsRequest]) -> dict[str, CellSums]:
    """Every request's sums over the rows of ``views``: Poisson weights are drawn once per
    block of rows for all requests with the same seed and number of resamples."""
    from pytest_modelgate.stats.poisson import poisson_weights
    from pytest_modelgate.stats.sums import CellSums

    sums = {r.key: CellSums(r.resamples, r.terms) for r in requests}
    draws: dict[tuple[int, int], list[SumsRequest]] = {}
    for r in requests:
        draws.setdefault((r.seed, r.resamples), []).append(r)
    for view in views:
        prepared = {r.key: r.rows(view) for r in requests}
        rows = view.rows
        for (seed, resamples), members in draws.items():
            step = max(1, MAX_WEIGHT_CELLS // max(resamples, 1))
            for a in range(0, len(rows), step):
                b = min(len(rows), a + step)
                weights = poisson_weights(rows[a:b], seed, resamples)
                single = [r for r in members if not prepared[r.key][0]]
                _add_single_cells(sums, single, prepared, slice(a, b), weights)
                for r in members:
                    keys, terms = prepared[r.key]
                    if keys:
                        part = None if terms is None else terms[a:b]
                        sums[r.key].add([np.asarray(k)[a:b] for k in keys], part, weights)
                del weights
    return {key: s.sorted() for key, s in sums.items()}


def _add_single_cells(
    sums: dict[str, CellSums],
    requests: list[SumsRequest],
    prepared: dict[str, tuple[list[Any], np.ndarray | None]],
    rows: slice,
    weights: np.ndarray,
) -> None:
    """The requests without key columns (one cell each: a section's regression errors, its
    losses) in one matrix product: reading a block of weights costs more than the product."""
    if not requests:
        return
    parts = [prepared[r.key][1] for r in requests]
    blocks = [np.ones((rows.stop - rows.start, 1))]
    blocks += [np.ones((rows.stop - rows.start, 0)) if t is None else t[rows] for t in parts]
    stacked = np.column_stack(blocks)
    point, draws = stacked.sum(axis=0), (stacked.T @ weights).T
    first = 1
    for r, t in zip(requests, parts, strict=True):
        width = 0 if t is None else t.shape[1]
        span = [0, *range(first, first + width)]
        sums[r.key].add_summed(point[span], draws[:, span])
        first += width


def run_local(
    source: ParquetSource,
    requests: list[SumsRequest],
    models: dict[str, ModelHandle],
    inputs: dict[str, list[str]],
    batch_rows: int,
) -> dict[str, CellSums]:
    """One pass over ``source``: the columns the requests and the models read, a batch at a
    time."""
    roles = {role for r in requests for role, _ in r.outputs}
    columns = sorted(
        {c for r in requests for c in r.columns} | {c for m in roles for c in inputs[m]}
    )
    views = (LocalView(b, models, inputs) for b in source.batches(columns, batch_rows))
    return accumulate(views, requests)
