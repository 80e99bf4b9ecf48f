"""What a live guard checks for one environment: the ``guard:`` key of a promotion path step.

::

    - env: staging
      guard:
        url: ${STAGING_URL}     # the served environment (its /metrics); or prometheus: URL
        interval: 30s           # one look per interval ...
        looks: 20               # ... at most this many (the guard's time is bounded)
        confirm_after: 4        # looks before a pass may confirm the version
        alpha: 0.05             # false alarms over the whole guard, all checks together
        min_requests: 500       # fewer requests than this never confirms
        min_rate: 1             # requests per second: less traffic never confirms
        error_rate: 0.01        # 5xx answers and model errors over requests, at most
        latency: {p99: 250ms}   # quantile: budget (any of p50 .. p999)
        drift: {psi: 0.5}       # each feature's input PSI against the gated data, at most
        prediction_mix: {psi: 0.25}  # predicted classes against the gate run's, at most
        baseline:               # canary against stable: the same counters of another endpoint
          url: ${PROD_URL}
          error_rate: 0.01      # at most this much above the baseline's error rate
          slower: 0.02          # and this much above its share over each latency budget
    - env: production           # after staging: needs staging's guard to have confirmed

Plain data only: the guard itself lives in ``pytest_modelgate.guard``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pytest_modelgate.suite.nodes import Node

GUARD_KEYS = {
    "url", "prometheus", "selector", "interval", "looks", "confirm_after", "alpha",
    "min_requests", "min_rate", "error_rate", "latency", "drift", "prediction_mix",
    "measurement_errors", "baseline",
}  # fmt: skip
BASELINE_KEYS = {"url", "error_rate", "slower"}
QUANTILE = re.compile(r"^p(\d{2}|9\d{2})$")  # p50, p95, p99, p999
SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


@dataclass(frozen=True)
class GuardSpec:
    url: str = ""  # the service's base URL; ${VAR} read when the guard runs
    prometheus: str = ""  # or a Prometheus server's base URL (a fleet of replicas)
    selector: str = ""  # label matchers for the Prometheus queries, e.g. job="staging"
    interval_s: float = 30.0
    looks: int = 20
    confirm_after: int = 1
    alpha: float = 0.05
    min_requests: int = 200
    min_rate: float = 0.0
    error_rate: float | None = 0.01
    latency: dict[float, float] = field(default_factory=dict)  # quantile -> budget seconds
    drift_psi: float | None = 0.5
    drift_features: tuple[str, ...] = ()
    mix_psi: float | None = 0.25
    measurement_errors: int = 3  # unreadable scrapes tolerated before the guard gives up
    baseline_url: str = ""  # a stable version's endpoint to compare with ('' for none)
    baseline_error_rate: float = 0.01  # how much worse than the baseline the error rate may be
    baseline_slower: float = 0.02  # ... and the share of requests over a latency budget
    where: str = ""

    @property
    def duration_s(self) -> float:
        return self.interval_s * self.looks

    @property
    def variables(self) -> list[str]:
        """The environment variables its endpoints name (``${VAR}``)."""
        return re.findall(r"\$\{(\w+)\}", " ".join((self.url, self.prometheus, self.baseline_url)))


def parse_guard(node: Node) -> GuardSpec:
    node = node.mapping().only(GUARD_KEYS)
    url = node.value_or("url", Node.as_str, "").strip()
    prometheus = node.value_or("prometheus", Node.as_str, "").strip()
    if url and prometheus:
        raise node.error("give url (one service) or prometheus (a fleet), not both")
    spec = GuardSpec(
        url=url,
        prometheus=prometheus,
        selector=node.value_or("selector", Node.as_str, "").strip(),
        interval_s=node.value_or("interval", _seconds, 30.0),
        looks=node.value_or("looks", lambda n: n.as_int(minimum=1), 20),
        confirm_after=node.value_or("confirm_after", lambda n: n.as_int(minimum=1), 1),
        alpha=node.value_or("alpha", lambda n: n.as_fraction(open_low=True), 0.05),
        min_requests=node.value_or("min_requests", lambda n: n.as_int(minimum=1), 200),
        min_rate=node.value_or("min_rate", _non_negative, 0.0),
        error_rate=_optional_fraction(node.get("error_rate"), 0.01),
        latency=node.value_or("latency", _latency, {}),
        drift_psi=_psi(node.get("drift"), 0.5),
        drift_features=_features(node.get("drift")),
        mix_psi=_psi(node.get("prediction_mix"), 0.25),
        measurement_errors=node.value_or("measurement_errors", lambda n: n.as_int(minimum=0), 3),
        **_baseline(node.get("baseline")),
        where=f"{node.path}:{node.line}" if node.line else str(node.path),
    )
    if spec.confirm_after > spec.looks:
        raise node.error(f"confirm_after ({spec.confirm_after}) exceeds looks ({spec.looks})")
    return spec


def _baseline(node: Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    section = node.mapping().only(BASELINE_KEYS)
    return {
        "baseline_url": section.require("url").as_str().strip(),
        "baseline_error_rate": section.value_or("error_rate", Node.as_fraction, 0.01),
        "baseline_slower": section.value_or("slower", Node.as_fraction, 0.02),
    }


def _seconds(node: Node) -> float:
    value = node.value
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = SECONDS.match(value) if isinstance(value, str) else None
    if match is None or float(match[1]) <= 0:
        raise node.error(f"expected a positive duration such as 500ms, 30s or 5m, got {value!r}")
    return float(match[1]) * UNIT_S[match[2]]


def _non_negative(node: Node) -> float:
    number = node.as_number()
    if number < 0:
        raise node.error(f"expected a number >= 0, got {number:g}")
    return number


def _optional_fraction(node: Node | None, default: float) -> float | None:
    """A limit, or null (false) to switch the check off."""
    if node is None:
        return default
    if node.value is None or node.value is False:
        return None
    return node.as_fraction(open_low=True)


def _latency(node: Node) -> dict[float, float]:
    budgets = {}
    for key, child in node.mapping().items():
        match = QUANTILE.match(key)
        quantile = int(match[1]) / 10 ** len(match[1]) if match else 0.0
        if match is None or not 0 < quantile < 1:
            raise child.error("expected a quantile such as p50, p95, p99 or p999")
        budgets[quantile] = _seconds(child)
    return budgets


def _psi(node: Node | None, default: float) -> float | None:
    if node is None:
        return default
    if node.value is None or node.value is False:
        return None
    section = node.mapping().only({"psi", "features"})
    return section.value_or("psi", _non_negative, default)


def _features(node: Node | None) -> tuple[str, ...]:
    if node is None or not isinstance(node.value, dict):
        return ()
    return node.value_or("features", Node.as_str_list, ())
