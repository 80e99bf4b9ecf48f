"""Three-way decisions on an interval: the p-values, the rows that would settle an
inconclusive interval (against a closed form), and the family-wise correction."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from pytest_modelgate.gates.api import Claim, Decision
from pytest_modelgate.gates.policy import decide_alone, decide_family
from pytest_modelgate.stats import bootstrap as boot
from pytest_modelgate.stats import decision as stats

Z975 = NormalDist().inv_cdf(0.975)


def bernoulli_rows(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows a model gets right on exactly ``round(p * n)`` of."""
    y = np.tile([0, 1], n // 2 + 1)[:n]
    pred = y.copy()
    wrong = n - round(p * n)
    pred[:wrong] = 1 - pred[:wrong]
    return y, pred


def test_rows_needed_with_a_normal_half_width_is_the_closed_form_for_a_proportion():
    # accuracy p against min t: the 95% normal interval p +- z sqrt(p(1-p)/n) clears t at
    # n* = z^2 p (1 - p) / (p - t)^2, whatever n was measured on
    p, t = 0.84, 0.80
    closed = Z975**2 * p * (1 - p) / (p - t) ** 2
    for n in (50, 150, 300):
        half = stats.normal_half_width(math.sqrt(p * (1 - p) / n), 0.025)
        assert stats.rows_needed(n, p, half, t) == math.ceil(closed)


def test_rows_needed_from_the_bootstrap_of_bernoulli_rows_is_near_the_closed_form():
    p, t, n = 0.84, 0.80, 150
    y, pred = bernoulli_rows(n, p)
    point, draws = boot.bootstrap_distribution(accuracy_score, y, pred, resamples=4000, seed=1)
    assert point == pytest.approx(p)
    needed = stats.rows_to_decide(draws, point, n, 0.025, minimum=t)
    closed = Z975**2 * p * (1 - p) / (p - t) ** 2  # 323 rows
    assert needed == pytest.approx(closed, rel=0.12)


def test_a_point_on_the_threshold_needs_no_finite_number_of_rows():
    assert stats.rows_needed(100, 0.8, 0.05, 0.8) is None


def test_tail_p_counts_resamples_and_uses_the_normal_tail_when_they_are_few():
    rng = np.random.default_rng(0)
    draws = rng.normal(0.9, 0.02, 1000)
    # the threshold well inside the draws: the count
    counted = stats.tail_p(draws, 0.9, 0.88, below=True)
    assert counted == pytest.approx((1 + (draws < 0.88).sum()) / 1001)
    # far out: fewer than TAIL_COUNT beyond it, so the normal tail at the bootstrap's sd
    thin = stats.tail_p(draws, 0.9, 0.82, below=True)
    assert thin == pytest.approx(NormalDist().cdf(-0.08 / draws.std(ddof=1)), rel=1e-9)
    assert 0 < thin < 1 / 1001


def test_undefined_resamples_count_against_both_claims():
    draws = np.array([0.9] * 90 + [np.nan] * 10)
    both = stats.sides(draws, 0.9, minimum=0.5)
    assert both.p_pass == pytest.approx(11 / 101)  # ten undefined: not a pass at 0.025
    assert both.p_fail == pytest.approx(1.0)
    assert both.verdict(0.025) == "inconclusive"


def claim(p_pass: float, p_fail: float, seen: list[Decision]) -> Claim:
    return Claim(p_pass, p_fail, 0.95, seen.append)


def test_a_family_of_one_is_the_check_decided_alone():
    seen: list[Decision] = []
    alone = decide_alone(claim(0.02, 0.98, seen))
    (family,) = decide_family([claim(0.02, 0.98, seen)], "run", 0.05, "holm")
    assert alone.verdict == family.verdict == "pass"
    assert alone.level == pytest.approx(0.025)
    assert family.level == pytest.approx(0.025)


def test_holm_decides_pass_fail_and_inconclusive_across_a_family():
    seen: list[Decision] = []
    claims = [
        claim(0.001, 0.999, seen),  # clear pass: 0.001 <= 0.025 / 4
        claim(0.011, 0.989, seen),  # passes alone, not at 0.025 / 3 once in the family
        claim(0.999, 0.002, seen),  # clear fail
        claim(0.30, 0.70, seen),  # straddles
    ]
    decisions = decide_family(claims, "run", 0.05, "holm")
    assert [d.verdict for d in decisions] == ["pass", "inconclusive", "fail", "inconclusive"]
    assert [decide_alone(c).verdict for c in claims] == ["pass", "pass", "fail", "inconclusive"]
    first, second = decisions[0], decisions[1]
    assert first.level == pytest.approx(0.025 / 4)
    assert second.adjusted_p == pytest.approx(0.033)
    # once the step-down stops, a member's effective level keeps p <= level <=> rejected
    assert second.p_value > second.level
    assert all(d.family_size == 4 and d.alpha == 0.05 for d in decisions)


def test_bonferroni_compares_every_p_value_with_alpha_over_the_family():
    seen: list[Decision] = []
    claims = [claim(0.006, 0.994, seen), claim(0.02, 0.98, seen)]
    decisions = decide_family(claims, "f", 0.05, "bonferroni")
    assert [d.verdict for d in decisions] == ["pass", "inconclusive"]
    assert decisions[0].level == pytest.approx(0.0125)
