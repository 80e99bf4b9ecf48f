"""The load gate: the candidate's bento served on loopback, loaded by locust in its own process.

Suite section::

    load:
      users: 20               # concurrent simulated users
      spawn_rate: 20          # users started per second (default: all at once)
      run_time_s: 5           # how long locust runs
      rows: 200               # eval rows sampled (with replacement) as request bodies
      batch: 1                # rows per request
      body: rows              # body form: rows, dataframe_split or columns
      processes: 2            # locust worker processes (locust's distributed mode)
      max_requests: 100000    # the run stops short of this many requests
      p95_ms: 50              # budgets on locust's aggregated response times
      p99_ms: 100
      max_failure_ratio: 0.0  # failed requests / requests
      min_rps: 200            # requests per second over the run

One item, ``load[users-N]``: it builds the bento a promotion would build, serves it in
candidate mode, runs ``locust --headless --processes N`` on loopback and decides on the
``Aggregated`` stats locust's master writes for all its workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.bento.load_runner import LoadPlan
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


GATE = "load"


BUDGETS = ("p95_ms", "p99_ms")


SECTION_KEYS = {
    "users",
    "spawn_rate",
    "run_time_s",
    "rows",
    "batch",
    "body",
    "processes",
    "max_requests",
    *BUDGETS,
    "max_failure_ratio",
    "min_rps",
    "seed",
    "required",
}


@dataclass(frozen=True)
class LoadSpec:
    plan: LoadPlan
    rows: int
    seed: int
    budgets: dict[str, float]  # p95_ms / p99_ms -> ms
    max_failure_ratio: float
    min_rps: float | None
    suite: Suite

    @property
    def threshold(self) -> dict[str, float]:
        found = {**self.budgets, "max_failure_ratio": self.max_failure_ratio}
        if self.min_rps is not None:
            found["min_rps"] = self.min_rps
        return found


def parse_spec(node: Node, suite: Suite) -> LoadSpec:
    from pytest_modelgate.bento.load_runner import BODIES, DEFAULT_MAX_REQUESTS, LoadPlan

    def positive(key: str, default: float | None) -> float | None:
        if not node.has(key):
            return default
        child = node.require(key)
        number = child.as_number()
        if number <= 0:
            raise child.error(f"expected a number > 0, got {number:g}")
        return number

    def integer(key: str, default: int) -> int:
        return node.require(key).as_int(minimum=1) if node.has(key) else default

    users = integer("users", 10)
    budgets = {key: value for key in BUDGETS if (value := positive(key, None)) is not None}
    min_rps = positive("min_rps", None)
    if not budgets and min_rps is None:
        raise node.error(f"expected at least one of {', '.join(BUDGETS)}, min_rps")
    plan = LoadPlan(
        users=users,
        spawn_rate=positive("spawn_rate", float(users)) or float(users),
        run_time_s=positive("run_time_s", 10.0) or 10.0,
        batch=integer("batch", 1),
        processes=integer("processes", 2),
        body=node.value_or("body", lambda n: n.as_choice(BODIES), "rows"),
        max_requests=integer("max_requests", DEFAULT_MAX_REQUESTS),
    )
    return LoadSpec(
        plan=plan,
        rows=integer("rows", 200),
        seed=node.require("seed").as_int(minimum=0) if node.has("seed") else 0,
        budgets=budgets,
        max_failure_ratio=node.value_or("max_failure_ratio", lambda n: n.as_fraction(), 0.0),
        min_rps=min_rps,
        suite=suite,
    )
