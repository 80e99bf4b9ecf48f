"""Deciding an estimate against a threshold from its bootstrap draws, three ways.

A claim "the statistic is at least ``minimum``" (or at most ``maximum``) is *met* when the
whole decision interval is on the right side of the threshold, *violated* when the whole
interval is on the wrong side, and *undecided* when the interval straddles it. Equivalently,
with two one-sided bootstrap p-values: ``p_pass`` (the statistic violates the threshold) and
``p_fail`` (it meets it); a level ``a`` decides pass when ``p_pass <= a``, fail when
``p_fail <= a``. The interval at level ``a`` is the two-sided ``1 - 2a`` interval.

Bootstrap p-values count the resamples beyond the threshold, so ``B`` resamples cannot show a
p-value below about ``1 / B``. A family of many checks asks for small levels; where fewer than
``TAIL_COUNT`` resamples fall beyond the threshold, the count says only that the tail is thin,
and the tail probability is then read from the normal distribution with the bootstrap's own
standard error (smooth, never exactly 0 unless every resample is identical).

Rows needed: an interval's half-width shrinks like ``1 / sqrt(n)``, so at the observed value
the interval would just clear the threshold at ``n * (half_width / |value - threshold|) ** 2``
rows (for a proportion ``p`` against ``t`` with the normal approximation this is exactly
``z**2 * p * (1 - p) / (p - t) ** 2``; the tests check that closed form).

Holm's step-down and Bonferroni adjust a family's p-values (family-wise error control under
any dependence between the checks). Written here because statsmodels (``multipletests``) is
not a dependency and scipy has no Holm adjustment: each is a sort, a running maximum, a clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

TAIL_COUNT = 10  # resamples beyond the threshold below which the count is too thin to use
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Sides:
    """The two one-sided p-values of a claim against its threshold."""

    p_pass: float  # p-value of "the statistic violates the threshold"
    p_fail: float  # p-value of "the statistic meets the threshold"

    def verdict(self, level: float) -> str:
        if self.p_pass <= level:
            return "pass"
        if self.p_fail <= level:
            return "fail"
        return "inconclusive"


def tail_p(draws: np.ndarray, point: float, bound: float, *, below: bool) -> float:
    """P(statistic below ``bound``) when ``below`` else P(statistic above ``bound``): the share of
    resamples on that side (undefined resamples count there, failing closed), with the usual +1;
    the normal tail at the bootstrap standard error when fewer than TAIL_COUNT fall there."""
    values = np.asarray(draws, dtype=float)
    finite = values[np.isfinite(values)]
    undefined = values.size - finite.size
    beyond = int((finite < bound).sum() if below else (finite > bound).sum()) + undefined
    if beyond >= TAIL_COUNT or finite.size < 2 or not math.isfinite(point):
        return float((1 + beyond) / (1 + values.size))
    sd = float(finite.std(ddof=1))
    distance = (point - bound) if below else (bound - point)  # > 0: the point is clear of it
    if sd == 0.0:
        return 0.0 if distance > 0 else 1.0
    return float(_NORMAL.cdf(-distance / sd))


def sides(
    draws: np.ndarray, point: float, minimum: float | None = None, maximum: float | None = None
) -> Sides:
    """Both p-values of "minimum <= statistic <= maximum" (either bound may be absent).

    With both bounds the pass claim needs both sides (its p-value is the larger) and the fail
    claim needs either (the side the point value is on)."""
    if minimum is None and maximum is None:
        raise ValueError("a claim needs a minimum, a maximum or both")
    passes, fails = [], []
    if minimum is not None:
        passes.append(tail_p(draws, point, minimum, below=True))
        fails.append(tail_p(draws, point, minimum, below=False))
    if maximum is not None:
        passes.append(tail_p(draws, point, maximum, below=False))
        fails.append(tail_p(draws, point, maximum, below=True))
    if minimum is not None and maximum is not None:
        # the point is below the minimum, above the maximum, or between (then neither fails)
        fail = fails[0] if point < minimum else fails[1] if point > maximum else max(fails)
    else:
        fail = fails[0]
    # p-values from the two sides of one bound are complementary up to ties; both below the
    # same level is impossible for levels under 0.5
    return Sides(min(1.0, sum(passes) if len(passes) > 1 else passes[0]), fail)


def decision_interval(draws: np.ndarray, point: float, level: float) -> tuple[float, float]:
    """The two-sided ``1 - 2 * level`` interval: percentile where the draws resolve that level
    (at least TAIL_COUNT resamples in each tail), else normal at the bootstrap standard error."""
    values = np.asarray(draws, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not math.isfinite(point):
        return float("nan"), float("nan")
    if level * finite.size >= TAIL_COUNT:
        low, high = np.quantile(finite, [level, 1.0 - level])
        return float(low), float(high)
    z = _NORMAL.inv_cdf(1.0 - level)
    sd = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return point - z * sd, point + z * sd


def rows_needed(rows: int, point: float, half_width: float, bound: float) -> int | None:
    """Rows at which an interval of ``half_width`` at ``rows`` rows, narrowing like 1/sqrt(n),
    would just clear ``bound`` at the observed ``point``; None when the point sits on it."""
    distance = abs(point - bound)
    if not (math.isfinite(distance) and math.isfinite(half_width)) or distance == 0.0:
        return None
    # at least one more row: the interval was not narrow enough at ``rows``
    return max(rows + 1, math.ceil(rows * (half_width / distance) ** 2))


def rows_to_decide(
    draws: np.ndarray,
    point: float,
    rows: int,
    level: float,
    minimum: float | None = None,
    maximum: float | None = None,
) -> int | None:
    """Rows that would decide the claim at ``level`` at the observed value: the half-width on
    the side of the interval that faces the nearest threshold, scaled to clear it."""
    bounds = [b for b in (minimum, maximum) if b is not None]
    if not bounds or not math.isfinite(point):
        return None
    bound = min(bounds, key=lambda b: abs(point - b))
    low, high = decision_interval(draws, point, level)
    half_width = point - low if point >= bound else high - point
    return rows_needed(rows, point, half_width, bound)


def normal_half_width(sd: float, level: float) -> float:
    """Half-width of a normal two-sided ``1 - 2 * level`` interval with standard error ``sd``."""
    return _NORMAL.inv_cdf(1.0 - level) * sd


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    m = len(p_values)
    if m == 0:
        return []
    order = np.argsort(p_values, kind="stable")
    scaled = np.asarray(p_values, dtype=float)[order] * (m - np.arange(m))
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted
    return [float(v) for v in out]


def bonferroni(p_values: list[float]) -> list[float]:
    m = len(p_values)
    return [min(1.0, p * m) for p in p_values]


def effective_levels(p_values: list[float], adjusted: list[float], alpha: float) -> list[float]:
    """The level each raw p-value is in effect compared with: ``alpha * p / adjusted``, so that
    ``p <= level`` exactly when ``adjusted <= alpha``. For Holm that is alpha / (m - rank + 1)
    while the step-down goes on, and smaller once it has stopped at a larger p-value; for
    Bonferroni it is alpha / m. A p-value of 0 gets alpha / m (it is rejected either way)."""
    m = len(p_values)
    return [alpha * p / q if q > 0 else alpha / m for p, q in zip(p_values, adjusted, strict=True)]


def percent(confidence: float) -> str:
    """95%, 98.33%: a confidence level without trailing zeros."""
    return f"{confidence * 100:.4g}%"
