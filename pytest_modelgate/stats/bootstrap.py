"""Seeded, vectorised bootstrap intervals for any sklearn-style metric.

Why not ``scipy.stats.bootstrap``: it resamples rows, O(resamples x rows) work and memory.
Most gate metrics look only at (label, prediction) pairs, which take few distinct values;
resampling n rows with replacement and counting each distinct pair is exactly a multinomial
draw over those pairs, so we draw the counts directly (O(resamples x distinct pairs)) and
hand them to the sklearn metric as ``sample_weight``. Continuous outputs (probabilities,
regression) take row weights: each resample's count of every row, drawn as the counts of n
uniform row indices (``bincount``: the same multinomial, and about eight times faster than
``Generator.multinomial`` over a million categories), in chunks of a few resamples so that a
chunk stays near 32 MB whatever the rows. Chunks are scored all at once where the metric
allows it (``stats.confusion`` for labels, ``stats.moments`` for continuous outputs), else
resample by resample with sklearn.

Several metrics on the same rows with the same seed draw the very same row weights, so
``distributions`` draws them once for all (the accuracy gate scores a section's metrics, and
each champion comparison, in one pass); compressed tables draw their own.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

Metric = Callable[..., float]

# a chunk of weights is resamples x rows; keep it near 32 MB (float64) at most: a chunk of a few
# resamples reads each metric's per-row terms once for all of them (memory bandwidth, not
# arithmetic, bounds scoring a million rows)
_MAX_WEIGHT_CELLS = 4_000_000
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
    (done,) = distributions([Job(metric, y_true, (y_pred,))], resamples, seed)
    if isinstance(done, BaseException):
        raise done
    ((point, values),) = done
    return point, values


@dataclass(frozen=True)
class Job:
    """A metric of one or more models' outputs on the same rows (several: paired)."""

    metric: Metric
    y_true: np.ndarray
    outputs: tuple[np.ndarray, ...]


def distributions(
    jobs: list[Job | BaseException], resamples: int, seed: int
) -> list[list[tuple[float, np.ndarray]] | BaseException]:
    """For each job, each output's (point value, values on every resample). Jobs whose
    tables stay uncompressed share one draw of row weights per row count; an exception in
    place of a job (its outputs could not be computed) is passed through, as is one raised
    while scoring it, so that one metric's trouble does not take the others down."""
    out: list[list[tuple[float, np.ndarray]] | BaseException] = list(jobs)  # type: ignore[arg-type]
    rowwise: dict[int, list[tuple[int, list[Any], list[float]]]] = {}
    for i, job in enumerate(jobs):
        if isinstance(job, BaseException):
            continue
        try:
            table = compress(job.y_true, *job.outputs)
            if table.compressed:
                out[i] = _compressed(job, table, resamples, seed)
                continue
            # the point values first: sklearn's copies are gone before the terms are built
            points = [
                weighted_score(job.metric, table, 0, 1 + m, table.counts)
                for m in range(len(job.outputs))
            ]
            scorers = [_row_scorer(job.metric, table, 1 + m) for m in range(len(job.outputs))]
        except Exception as exc:
            out[i] = exc
            continue
        rowwise.setdefault(len(table.counts), []).append((i, scorers, points))
    for n, group in rowwise.items():
        results: dict[int, list[list[np.ndarray]]] = {i: [[] for _ in s] for i, s, _ in group}
        for chunk in weight_chunks(Table((), _ones(n), False), resamples, seed):
            total = np.full(len(chunk), float(n))  # every resample draws n rows
            for i, scorers, _ in group:
                for m, score in enumerate(scorers):
                    results[i][m].append(score(chunk, total))
            del chunk  # before the next chunk is drawn: one chunk in memory at a time
        for i, _, points in group:
            out[i] = [
                (point, np.concatenate(v)) for point, v in zip(points, results[i], strict=True)
            ]
    return out


def _compressed(
    job: Job, table: Table, resamples: int, seed: int
) -> list[tuple[float, np.ndarray]]:
    values: list[list[np.ndarray]] = [[] for _ in job.outputs]
    for w in weight_chunks(table, resamples, seed):
        for m in range(len(job.outputs)):
            values[m].append(table_scores(job.metric, table, 0, 1 + m, w))
    return [
        (weighted_score(job.metric, table, 0, 1 + m, table.counts), np.concatenate(v))
        for m, v in enumerate(values)
    ]


def _row_scorer(metric: Metric, table: Table, pred: int) -> Callable[..., np.ndarray]:
    """Scores a chunk of row weights: in one go for the metrics stats.moments covers."""
    from pytest_modelgate.stats.moments import scorer

    batch = scorer(metric, table.columns[0], table.columns[pred])
    if batch is not None:
        return batch

    def one_by_one(chunk: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
        return np.array([weighted_score(metric, table, 0, pred, w) for w in chunk], dtype=float)

    return one_by_one


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
    (done,) = distributions([Job(metric, y_true, (candidate, champion))], resamples, seed)
    if isinstance(done, BaseException):
        raise done
    (ours, our_values), (theirs, their_values) = done
    return ours - theirs, our_values - their_values


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
        limit = max(1, int(n * _COMPRESS_SHARE))
        for column in columns:
            if len(np.unique(column)) > limit:
                # distinct rows are at least as many as one column's distinct values
                return Table(columns, _ones(n), False)
            values, code = np.unique(column, return_inverse=True)
            uniques.append(values)
            codes.append(code.ravel())
        key = np.ravel_multi_index(codes, [len(u) for u in uniques]) if len(codes) > 1 else codes[0]
        distinct, first, counts = np.unique(key, return_index=True, return_counts=True)
        if len(distinct) <= limit:
            return Table(tuple(c[first] for c in columns), counts, True)
    return Table(columns, _ones(n), False)


def _ones(n: int) -> np.ndarray:
    """Every row's count, 1, without allocating a million of them."""
    return np.broadcast_to(np.int64(1), (n,))


def resample_counts(table: Table, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weights for each resample, one row of counts per resample."""
    for chunk in weight_chunks(table, resamples, seed):
        yield from chunk


def weight_chunks(table: Table, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weights in bounded chunks: resamples x table rows of counts. A table of
    distinct rows draws a multinomial over them; a table of every row (each count 1) draws
    each resample as the counts of n uniform row indices, the same distribution."""
    rng = np.random.default_rng(seed)
    n = int(table.counts.sum())
    rows = len(table.counts)
    chunk = max(1, _MAX_WEIGHT_CELLS // rows)
    drawn = 0
    every_row = not table.compressed
    probabilities = np.empty(0) if every_row else table.counts / n
    while drawn < resamples:
        size = min(chunk, resamples - drawn)
        if every_row:
            block = np.empty((size, rows), dtype=np.float64)
            for r in range(size):
                block[r] = np.bincount(rng.integers(0, rows, rows), minlength=rows)
            yield block
            del block  # before the next one is drawn
        else:
            yield rng.multinomial(n, probabilities, size=size)
        drawn += size


def table_scores(
    metric: Metric, table: Table, truth: int, pred: int, chunk: np.ndarray
) -> np.ndarray:
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
            keep = np.repeat(np.arange(len(weights)), np.asarray(weights, dtype=np.int64))
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
