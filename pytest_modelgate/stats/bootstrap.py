"""Seeded, vectorised bootstrap intervals for any sklearn-style metric.

Why not ``scipy.stats.bootstrap``: it resamples rows, O(resamples x rows) work and memory.
Most gate metrics look only at (label, prediction) pairs, which take few distinct values;
resampling n rows with replacement and counting each distinct pair is exactly a multinomial
draw over those pairs, so we draw the counts directly (O(resamples x distinct pairs)) and
hand them to the sklearn metric as ``sample_weight``. Continuous outputs (probabilities,
regression) fall back to multinomial row weights drawn in bounded chunks.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

Metric = Callable[..., float]

# a resample's weight matrix is chunk x rows int64; keep a chunk near 160 MB at most
_MAX_WEIGHT_CELLS = 20_000_000
# compress to distinct rows when they are at most this share of all rows
_COMPRESS_SHARE = 0.2


@dataclass(frozen=True)
class Estimate:
    """A point value with its two-sided percentile bootstrap interval."""

    value: float
    low: float
    high: float
    confidence: float
    resamples: int
    undefined: int = 0  # resamples where the metric was undefined (for example one class only)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "undefined_resamples": self.undefined,
        }


@dataclass(frozen=True)
class Table:
    """Distinct rows of the stacked arrays and how often each occurs (or every row, count 1)."""

    columns: tuple[np.ndarray, ...]
    counts: np.ndarray
    compressed: bool


def bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> Estimate:
    """Interval of ``metric(y_true, y_pred)`` over row resamples."""
    point, values = bootstrap_distribution(metric, y_true, y_pred, resamples=resamples, seed=seed)
    return summarise(point, values, confidence, resamples)


def bootstrap_distribution(
    metric: Metric, y_true: np.ndarray, y_pred: np.ndarray, *, resamples: int, seed: int
) -> tuple[float, np.ndarray]:
    """The point value and the metric on every resample (NaN where undefined)."""
    table = compress(y_true, y_pred)
    point = weighted_score(metric, table, 0, 1, table.counts)
    values = np.concatenate(
        [_scores(metric, table, 0, 1, w) for w in weight_chunks(table, resamples, seed)]
    )
    return point, values


def bootstrap_paired_difference(
    metric: Metric,
    y_true: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> Estimate:
    """Interval of ``metric(candidate) - metric(champion)`` on the same resampled rows."""
    point, values = paired_difference_distribution(
        metric, y_true, candidate, champion, resamples=resamples, seed=seed
    )
    return summarise(point, values, confidence, resamples)


def paired_difference_distribution(
    metric: Metric,
    y_true: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    resamples: int,
    seed: int,
) -> tuple[float, np.ndarray]:
    """``metric(candidate) - metric(champion)`` on all rows and on every resample of them."""
    table = compress(y_true, candidate, champion)
    point = weighted_score(metric, table, 0, 1, table.counts) - weighted_score(
        metric, table, 0, 2, table.counts
    )
    values = np.concatenate(
        [
            _scores(metric, table, 0, 1, w) - _scores(metric, table, 0, 2, w)
            for w in weight_chunks(table, resamples, seed)
        ]
    )
    return point, values


def summarise(point: float, values: np.ndarray, confidence: float, resamples: int) -> Estimate:
    defined = values[np.isfinite(values)]
    if defined.size == 0:
        return Estimate(point, float("nan"), float("nan"), confidence, resamples, resamples)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return Estimate(
        float(point), float(low), float(high), confidence, resamples, resamples - defined.size
    )


def compress(*arrays: np.ndarray) -> Table:
    columns = tuple(np.asarray(a) for a in arrays)
    n = len(columns[0])
    if any(len(c) != n for c in columns):
        raise ValueError(f"arrays differ in length: {[len(c) for c in columns]}")
    if n == 0:
        raise ValueError("no rows to evaluate")
    if all(c.ndim == 1 for c in columns):
        codes = []
        uniques = []
        for column in columns:
            values, code = np.unique(column, return_inverse=True)
            uniques.append(values)
            codes.append(code.ravel())
        key = np.ravel_multi_index(codes, [len(u) for u in uniques]) if len(codes) > 1 else codes[0]
        distinct, first, counts = np.unique(key, return_index=True, return_counts=True)
        if len(distinct) <= max(1, int(n * _COMPRESS_SHARE)):
            return Table(tuple(c[first] for c in columns), counts, True)
    return Table(columns, np.ones(n, dtype=np.int64), False)


def resample_counts(table: Table, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weights for each resample, one row of counts per resample."""
    for chunk in weight_chunks(table, resamples, seed):
        yield from chunk


def weight_chunks(table: Table, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weights in bounded chunks: resamples x table rows of counts."""
    rng = np.random.default_rng(seed)
    n = int(table.counts.sum())
    probabilities = table.counts / n
    chunk = max(1, _MAX_WEIGHT_CELLS // len(table.counts))
    drawn = 0
    while drawn < resamples:
        size = min(chunk, resamples - drawn)
        yield rng.multinomial(n, probabilities, size=size)
        drawn += size


def _scores(metric: Metric, table: Table, truth: int, pred: int, chunk: np.ndarray) -> np.ndarray:
    """The metric on each resample of a chunk: all at once when the metric allows it."""
    if table.compressed:
        from pytest_modelgate.stats.confusion import batch_scores

        batch = batch_scores(metric, table.columns[truth], table.columns[pred], chunk)
        if batch is not None:
            return batch.astype(float)
    return np.array([weighted_score(metric, table, truth, pred, w) for w in chunk], dtype=float)


def weighted_score(
    metric: Metric, table: Table, truth: int, pred: int, weights: np.ndarray
) -> float:
    y_true, y_pred = table.columns[truth], table.columns[pred]
    if table.compressed:
        # pairs a resample did not draw are absent from it, as they are from a row resample
        drawn = weights > 0
        y_true, y_pred, weights = y_true[drawn], y_pred[drawn], weights[drawn]
    with warnings.catch_warnings():
        # a resample may miss a class entirely; the metric is then undefined, not an error
        warnings.simplefilter("ignore")
        try:
            if accepts_sample_weight(metric):
                return float(metric(y_true, y_pred, sample_weight=weights))
            keep = np.repeat(np.arange(len(weights)), weights)
            return float(metric(y_true[keep], y_pred[keep]))
        except ValueError:
            return float("nan")


_SAMPLE_WEIGHT_CACHE: dict[Any, bool] = {}


def accepts_sample_weight(metric: Metric) -> bool:
    key = getattr(metric, "func", metric)
    if key not in _SAMPLE_WEIGHT_CACHE:
        try:
            parameters = inspect.signature(metric).parameters
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        _SAMPLE_WEIGHT_CACHE[key] = "sample_weight" in parameters
    return _SAMPLE_WEIGHT_CACHE[key]


def violation_p_value(
    values: np.ndarray, minimum: float | None = None, maximum: float | None = None
) -> float:
    """One-sided bootstrap p-value of "the metric violates its threshold": the share of
    resamples on the wrong side (undefined resamples count as violations, failing closed),
    with the usual +1 so that a p-value is never 0."""
    wrong = ~np.isfinite(values)
    if minimum is not None:
        wrong |= values < minimum
    if maximum is not None:
        wrong |= values > maximum
    return float((1 + wrong.sum()) / (1 + values.size))
