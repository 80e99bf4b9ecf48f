"""Decisions that stay valid however often they are looked at: confidence sequences.

A live guard looks at its counters every interval. A fixed-sample test (or a point value
against a threshold) checked at every look rejects a healthy version more and more often as
the looks add up. A *confidence sequence* is a sequence of intervals that holds the true value
at every time at once with probability ``1 - alpha``, so a decision taken at any look, or at
the first look that settles it, keeps its error rate at ``alpha``.

For a rate (the share of requests that fail, or that are slower than a latency budget) the
interval is the beta-binomial mixture martingale of Robbins (1970), as in Howard, Ramdas,
McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences"
(Annals of Statistics, 2021): for a candidate rate ``p``,

    M_n(p) = B(a + S, b + n - S) / B(a, b) / (p**S * (1 - p)**(n - S))

is a nonnegative martingale when the rate is ``p`` (the mixture over a Beta(a, b) prior of the
likelihood ratios against ``p``), so by Ville's inequality it ever reaches ``1 / alpha`` with
probability at most ``alpha``. The confidence sequence is every ``p`` with
``M_n(p) < 1 / alpha``: an interval around the observed rate, found here by bisection. The
prior is centred on the threshold with the weight of one event (``a = 1``,
``b = (1 - t) / t``), which makes the sequence tightest where the decisions are made. The
``confseq`` package has the same boundaries but ships as C++ source that needs a compiler;
this closed form needs only scipy, vectorised over many streams at once.

For a distribution over bins (a feature's inputs, the predicted classes) the bins' shares get
simultaneous confidence sequences (each bin's at ``alpha / bins``, Bonferroni), and the
population stability index against the reference is bounded below and above over that box:
each bin's term ``(p - q) ln(p / q)`` is convex in ``p`` with its minimum at ``q``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln

from pytest_modelgate.stats.drift import EPSILON

ITERATIONS = 60  # bisection steps: the interval is then exact to machine precision


@dataclass(frozen=True)
class Bounds:
    """A confidence sequence's interval at one look, with its verdict against a limit."""

    low: float
    high: float
    estimate: float

    def verdict(self, limit: float) -> str:
        """``fail`` when the whole interval exceeds ``limit``, ``pass`` when it is below."""
        if self.low > limit:
            return "fail"
        if self.high < limit:
            return "pass"
        return "inconclusive"


def prior(limit: float) -> tuple[float, float]:
    """Beta(a, b) centred on ``limit`` with the weight of one event."""
    limit = min(max(limit, 1e-6), 1 - 1e-6)
    return 1.0, (1.0 - limit) / limit


def log_mixture(
    events: np.ndarray, trials: np.ndarray, p: np.ndarray, a: float, b: float
) -> np.ndarray:
    """log M_n(p) of the beta-binomial mixture (vectorised)."""
    misses = trials - events
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lik = np.where(events > 0, events * np.log(p), 0.0)
        log_lik = log_lik + np.where(misses > 0, misses * np.log1p(-p), 0.0)
    found: np.ndarray = betaln(a + events, b + misses) - betaln(a, b) - log_lik
    return found


def rate_interval(
    events: np.ndarray | float, trials: np.ndarray | float, alpha: float, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the rate's confidence sequence at level ``1 - alpha`` after ``events`` of
    ``trials``; arrays of streams at once. With no trials the interval is [0, 1]."""
    s = np.asarray(events, dtype=float)
    n = np.asarray(trials, dtype=float)
    a, b = prior(limit)
    level = np.log(1.0 / alpha)
    estimate = np.where(n > 0, s / np.maximum(n, 1), 0.5)

    def outside(p: np.ndarray) -> np.ndarray:
        found: np.ndarray = log_mixture(s, n, p, a, b) >= level
        return found

    # low: the smallest p still inside, between 0 and the estimate (which is always inside)
    lo, hi = np.zeros_like(estimate), estimate.copy()
    for _ in range(ITERATIONS):
        mid = (lo + hi) / 2
        out = outside(mid)
        lo, hi = np.where(out, mid, lo), np.where(out, hi, mid)
    low = np.where(outside(np.zeros_like(estimate) + 1e-300), hi, 0.0)
    lo, hi = estimate.copy(), np.ones_like(estimate)
    for _ in range(ITERATIONS):
        mid = (lo + hi) / 2
        out = outside(mid)
        lo, hi = np.where(out, lo, mid), np.where(out, mid, hi)
    high = np.where(outside(np.ones_like(estimate) - 1e-16), lo, 1.0)
    return np.where(n > 0, low, 0.0), np.where(n > 0, high, 1.0)


def rate_bounds(events: int, trials: int, alpha: float, limit: float) -> Bounds:
    low, high = rate_interval(events, trials, alpha, limit)
    return Bounds(float(low), float(high), events / trials if trials else float("nan"))


def trials_to_settle(rate: float, limit: float, alpha: float, done: int) -> int | None:
    """How many trials in all would settle a rate observed at ``rate`` against ``limit``
    (the interval then clears the limit), or None when the rate sits on the limit."""
    if not np.isfinite(rate) or abs(rate - limit) < 1e-12:
        return None
    sizes = np.unique(np.geomspace(max(done, 10), max(done, 10) * 1e6, 400).astype(int))
    low, high = rate_interval(rate * sizes, sizes, alpha, limit)
    settled = (low > limit) | (high < limit)
    return int(sizes[np.argmax(settled)]) if settled.any() else None


def _psi_term(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    found: np.ndarray = (p - q) * np.log(p / q)
    return found


def psi_bounds(counts: np.ndarray, reference: np.ndarray, alpha: float) -> Bounds:
    """Bounds on the PSI of the distribution behind ``counts`` (per bin) against the
    ``reference`` shares, holding at every look with probability ``1 - alpha``."""
    counts = np.asarray(counts, dtype=float)
    q = np.asarray(reference, dtype=float)
    n = counts.sum()
    if n <= 0:
        return Bounds(0.0, float("inf"), float("nan"))
    low, high = rate_interval(counts, np.full_like(counts, n), alpha / len(counts), 0.5)
    inside = (low <= q) & (q <= high)
    nearest = np.where(q < low, low, high)
    lowest = np.where(inside, 0.0, _psi_term(nearest, q)).sum()
    highest = np.maximum(_psi_term(low, q), _psi_term(high, q)).sum()
    return Bounds(float(lowest), float(highest), float(_psi_term(counts / n, q).sum()))
