"""Running and deciding the load item: the candidate's bento served on loopback, loaded by
locust in its own process, decided on locust's aggregated figures."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.load.spec import LoadSpec


def check_load(spec: LoadSpec, ctx: GateContext) -> GateResult:
    from pytest_modelgate.bento.candidate import (
        Candidate,
        served_candidate,
        write_rows,
    )
    from pytest_modelgate.bento.load_runner import run_locust

    settings = ctx.settings
    candidate = Candidate(
        ctx.candidate.ref,
        settings.tracking_uri,
        settings.bentofile,
        tuple(ctx.suites),
    )
    frame = ctx.candidate.predictions(ctx.eval_data(spec.suite)).inputs
    with tempfile.TemporaryDirectory(prefix="modelgate-locust-") as tmp:
        workdir = Path(tmp)
        rows = write_rows(frame, spec.rows, workdir / "rows.json", spec.seed)
        with served_candidate(candidate) as url:
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
        f"p95 {_ms(stats.get('p95_ms'))}, p99 {_ms(stats.get('p99_ms'))} "
        f"(aggregated over {p.processes} locust process{'es' if p.processes > 1 else ''}, "
        f"{p.body} bodies)"
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
