"""The HTML gate report: one self-contained file (styles inline, plots as base64 PNGs) with the
verdict, the gate table (failures first) and the plots, so it opens anywhere, including the
MLflow UI's artifact view."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate.report.markdown import COLUMNS, headline, rows

if TYPE_CHECKING:
    from pytest_modelgate.report.plots import Plot

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; }
.pass { background: #dafbe1; } .fail { background: #ffebe9; }
table.gates { border-collapse: collapse; font-size: 13px; width: 100%; }
table.gates th, table.gates td { border: 1px solid #d0d7de; padding: 3px 6px; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
table.gates th { background: #f6f8fa; }
table.gates td:first-child { white-space: nowrap; }
tr.failed td:first-child, tr.error td:first-child, tr.xpassed td:first-child {
  color: #cf222e; font-weight: 600; }
tr.passed td:first-child { color: #1a7f37; }
tr.inconclusive td:first-child { color: #9a6700; font-weight: 600; }
td.note { width: 30%; white-space: pre-wrap; font-size: 11px; color: #57606a; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
figure { margin: 0; } figure img { width: 100%; border: 1px solid #d0d7de; }
.forest figure img { width: auto; max-width: 100%; }
figcaption { font-size: 12px; color: #57606a; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
"""
NOTE_CHARS = 600


FOREST = "Decisions (forest plot)"


def render(report: dict[str, Any], plots: list[Plot]) -> str:
    """The report opens with the forest plot of every decision, when there is one."""
    verdict_class = "pass" if report.get("promotable") else "fail"
    opening = [p for p in plots if p.title == FOREST]
    rest = [p for p in plots if p.title != FOREST]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Model gates: {escape(headline(report, icon=False))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Model gates: {escape(headline(report, icon=False))}</h1>",
        f'<p class="verdict {verdict_class}" id="verdict">{escape(_verdict(report))}</p>',
        _reasons(report),
        *_forest(opening),
        _facts(report),
        "<h2>Gate items</h2>",
        _table(report),
        "<h2>Plots</h2>",
        f'<div class="plots">{"".join(_figure(plot) for plot in rest)}</div>'
        if rest
        else "<p>No plot applies to the gates that ran.</p>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _forest(plots: list[Plot]) -> list[str]:
    if not plots:
        return []
    return ["<h2>Decisions</h2>", f'<div class="forest" id="forest-plot">{_figure(plots[0])}</div>']


def _verdict(report: dict[str, Any]) -> str:
    if report.get("promotable"):
        return "Promotable: every required gate ran and passed."
    return "NOT promotable."


def _reasons(report: dict[str, Any]) -> str:
    reasons = report.get("blocking_reasons") or []
    if not reasons:
        return ""
    items = "".join(f"<li>{escape(str(r))}</li>" for r in reasons)
    return f'<ul id="blocking-reasons">{items}</ul>'


def _facts(report: dict[str, Any]) -> str:
    model = report.get("model") or {}
    champion = report.get("champion")
    facts = {
        "candidate": f"{model.get('name')} v{model.get('version', '?')}",
        "run": model.get("run_id") or "-",
        f"champion ({report.get('champion_alias')})": (
            f"v{champion['version']}" if champion else "none"
        ),
        "registry": report.get("tracking_uri") or "-",
    }
    for suite, data in (report.get("data") or {}).items():
        facts[f"data of {Path(suite).name}"] = (
            f"{data['source']}, {data['rows']} rows, sha256 {data['sha256']}"
        )
    facts["generated"] = (
        f"{report.get('generated_at')} by pytest-modelgate {report.get('plugin_version')} "
        f"(report schema {report.get('schema_version')})"
    )
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts.items())
    return f"<dl>{body}</dl>"


def _table(report: dict[str, Any]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in (*COLUMNS, "note"))
    body = []
    for row in rows(report):
        cells = list(row.cells())
        cells[0] = row.status + ("" if row.required else " (optional)")
        note = row.message if len(row.message) <= NOTE_CHARS else row.message[:NOTE_CHARS] + " …"
        tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
        body.append(
            f'<tr class="{escape(row.status)}" title="{escape(row.nodeid)}">{tds}'
            f'<td class="note">{escape(note)}</td></tr>'
        )
    return f'<table class="gates" id="gate-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _figure(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure><img alt="{escape(plot.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption><strong>{escape(plot.title)}</strong>: {escape(plot.caption)}</figcaption>"
        "</figure>"
    )
