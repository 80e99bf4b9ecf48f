"""The gate report: a JSON document and the terminal table, built from the same records.

The verdict is fail-closed: a run is promotable only if at least one gate ran, every
required gate ran and passed, nothing was deselected, and the run was not interrupted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate import __version__

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import GateResult
    from pytest_modelgate.plugin.session import GateSession

SCHEMA_VERSION = 1


def verdict(session: GateSession) -> tuple[bool, list[str]]:
    """(promotable, reasons it is not)."""
    reasons = []
    if session.interrupted:
        reasons.append("the run was interrupted (a collection error stops it too)")
    if not session.records:
        reasons.append(
            f"no gate ran for model {session.settings.model_name!r}: no suite file declares it "
            "and no test carries the gate marker"
        )
    for record in session.records.values():
        if record.required and record.outcome != "passed":
            reasons.append(f"required gate {record.nodeid} {record.outcome}")
    return not reasons, reasons


def build_report(session: GateSession) -> dict[str, Any]:
    promotable, reasons = verdict(session)
    candidate = session._candidate
    champion_ref = session.known_champion_ref
    return {
        "schema_version": SCHEMA_VERSION,
        "plugin_version": __version__,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tracking_uri": session.registry.redacted_uri if session._registry else None,
        "model": candidate.ref.as_dict() if candidate else {"name": session.settings.model_name},
        "champion_alias": session.champion_alias,
        "champion": champion_ref.as_dict() if champion_ref else None,
        "data": {str(suite.path): data.as_dict() for suite, data in session._data.items()},
        "items": [
            {
                "nodeid": r.nodeid,
                "gate": r.gate,
                "required": r.required,
                "outcome": r.outcome,
                "result": r.result.as_dict() if r.result else None,
                "error": r.longrepr if r.outcome == "error" else None,
            }
            for r in session.records.values()
        ],
        "summary": _counts(session),
        "promotable": promotable,
        "blocking_reasons": reasons,
        "ci_run": os.environ.get("GITHUB_RUN_ID"),
    }


def _counts(session: GateSession) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in session.records.values():
        counts[record.outcome] = counts.get(record.outcome, 0) + 1
    return counts


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write atomically, so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def summary_lines(session: GateSession) -> list[str]:
    candidate = session._candidate
    name = candidate.ref.describe() if candidate else str(session.settings.model_name)
    lines = [f"candidate {name}   champion ({session.champion_alias}) {session.champion_text()}"]
    rows = [("status", "gate item", "value [interval]", "threshold", "champion")]
    for record in session.records.values():
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
    promotable, reasons = verdict(session)
    if promotable:
        lines.append("verdict: every required gate ran and passed")
    else:
        lines.append("verdict: NOT promotable")
        lines += [f"  - {reason}" for reason in reasons]
    if session.settings.gate_report is not None:
        lines.append(f"gate report: {session.settings.gate_report}")
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
