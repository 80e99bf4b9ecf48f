"""The gate report: the JSON document every other report is rendered from, built from the
run's snapshot.

The verdict is fail-closed: a run is promotable only if at least one gate ran, every
required gate ran and passed, nothing was deselected, and the run was not interrupted. An
inconclusive gate (its evidence decided neither way) is not a pass: it blocks like a failure,
and the reason says how many rows would settle it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from pytest_modelgate.run import RunSnapshot
from pytest_modelgate.version import __version__

# 2: the 'inconclusive' outcome; each result's verdict, rows_needed and error_control; the
# run's error_control
SCHEMA_VERSION = 2


def verdict(run: RunSnapshot) -> tuple[bool, list[str]]:
    """(promotable, reasons it is not)."""
    reasons = []
    if run.interrupted:
        reasons.append("the run was interrupted (a collection error stops it too)")
    if not run.records:
        reasons.append(
            f"no gate ran for model {run.model_name!r}: no suite file declares it "
            "and no test carries the gate marker"
        )
    for record in run.records:
        if record.required and record.outcome != "passed":
            reason = f"required gate {record.nodeid} {record.outcome}"
            if record.outcome == "inconclusive":
                reason += ": not enough evidence either way"
                needed = record.result.rows_needed if record.result else None
                if needed is not None:
                    reason += f" (about {needed:,} rows would settle it)"
            reasons.append(reason)
    return not reasons, reasons


def build_report(run: RunSnapshot) -> dict[str, Any]:
    promotable, reasons = verdict(run)
    return {
        "schema_version": SCHEMA_VERSION,
        "plugin_version": __version__,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tracking_uri": run.tracking_uri,
        "model": run.candidate.as_dict() if run.candidate else {"name": run.model_name},
        "adapter": run.adapter,
        "champion_alias": run.champion_alias,
        "champion": run.champion.as_dict() if run.champion else None,
        "data": run.data,
        "items": [
            {
                "nodeid": r.nodeid,
                "gate": r.gate,
                "required": r.required,
                "outcome": r.outcome,
                "result": r.result.as_dict() if r.result else None,
                "error": r.longrepr if r.outcome == "error" else None,
            }
            for r in run.records
        ],
        "summary": _counts(run),
        "error_control": run.error_control,
        "promotable": promotable,
        "blocking_reasons": reasons,
        "ci_run": os.environ.get("GITHUB_RUN_ID"),
    }


def _counts(run: RunSnapshot) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in run.records:
        counts[record.outcome] = counts.get(record.outcome, 0) + 1
    return counts
