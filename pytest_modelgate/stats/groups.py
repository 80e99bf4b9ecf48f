"""Per-group statistics for the fairness gate: values per group with bootstrap intervals,
and the between-group summaries fairlearn defines (difference, ratio, worst group).

Resampling is stats.py's: the (group, truth, prediction) rows are compressed to their
distinct combinations and each resample is a multinomial draw of counts over them, so a
resample costs the same at 300 rows as at 100k. fairlearn's own ``MetricFrame(n_boot=...)``
resamples every row and rebuilds a pandas groupby each time (about 0.2 s per resample at
100k rows; bench/fairness_cost.py measures both), too slow for 1000 resamples per gate run.
The per-group statistics themselves are fairlearn's (``selection_rate``) or sklearn's, and
the point values come from ``MetricFrame``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.stats import bootstrap as stats

if TYPE_CHECKING:
    import pandas as pd

GroupMetric = Callable[..., float]
SUMMARIES = ("difference", "ratio", "worst")


@dataclass(frozen=True)
class Component:
    """A per-group statistic. ``condition`` restricts it to rows whose truth is (not) the
    positive label: the true positive rate is the selection rate among the positives."""

    name: str
    point: GroupMetric  # what MetricFrame computes for the table
    resampled: GroupMetric  # the same statistic, cheap on a few weighted rows
    condition: str | None = None  # None, "positive" or "negative"


def rate_components(names: tuple[str, ...], pos_label: Any) -> tuple[Component, ...]:
    """Selection, true positive and false positive rates, all as fairlearn selection rates."""
    from fairlearn.metrics import false_positive_rate, selection_rate, true_positive_rate

    rate = functools.partial(selection_rate, pos_label=pos_label)
    known = {
        "selection_rate": Component("selection_rate", rate, rate),
        "true_positive_rate": Component(
            "true_positive_rate",
            functools.partial(true_positive_rate, pos_label=pos_label),
            rate,
            "positive",
        ),
        "false_positive_rate": Component(
            "false_positive_rate",
            functools.partial(false_positive_rate, pos_label=pos_label),
            rate,
            "negative",
        ),
    }
    return tuple(known[name] for name in names)


@dataclass(frozen=True)
class Groups:
    """Rows coded by group: intersectional when there are several sensitive columns."""

    columns: tuple[str, ...]
    labels: tuple[str, ...]  # "sex=female" or "sex=female & age_group=18-25"
    codes: np.ndarray
    sizes: np.ndarray

    @property
    def name(self) -> str:
        return "+".join(self.columns)


def make_groups(frame: pd.DataFrame, columns: tuple[str, ...]) -> Groups:
    keys = frame[list(columns)].astype(str)
    grouped = keys.groupby(list(columns), sort=True)
    codes = grouped.ngroup().to_numpy()
    labels = []
    for key in grouped.size().index:  # not .groups: its keys change shape in pandas 3
        values = key if isinstance(key, tuple) else (key,)
        labels.append(" & ".join(f"{c}={v}" for c, v in zip(columns, values, strict=True)))
    sizes = np.bincount(codes, minlength=len(labels))
    return Groups(columns, tuple(labels), codes, sizes)


def cell_groups(columns: tuple[str, ...], keys: list[tuple[Any, ...]]) -> Groups:
    """Groups of distinct rows (streamed cells) whose first keys are the group's values as
    strings, in the order make_groups gives them; each cell's count makes the sizes."""
    distinct = sorted({key[: len(columns)] for key in keys})
    index = {values: g for g, values in enumerate(distinct)}
    codes = np.array([index[key[: len(columns)]] for key in keys], dtype=np.int64)
    labels = tuple(
        " & ".join(f"{c}={v}" for c, v in zip(columns, values, strict=True)) for values in distinct
    )
    return Groups(columns, labels, codes, np.zeros(len(labels)))


def point_by_group(
    components: tuple[Component, ...],
    y_true: Any,
    y_pred: Any,
    groups: Groups,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Each component's value per group, computed by fairlearn's MetricFrame (with each
    row's weight, for distinct rows and their counts)."""
    from fairlearn.metrics import MetricFrame

    extra = {}
    if weights is not None:
        extra["sample_params"] = {c.name: {"sample_weight": weights} for c in components}
    frame = MetricFrame(
        metrics={c.name: c.point for c in components},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups.codes,
        **extra,
    )
    by_group = frame.by_group.reindex(range(len(groups.labels)))
    return np.array([by_group[c.name].to_numpy(dtype=float) for c in components])


class Resampler:
    """Per-group values of some components on every resample of the same rows.

    ``predictions`` may hold several models' outputs (candidate and champion) so that their
    figures come from the very same resampled rows.
    """

    def __init__(
        self, groups: Groups, y_true: Any, predictions: list[Any], pos_label: Any = None
    ) -> None:
        self.groups, self.pos_label = groups, pos_label
        self.table = stats.compress(groups.codes, np.asarray(y_true), *map(np.asarray, predictions))
        self.models = len(predictions)
        self._scorers: dict[tuple[str, int, int, int], Any] = {}
        self._weights: np.ndarray | None = None

    @classmethod
    def drawn(
        cls, groups: Groups, table: stats.Table, weights: np.ndarray, pos_label: Any = None
    ) -> Resampler:
        """Distinct (group, truth, predictions...) rows whose resample weights are already
        drawn (resamples x rows: a streamed pass's Poisson weights summed per row)."""
        resampler = cls.__new__(cls)
        resampler.groups, resampler.pos_label, resampler.table = groups, pos_label, table
        resampler.models = len(table.columns) - 2
        resampler._scorers, resampler._weights = {}, weights
        return resampler

    def draws(
        self, components: tuple[Component, ...], resamples: int, seed: int
    ) -> list[np.ndarray]:
        """Per model: its values on every resample (resamples x components x groups)."""
        index = self._index(components)
        draws: list[list[np.ndarray]] = [[] for _ in range(self.models)]
        chunks = (
            stats.weight_chunks(self.table, resamples, seed)
            if self._weights is None
            else [self._weights]
        )
        for chunk in chunks:
            for m in range(self.models):
                draws[m].append(self._chunk(components, index, m, chunk))
        return [np.concatenate(d) for d in draws]

    def _chunk(
        self,
        components: tuple[Component, ...],
        index: list[list[np.ndarray]],
        model: int,
        chunk: np.ndarray,
    ) -> np.ndarray:
        """resamples x components x groups for one chunk: batched where the metric allows."""
        from pytest_modelgate.stats.confusion import batch_scores

        truth, pred = self.table.columns[1], self.table.columns[2 + model]
        out = np.full((len(chunk), len(components), len(self.groups.labels)), np.nan)
        for c, component in enumerate(components):
            for g, rows in enumerate(index[c]):
                weights = chunk[:, rows]
                drawn = weights.sum(axis=1) > 0
                batch = _batch_rate(component, pred[rows], weights)
                if batch is None and not self.table.compressed:
                    # continuous outputs (a regressor's errors): weighted sums, stats.moments
                    batch = self._moments(component, c, g, model, truth[rows], pred[rows], weights)
                if batch is None:
                    batch = batch_scores(component.resampled, truth[rows], pred[rows], weights)
                if batch is None:
                    batch = np.array(
                        [self._one(component, truth[rows], pred[rows], w) for w in weights]
                    )
                out[:, c, g] = np.where(drawn, batch, np.nan)
        return out

    def _moments(
        self,
        component: Component,
        c: int,
        g: int,
        model: int,
        truth: np.ndarray,
        pred: np.ndarray,
        weights: np.ndarray,
    ) -> np.ndarray | None:
        from pytest_modelgate.stats.moments import scorer

        key = (component.name, c, g, model)
        if key not in self._scorers:
            self._scorers[key] = scorer(component.resampled, truth, pred)
        batch = self._scorers[key]
        return None if batch is None else batch(weights)

    @staticmethod
    def _one(
        component: Component, truth: np.ndarray, pred: np.ndarray, weights: np.ndarray
    ) -> float:
        if weights.sum() == 0:
            return float("nan")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return float(component.resampled(truth, pred, sample_weight=weights))
            except ValueError:
                return float("nan")

    def _index(self, components: tuple[Component, ...]) -> list[list[np.ndarray]]:
        code, truth = self.table.columns[0], self.table.columns[1]
        out = []
        for component in components:
            keep = np.ones(len(code), dtype=bool)
            if component.condition == "positive":
                keep = truth == self.pos_label
            elif component.condition == "negative":
                keep = truth != self.pos_label
            out.append([np.flatnonzero(keep & (code == g)) for g in range(len(self.groups.labels))])
        return out


def summarise(values: np.ndarray, summary: str, eligible: np.ndarray, greater: bool) -> np.ndarray:
    """The between-group summary of ``values`` (... x components x groups) over eligible groups,
    as fairlearn's MetricFrame defines it: difference = max - min (between groups), ratio =
    min / max; several components (equalized odds) take the worst of them. ``worst`` is the
    lowest group for a higher-is-better metric, else the highest. Undefined stays NaN."""
    chosen = values[..., eligible]
    with np.errstate(divide="ignore", invalid="ignore"):
        highest, lowest = chosen.max(axis=-1), chosen.min(axis=-1)
        if summary == "difference":
            return np.asarray(np.max(highest - lowest, axis=-1))
        if summary == "ratio":
            return np.asarray(np.min(np.where(highest > 0, lowest / highest, np.nan), axis=-1))
    return np.asarray((lowest if greater else highest)[..., 0])


def interval(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each cell over the resamples (axis 0), ignoring undefined ones.

    For a between-group gap near zero the interval can sit above the point value: the
    resampled max - min is biased upward. Deciding a ``max`` on its upper bound is then
    conservative, which is the safe side for a gate."""
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN cell stays NaN
        low, high = np.nanquantile(values, [tail, 1.0 - tail], axis=0)
    return low, high


def _batch_rate(component: Component, pred: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Selection rate (the resampled form of every rate component) for a whole chunk: the
    weighted share of rows predicted positive, as fairlearn's selection_rate computes it."""
    func = getattr(component.resampled, "func", None)
    if getattr(func, "__name__", "") != "selection_rate":
        return None
    pos_label = getattr(component.resampled, "keywords", {}).get("pos_label", 1)
    positive = (pred == pos_label).astype(float)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((weights * positive).sum(axis=1) / total, dtype=float)
