"""Metric values from streamed sums (``stats.sums.CellSums``): the point value from the sums of
weight 1, and one value per resample from the sums of its Poisson weights.

Label metrics read their cells as the in-memory bootstrap reads a compressed table: distinct
(truth, prediction) rows with a weight per resample, scored by ``stats.confusion`` where it
can and by sklearn with ``sample_weight`` otherwise, so any sklearn label metric streams.
Continuous metrics finish their per-row terms' sums (``stats.moments.Summed``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_modelgate.stats.bootstrap import Metric, Table, table_scores, weighted_score
from pytest_modelgate.stats.moments import Finish, binned_roc_auc
from pytest_modelgate.stats.sums import CellSums


def label_values(metric: Metric, sums: CellSums, truth: int, pred: int) -> tuple[float, np.ndarray]:
    """``metric`` of the key columns ``truth`` and ``pred`` (positions in the cells' keys)."""
    table = cell_table(sums)
    point = weighted_score(metric, table, truth, pred, sums.point[:, 0])
    weights = sums.draws[:, :, 0].T  # resamples x cells
    return point, table_scores(metric, table, truth, pred, weights)


def cell_table(sums: CellSums) -> Table:
    """The cells as a compressed table: one column per key, each cell's count."""
    width = len(sums.keys[0]) if sums.keys else 0
    columns = tuple(_column([key[i] for key in sums.keys]) for i in range(width))
    return Table(columns, sums.point[:, 0], True)


def _column(values: list[Any]) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "U":
        return np.asarray(values, dtype=object)  # strings compare as the labels did
    return array


def moment_values(
    finish: Finish, sums: CellSums, first: int, terms: int, cell: int = 0
) -> tuple[float, np.ndarray]:
    """A continuous metric from its ``terms`` sums starting at term ``first`` (0-based,
    after the weight) of one cell."""
    span = slice(1 + first, 1 + first + terms)
    point = sums.point[cell : cell + 1]
    value = float(finish(point[:, span], point[:, 0])[0])
    draws = sums.draws[cell]
    return value, finish(draws[:, span], draws[:, 0])


def auc_values(sums: CellSums, bins: int) -> tuple[float, np.ndarray]:
    """Binary ROC AUC from cells keyed (row is positive, score bin)."""
    resamples = sums.resamples
    positives = np.zeros((1 + resamples, bins))
    negatives = np.zeros((1 + resamples, bins))
    for i, (positive, b) in enumerate(sums.keys):
        target = positives if positive else negatives
        target[0, b] += sums.point[i, 0]
        target[1:, b] += sums.draws[i, :, 0]
    values = binned_roc_auc(positives, negatives)
    return float(values[0]), values[1:]
