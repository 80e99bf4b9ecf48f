"""The load gate: the candidate's bento served on loopback, loaded by locust in its own process.

Suite section::

    load:
      users: 20               # concurrent simulated users
      spawn_rate: 20          # users started per second (default: all at once)
      run_time_s: 5           # how long locust runs
      rows: 200               # eval rows sampled (with replacement) as request bodies
      batch: 1                # rows per request
      p95_ms: 50              # budgets on locust's aggregated response times
      p99_ms: 100
      max_failure_ratio: 0.0  # failed requests / requests
      min_rps: 200            # requests per second over the run

One item, ``load[users-N]``: it builds the bento a promotion would build, serves it in
candidate mode, runs ``locust --headless`` and decides on locust's ``Aggregated`` stats.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.api import Check, GateContext, GateResult, gate_required

if TYPE_CHECKING:
    from pytest_modelgate.release.load_runner import LoadPlan
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite

GATE = "load"
BUDGETS = ("p95_ms", "p99_ms")
_SECTION_KEYS = {
    "users",
    "spawn_rate",
    "run_time_s",
    "rows",
    "batch",
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


class LoadGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(_SECTION_KEYS)
        spec = parse_spec(node, suite)
        name = f"users-{spec.plan.users}"
        return [Check(GATE, name, functools.partial(check_load, spec), gate_required(node))]


def parse_spec(node: Node, suite: Suite) -> LoadSpec:
    from pytest_modelgate.release.load_runner import LoadPlan

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


def check_load(spec: LoadSpec, ctx: GateContext) -> GateResult:
    from pytest_modelgate.release.candidate_bento import feature_frame, served_candidate, write_rows
    from pytest_modelgate.release.drift_reference import suite_reference
    from pytest_modelgate.release.load_runner import run_locust

    frame = feature_frame(ctx.candidate, ctx.eval_data(spec.suite))
    with tempfile.TemporaryDirectory(prefix="modelgate-locust-") as tmp:
        workdir = Path(tmp)
        rows = write_rows(frame, spec.rows, workdir / "rows.json", spec.seed)
        with served_candidate(ctx, suite_reference(ctx.suites)) as url:
            stats = run_locust(url, rows, spec.plan, workdir)
    return decide(spec, stats, f"{ctx.candidate.ref.describe()} served")


def decide(spec: LoadSpec, stats: dict[str, Any], what: str) -> GateResult:
    """Check each figure against its threshold; the message names every one that broke."""
    requests = int(stats.get("requests") or 0)
    failures = int(stats.get("failures") or 0)
    ratio = failures / requests if requests else 1.0
    rps = float(stats.get("rps") or 0.0)
    problems = []
    if requests == 0:
        problems.append("locust completed no request")
    for key, budget in spec.budgets.items():
        observed = stats.get(key)
        if observed is None or not observed <= budget:
            shown = "n/a" if observed is None else f"{observed:g} ms"
            problems.append(f"{key[:3]} {shown} exceeds {key} {budget:g}")
    if not ratio <= spec.max_failure_ratio:
        problems.append(
            f"failure ratio {ratio:.4f} ({failures}/{requests}) exceeds max_failure_ratio "
            f"{spec.max_failure_ratio:g}"
        )
    if spec.min_rps is not None and not rps >= spec.min_rps:
        problems.append(f"throughput {rps:.1f} requests/s is below min_rps {spec.min_rps:g}")
    p = spec.plan
    load = f"{p.users} users for {p.run_time_s:g}s, batch {p.batch}"
    figures = (
        f"{requests} requests, {failures} failed, {rps:.1f} requests/s, "
        f"p95 {_ms(stats.get('p95_ms'))}, p99 {_ms(stats.get('p99_ms'))}"
    )
    decisive = "p99_ms" if "p99_ms" in spec.budgets else next(iter(spec.budgets), None)
    result = GateResult(
        passed=not problems,
        metric=f"{decisive[:3]} ms" if decisive else "requests/s",
        value=stats.get(decisive) if decisive else rps,
        threshold=spec.threshold,
        decided_on="locust aggregated stats",
        rows=requests,
        details={"stats": stats, "failure_ratio": ratio, "plan": vars(p), "rows": spec.rows},
    )
    text = f"{what}, {load}: {figures}"
    result.message = (
        text + ".\n" + "\n".join(problems) + ".\nMake the service faster or revisit the budget."
        if problems
        else text
    )
    return result


def _ms(value: Any) -> str:
    return "n/a" if value is None else f"{value:g} ms"
