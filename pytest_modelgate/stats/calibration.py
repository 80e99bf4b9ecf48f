"""Calibration of predicted probabilities: expected calibration error (ECE) and the Brier score,
on all rows and on every bootstrap resample of them, plus the reliability table behind them.

Binary models are judged on the positive class's probability (the reliability of P(y = pos));
models of several classes on their top label (confidence = the largest probability, correct =
the top class is the true one), as Guo et al. (2017) define ECE. The bins are sklearn's
``calibration_curve`` bins (equal width, or quantiles of the predictions), so the point ECE is
the bin-size-weighted gap between its ``prob_true`` and ``prob_pred``; the tests check that.

Why not sklearn alone: it has no ECE, and ``calibration_curve`` takes no sample weights, so it
cannot score bootstrap resamples. Both statistics are sums of per-row terms within bins, so a
chunk of resamples (multinomial row counts, ``stats.bootstrap.weight_chunks``) is scored with a
few matrix products, whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

STRATEGIES = ("uniform", "quantile")


@dataclass(frozen=True)
class Calibration:
    """What calibration is measured on: one probability and one 0/1 outcome per row."""

    confidence: np.ndarray  # the probability judged (positive class, or the top label's)
    outcome: np.ndarray  # 1.0 where it came true
    squared: np.ndarray  # each row's Brier term (as sklearn's brier_score_loss sums it)
    bins: np.ndarray  # each row's bin
    edges: np.ndarray
    judged: str  # "P(class 1)" or "top label"

    @property
    def rows(self) -> int:
        return len(self.confidence)


def prepare(
    y_true: Any, proba: Any, classes: Any, *, bins: int = 10, strategy: str = "uniform"
) -> Calibration:
    """The per-row terms of a classifier's probabilities against the truth."""
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=float)
    labels = list(classes)
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise ValueError(f"probabilities of shape {p.shape} for {len(labels)} classes")
    onehot = (y[:, None] == np.asarray(labels, dtype=object)[None, :]).astype(float)
    # sklearn's brier_score_loss: the positive class alone for two classes, else every class
    squared = ((p - onehot) ** 2).sum(axis=1) if len(labels) > 2 else (p[:, 1] - onehot[:, 1]) ** 2
    judged = judged_of(labels)
    if len(labels) == 2:
        confidence = p[:, 1]
        outcome = onehot[:, 1]
    else:
        top = p.argmax(axis=1)
        confidence = p[np.arange(len(p)), top]
        outcome = onehot[np.arange(len(p)), top]
    edges = bin_edges(confidence, bins, strategy)
    # calibration_curve's binning: the inner edges split [0, 1]
    index = np.searchsorted(edges[1:-1], confidence, side="right")
    return Calibration(confidence, outcome, squared, index, edges, judged)


def judged_of(labels: list[Any]) -> str:
    """What is judged: the positive class's probability, or the top label's."""
    if len(labels) != 2:
        return "top label"
    positive = labels[1].item() if hasattr(labels[1], "item") else labels[1]
    return f"P(class {positive!r})"


def bin_edges(confidence: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    if strategy == "quantile":
        return np.asarray(np.percentile(confidence, np.linspace(0, 100, bins + 1)), dtype=float)
    return np.linspace(0.0, 1.0, bins + 1)


def ece(c: Calibration, weights: np.ndarray | None = None) -> np.ndarray:
    """ECE for each row of ``weights`` (resamples x rows; None: every row once)."""
    w = np.ones((1, c.rows)) if weights is None else np.asarray(weights, dtype=float)
    nbins = len(c.edges) - 1
    total = w.sum(axis=1)
    gap = np.zeros(len(w))
    # per bin: |sum of w * (outcome - confidence)| over its rows
    residual = c.outcome - c.confidence
    for b in range(nbins):
        rows = c.bins == b
        if rows.any():
            gap += np.abs(w[:, rows] @ residual[rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(gap / total, dtype=float)


def brier(c: Calibration, weights: np.ndarray | None = None) -> np.ndarray:
    """The Brier score for each resample: sklearn's ``brier_score_loss`` (the positive class's
    squared error for two classes, the sum over classes for more), with weights."""
    w = np.ones((1, c.rows)) if weights is None else np.asarray(weights, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((w @ c.squared) / w.sum(axis=1), dtype=float)


STATISTICS = {"ece": ece, "brier": brier}
NAMES = {"ece": "expected calibration error", "brier": "Brier score"}


def reliability(c: Calibration) -> list[dict[str, float | int | None]]:
    """Per bin: its edges, rows, mean predicted probability and observed frequency."""
    out: list[dict[str, float | int | None]] = []
    for b in range(len(c.edges) - 1):
        rows = c.bins == b
        count = int(rows.sum())
        out.append(
            {
                "low": float(c.edges[b]),
                "high": float(c.edges[b + 1]),
                "rows": count,
                "mean_predicted": float(c.confidence[rows].mean()) if count else None,
                "observed": float(c.outcome[rows].mean()) if count else None,
            }
        )
    return out


def draws(statistic: str, models: list[Calibration], resamples: int, seed: int) -> list[np.ndarray]:
    """The statistic of each model on the very same resampled rows."""
    from pytest_modelgate.stats.bootstrap import Table, weight_chunks

    n = models[0].rows
    table = Table((np.arange(n),), np.ones(n, dtype=np.int64), False)
    score = STATISTICS[statistic]
    out: list[list[np.ndarray]] = [[] for _ in models]
    for chunk in weight_chunks(table, resamples, seed):
        for m, model in enumerate(models):
            out[m].append(score(model, chunk))
    return [np.concatenate(values) for values in out]


# -- from streamed sums: cells keyed by bin, terms (outcome, confidence, squared error) --------

SUM_TERMS = 3


def row_terms(c: Calibration) -> tuple[list[np.ndarray], np.ndarray]:
    """One batch's key column (the bin) and terms, for ``stats.sums.CellSums``."""
    return [c.bins], np.column_stack([c.outcome, c.confidence, c.squared])


def from_sums(statistic: str, sums: Any) -> tuple[float, np.ndarray]:
    """The statistic's point value and its value on every resample, from cells keyed by bin:
    ECE is the sum over bins of |sum of w x (outcome - confidence)| over the total weight,
    Brier the sum of w x squared error over it."""
    point = sums.point[None]  # 1 x cells x (1 + terms)
    draws = np.swapaxes(sums.draws, 0, 1)  # resamples x cells x (1 + terms)
    values = [_from(statistic, point), _from(statistic, draws)]
    return float(values[0][0]), values[1]


def _from(statistic: str, s: np.ndarray) -> np.ndarray:
    total = s[..., 0].sum(axis=1)
    if statistic == "ece":
        summed = np.abs(s[..., 1] - s[..., 2]).sum(axis=1)
    else:
        summed = s[..., 3].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(summed / total, dtype=float)


def reliability_from_sums(sums: Any, edges: np.ndarray) -> list[dict[str, float | int | None]]:
    """The reliability table from the cells' point sums."""
    by_bin = {int(key[0]): sums.point[i] for i, key in enumerate(sums.keys)}
    out: list[dict[str, float | int | None]] = []
    for b in range(len(edges) - 1):
        cell = by_bin.get(b)
        count = int(cell[0]) if cell is not None else 0
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "rows": count,
                "mean_predicted": float(cell[2] / count) if cell is not None and count else None,
                "observed": float(cell[1] / count) if cell is not None and count else None,
            }
        )
    return out
