"""The gate table as people read it: rows built from the JSON report, rendered as markdown.

Every reader (the markdown summary, the HTML report, CI annotations) works from the report
dictionary, so what they show is exactly the evidence that was written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# outcomes that block a promotion and should be read first
FAILED = ("failed", "error", "xpassed")
INCONCLUSIVE = "inconclusive"
ICONS = {"passed": "✅", "failed": "❌", "error": "❌", "xpassed": "❌", INCONCLUSIVE: "❔"}
COLUMNS = (
    "status",
    "gate item",
    "metric",
    "value [interval]",
    "threshold",
    "champion",
    "Δ vs champion",
    "decided on",
)


@dataclass(frozen=True)
class Row:
    """One gate item's figures as text."""

    status: str
    item: str
    nodeid: str
    gate: str
    required: bool
    metric: str
    value: str
    threshold: str
    champion: str
    delta: str
    decided_on: str
    message: str

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    @property
    def inconclusive(self) -> bool:
        return self.status == INCONCLUSIVE

    def cells(self) -> tuple[str, ...]:
        status = f"{ICONS.get(self.status, '⚠️')} {self.status}"
        if not self.required:
            status += " (optional)"
        return (status, self.item, self.metric, self.value, self.threshold, self.champion,
                self.delta, self.decided_on)  # fmt: skip


def is_relative(metric: str) -> bool:
    """A regression metric (latency) is already the candidate's relative change."""
    return "regression" in metric


def champion_delta(metric: str, value: float | None, champion: float | None) -> float | None:
    """Candidate minus champion on the same metric, or None when there is nothing to compare."""
    if value is None or champion is None:
        return None
    return value if is_relative(metric) else value - champion


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"


def rows(report: dict[str, Any]) -> list[Row]:
    """The report's items, failures first, then inconclusive ones, then anything else not
    passed, in run order."""
    built = [_row(item) for item in report.get("items", [])]

    def rank(row: Row) -> int:
        if row.failed:
            return 0
        if row.inconclusive:
            return 1
        return 2 if row.status != "passed" else 3

    return sorted(built, key=rank)


def _row(item: dict[str, Any]) -> Row:
    result = item.get("result")
    nodeid = str(item["nodeid"])
    status, gate, required = str(item["outcome"]), str(item["gate"]), bool(item["required"])
    if result is None:
        message = str(item.get("error") or "")
        return Row(status, nodeid, nodeid, gate, required, "-", "-", "-", "-", "-", "-", message)
    return Row(
        status=status,
        item=nodeid.split("::")[-1],
        nodeid=nodeid,
        gate=gate,
        required=required,
        metric=str(result["metric"]),
        value=_value_text(result),
        threshold=", ".join(f"{k} {v:g}" for k, v in result["threshold"].items()) or "-",
        champion=_champion_text(result),
        delta=_delta_text(result),
        decided_on=str(result["decided_on"]),
        message=str(result.get("message") or ""),
    )


def _value_text(result: dict[str, Any]) -> str:
    text = number(result["value"])
    interval = result.get("interval")
    if result["value"] is not None and interval and None not in interval:
        text += f" [{number(interval[0])}, {number(interval[1])}]"
    return text


def _champion_text(result: dict[str, Any]) -> str:
    version = result.get("champion_version")
    if version is None:
        return "none (policy)" if result["decided_on"] == "policy" else "-"
    return f"v{version}: {number(result.get('champion_value'))}"


def _delta_text(result: dict[str, Any]) -> str:
    metric = str(result["metric"])
    delta = champion_delta(metric, result["value"], result.get("champion_value"))
    if delta is None:
        return "-"
    return f"{delta:+.1%}" if is_relative(metric) else f"{delta:+.4f}"


def headline(report: dict[str, Any], icon: bool = True) -> str:
    model = report.get("model") or {}
    name = f"{model.get('name')} v{model['version']}" if "version" in model else model.get("name")
    if report.get("promotable"):
        return ("✅ " if icon else "") + f"{name}: every required gate ran and passed"
    return ("❌ " if icon else "") + f"{name}: NOT promotable"


def markdown(report: dict[str, Any]) -> str:
    """The PR summary: verdict, the gate table with failures first, then why they failed."""
    table = rows(report)
    lines = [f"### Model gates: {headline(report)}", "", _context(report), ""]
    lines += _table(table)
    reasons = report.get("blocking_reasons") or []
    if reasons:
        lines += ["", "**Blocking reasons**", ""] + [f"- {_inline(r)}" for r in reasons]
    lines += _messages("Why the failed gates failed", [r for r in table if r.failed])
    undecided = [r for r in table if r.inconclusive]
    lines += _messages("Why the inconclusive gates could not decide", undecided)
    lines += ["", _footer(report), ""]
    return "\n".join(lines)


def _messages(summary: str, chosen: list[Row]) -> list[str]:
    """A collapsed section with each row's message, or nothing when no row has one."""
    chosen = [r for r in chosen if r.message]
    if not chosen:
        return []
    lines = ["", f"<details><summary>{summary}</summary>", ""]
    for row in chosen:
        lines += [f"**{_inline(row.nodeid)}**", "", "```text", row.message.strip(), "```", ""]
    return [*lines, "</details>"]


def _context(report: dict[str, Any]) -> str:
    model = report.get("model") or {}
    parts = [f"candidate **{model.get('name')} v{model.get('version', '?')}**"]
    if model.get("run_id"):
        parts[0] += f" (run `{model['run_id']}`)"
    champion = report.get("champion")
    alias = report.get("champion_alias")
    parts.append(
        f"champion (`{alias}`): **v{champion['version']}**"
        if champion
        else f"champion (`{alias}`): none"
    )
    for data in (report.get("data") or {}).values():
        parts.append(
            f"data `{data['source']}` ({data['rows']} rows, sha256 `{data['sha256'][:12]}`)"
        )
    return " · ".join(parts)


def _table(table: Iterable[Row]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table:
        cells = [_cell(c) for c in row.cells()]
        cells[1] = f"`{cells[1]}`"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _footer(report: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {outcome}" for outcome, n in (report.get("summary") or {}).items())
    return (
        f"<sub>{counts or 'no gate items'} · pytest-modelgate {report.get('plugin_version')} · "
        f"gate report schema {report.get('schema_version')} · {report.get('generated_at')}</sub>"
    )


def _inline(text: str) -> str:
    return " ".join(str(text).split())


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")
