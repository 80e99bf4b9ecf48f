"""The terminal's view of a run: the gate table with its verdict, and one item's figures as
they appear in its report section or its failure."""

from __future__ import annotations

from typing import Any

from pytest_modelgate.gates.api import Check, GateResult
from pytest_modelgate.report.build import verdict
from pytest_modelgate.report.fairness import tables_text
from pytest_modelgate.run import RunSnapshot


def summary_lines(run: RunSnapshot) -> list[str]:
    name = run.candidate.describe() if run.candidate else run.model_name
    called = f" ({run.adapter['adapter']})" if run.adapter else ""
    lines = [f"candidate {name}{called}   champion ({run.champion_alias}) {run.champion_text}"]
    if run.adapter and run.adapter.get("note"):
        lines.append(f"note: {run.adapter['note']}")
    rows = [("status", "gate item", "value [interval]", "threshold", "champion")]
    for record in run.records:
        result = record.result
        rows.append(
            (
                record.outcome.upper(),
                record.nodeid.split("::")[-1] if result else record.nodeid,
                _value_with_unit(record.nodeid, result) if result else "-",
                result.threshold_text() if result else "-",
                _champion_text(result),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    promotable, reasons = verdict(run)
    if promotable:
        lines.append("verdict: every required gate ran and passed")
    else:
        lines.append("verdict: NOT promotable")
        lines += [f"  - {reason}" for reason in reasons]
    if run.gate_report is not None:
        lines.append(f"gate report: {run.gate_report}")
    return lines


def _value_with_unit(nodeid: str, result: GateResult) -> str:
    """The value, followed by what it measures when the item's name does not say it
    (``latency[batch-1]  0.4082 [...] p99 ms``)."""
    text = result.value_text()
    if result.value is not None and result.metric and f"[{result.metric}" not in nodeid:
        text += f" {result.metric}"
    return text


def _champion_text(result: Any) -> str:
    if result is None:
        return "-"
    if result.champion_version is None:
        return "none (policy)" if result.decided_on == "policy" else "-"
    value = "-" if result.champion_value is None else f"{result.champion_value:.4f}"
    return f"v{result.champion_version}: {value}"


def format_result(check: Check, result: GateResult) -> str:
    lines = [
        f"gate       {check.gate}",
        f"metric     {result.metric}",
        f"observed   {result.value_text()}",
        f"threshold  {result.threshold_text()} (decided on {result.decided_on})",
    ]
    if result.rows is not None:
        lines.append(f"rows       {result.rows}")
    if result.rows_needed is not None:
        lines.append(f"rows needed {result.rows_needed} (to decide at the observed value)")
    if result.champion_version is not None:
        champ = "-" if result.champion_value is None else f"{result.champion_value:.4f}"
        lines.append(f"champion   v{result.champion_version}: {champ}")
    if result.message:
        lines.append(f"note       {result.message}")
    tables = tables_text(result)
    if tables:
        lines.append(tables)
    return "\n".join(lines)


def format_failure(check: Check, result: GateResult) -> str:
    head = "GATE INCONCLUSIVE" if result.inconclusive else "GATE FAILED"
    return f"{head}: {check.gate}[{check.name}]\n{format_result(check, result)}"
