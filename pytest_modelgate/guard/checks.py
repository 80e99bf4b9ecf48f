"""The guard's checks on the counts since its first look, each decided on a confidence
sequence (``stats.sequential``) so that looking again every interval never inflates its false
alarms. The guard's ``alpha`` is shared by its checks (Bonferroni: each gets ``alpha / k``).

- error rate: 5xx answers over requests, against ``error_rate``;
- latency: a quantile ``q`` within budget ``B`` means at most ``1 - q`` of the requests took
  longer than ``B``. The histogram says only which bucket a request fell in, so the requests
  above the first bucket bound at or over ``B`` were certainly slower (they decide a fail) and
  those above the last bound at or under ``B`` possibly slower (they decide a pass);
- drift: each feature's inputs by the bins of the gated data, PSI bounded over every share the
  counts allow;
- prediction mix: the predicted classes against the gate run's share of each class;
- against a baseline (canary against stable): the error rate and each latency budget's share
  of slower requests may exceed the baseline endpoint's by at most a margin. The difference is
  bounded by the two rates' confidence sequences, each at half the check's alpha.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_modelgate.guard.counts import Counts
from pytest_modelgate.promotion.guard_spec import GuardSpec
from pytest_modelgate.stats.sequential import Bounds, psi_bounds, rate_bounds, trials_to_settle

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class Finding:
    check: str
    verdict: str
    text: str  # the measurement, its interval and the limit
    needed: int | None = None  # requests in all that would settle it, when known


@dataclass(frozen=True)
class References:
    """What the counts are compared with: each feature's bins and reference shares (from the
    drift reference the bento was built with), and the gate run's share of each class."""

    features: Mapping[str, tuple[list[str], list[float]]]
    classes: Mapping[str, float] | None
    why_no_classes: str = ""


def evaluate(
    spec: GuardSpec, counts: Counts, refs: References, baseline: Counts | None = None
) -> list[Finding]:
    """Every declared check on ``counts`` (and against ``baseline``, the same counters of a
    stable endpoint, when the spec names one)."""
    features = _guarded_features(spec, refs)
    mix = spec.mix_psi is not None and refs.classes is not None
    k = (spec.error_rate is not None) + len(spec.latency) + len(features) + mix
    k += (1 + len(spec.latency)) if baseline is not None else 0
    alpha = spec.alpha / max(k, 1)
    findings = []
    if spec.error_rate is not None:
        findings.append(error_rate(counts, spec.error_rate, alpha))
    for quantile, budget in sorted(spec.latency.items()):
        findings.append(latency(counts, quantile, budget, alpha))
    for feature in features:
        bins, shares = refs.features[feature]
        observed = counts.bins.get(feature, {})
        assert spec.drift_psi is not None  # features are guarded only with a limit
        findings.append(
            distribution(
                f"drift {feature}",
                [observed.get(b, 0.0) for b in bins],
                shares,
                spec.drift_psi,
                alpha,
            )
        )
    if mix:
        assert refs.classes is not None
        assert spec.mix_psi is not None
        classes = sorted(set(refs.classes) | set(counts.predictions))
        observed_mix = [counts.predictions.get(c, 0.0) for c in classes]
        expected = [refs.classes.get(c, 0.0) for c in classes]
        findings.append(distribution("prediction mix", observed_mix, expected, spec.mix_psi, alpha))
    if baseline is not None:
        findings += against_baseline(spec, counts, baseline, alpha)
    return findings


def against_baseline(spec: GuardSpec, counts: Counts, base: Counts, alpha: float) -> list[Finding]:
    """The error rate, and each latency budget's share of slower requests, against the
    baseline's: each within its margin."""
    found = [
        difference(
            "error rate vs baseline", (counts.errors, counts.errors, counts.requests),
            (base.errors, base.errors, base.requests), spec.baseline_error_rate, alpha,
        )
    ]  # fmt: skip
    for quantile, budget in sorted(spec.latency.items()):
        found.append(
            difference(
                f"latency p{_quantile_name(quantile)} vs baseline", _slower(counts, budget),
                _slower(base, budget), spec.baseline_slower, alpha,
            )
        )  # fmt: skip
    return found


def _slower(counts: Counts, budget_s: float) -> tuple[float, float, float]:
    """(requests certainly slower than the budget, possibly slower, all requests)."""
    finite = sorted(b for b in counts.buckets if math.isfinite(b))
    total = counts.buckets.get(math.inf, counts.requests)
    above = [b for b in finite if b >= budget_s]
    below = [b for b in finite if b <= budget_s]
    certain = total - counts.buckets[above[0]] if above else 0.0
    possible = total - counts.buckets[below[-1]] if below else total
    return certain, possible, total


def difference(
    name: str,
    guarded: tuple[float, float, float],
    base: tuple[float, float, float],
    margin: float,
    alpha: float,
) -> Finding:
    """Is the guarded rate at most ``margin`` above the baseline's? Each side is (events
    certainly counted, events possibly counted, trials); the difference is bounded by the two
    confidence sequences at ``alpha / 2`` each."""
    (g_low_events, g_high_events, g_n), (b_low_events, b_high_events, b_n) = guarded, base
    if not g_n or not b_n:
        return Finding(name, INCONCLUSIVE, "no requests on one side yet", None)
    g_low = rate_bounds(int(g_low_events), int(g_n), alpha / 2, margin or 0.5)
    g_high = rate_bounds(int(g_high_events), int(g_n), alpha / 2, margin or 0.5)
    b_low = rate_bounds(int(b_low_events), int(b_n), alpha / 2, margin or 0.5)
    b_high = rate_bounds(int(b_high_events), int(b_n), alpha / 2, margin or 0.5)
    low, high = g_low.low - b_high.high, g_high.high - b_low.low
    text = (
        f"{g_low.estimate:.2%} against the baseline's {b_high.estimate:.2%} "
        f"({int(g_n)} and {int(b_n)} requests); difference in [{low:+.2%}, {high:+.2%}], "
        f"margin {margin:.2%}"
    )
    if low > margin:
        return Finding(name, FAIL, text)
    if high < margin:
        return Finding(name, PASS, text)
    return Finding(name, INCONCLUSIVE, text)


def _guarded_features(spec: GuardSpec, refs: References) -> list[str]:
    if spec.drift_psi is None:
        return []
    wanted = spec.drift_features or tuple(refs.features)
    return [f for f in wanted if f in refs.features]


def error_rate(counts: Counts, limit: float, alpha: float) -> Finding:
    n, errors = int(counts.requests), int(counts.errors)
    bounds = rate_bounds(errors, n, alpha, limit)
    extra = f"; {int(counts.model_errors)} failed model calls" if counts.model_errors else ""
    text = f"{errors} of {n} requests failed ({_rate(bounds, limit)}{extra})"
    return _finding("error rate", bounds, limit, n, alpha, text)


def latency(counts: Counts, quantile: float, budget_s: float, alpha: float) -> Finding:
    name = f"latency p{_quantile_name(quantile)}"
    allowed = 1.0 - quantile
    certain, possible, total = _slower(counts, budget_s)
    n = int(total)
    if n == 0 or not any(math.isfinite(b) for b in counts.buckets):
        return Finding(name, INCONCLUSIVE, "no latency histogram samples yet", None)
    slow = rate_bounds(int(certain), n, alpha, allowed)
    maybe = rate_bounds(int(possible), n, alpha, allowed)
    observed = histogram_quantile(quantile, counts.buckets)
    text = (
        f"p{_quantile_name(quantile)} about {_ms(observed)} against a budget of {_ms(budget_s)}: "
        f"{int(certain)} to {int(possible)} of {n} requests slower than the budget "
        f"(at most {allowed:.2%} allowed; share in [{maybe.low:.2%}, {slow.high:.2%}])"
    )
    if slow.low > allowed:
        return Finding(name, FAIL, text)
    if maybe.high < allowed:
        return Finding(name, PASS, text)
    rate = (certain + possible) / 2 / n
    return Finding(name, INCONCLUSIVE, text, trials_to_settle(rate, allowed, alpha, n))


def histogram_quantile(quantile: float, buckets: Mapping[float, float]) -> float:
    """Prometheus's ``histogram_quantile``: linear within the bucket the quantile falls in."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return math.nan
    rank, lower, below = quantile * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


def distribution(
    name: str, observed: list[float], expected: list[float], limit: float, alpha: float
) -> Finding:
    counts = np.asarray(observed, dtype=float)
    n = int(counts.sum())
    if n == 0:
        return Finding(name, INCONCLUSIVE, "no rows counted yet", None)
    bounds = psi_bounds(counts, np.asarray(expected, dtype=float), alpha)
    text = (
        f"PSI {bounds.estimate:.3f} over {n} rows, in [{bounds.low:.3f}, {bounds.high:.3f}], "
        f"limit {limit:g}"
    )
    verdict = bounds.verdict(limit)
    needed = None
    if verdict == INCONCLUSIVE:
        # the interval narrows like 1 / sqrt(n): the rows at which it would clear the limit
        gap = abs(bounds.estimate - limit)
        half = max(bounds.high - bounds.estimate, bounds.estimate - bounds.low)
        needed = int(n * (half / gap) ** 2) + 1 if gap > 0 and math.isfinite(half) else None
    return Finding(name, verdict, text, needed)


def _finding(name: str, bounds: Bounds, limit: float, n: int, alpha: float, text: str) -> Finding:
    verdict = bounds.verdict(limit)
    needed = trials_to_settle(bounds.estimate, limit, alpha, n) if verdict == INCONCLUSIVE else None
    return Finding(name, verdict, text, needed)


def _rate(bounds: Bounds, limit: float) -> str:
    estimate = "n/a" if math.isnan(bounds.estimate) else f"{bounds.estimate:.2%}"
    return f"{estimate}, in [{bounds.low:.2%}, {bounds.high:.2%}], limit {limit:.2%}"


def _quantile_name(quantile: float) -> str:
    text = f"{quantile * 100:g}".replace(".", "")
    return text


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def as_dict(finding: Finding) -> dict[str, Any]:
    return {"check": finding.check, "verdict": finding.verdict, "text": finding.text,
            "needed": finding.needed}  # fmt: skip
