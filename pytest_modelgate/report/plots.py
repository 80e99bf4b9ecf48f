"""The HTML report's plots as PNG bytes: latency distribution, per-group fairness, calibration.

Latency and fairness are drawn from the report's own figures (each gate's ``details``);
calibration needs the candidate's probabilities on the evaluation data. matplotlib's object
API on an Agg canvas, so no pyplot state or backend changes in the pytest process.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate.report.fairness import draw_groups

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

# the pooled quantiles a latency measurement keeps, and the share of calls below each
QUANTILES = {"min": 0.0, "p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9,
             "p95": 0.95, "p99": 0.99, "max": 1.0}  # fmt: skip
REPEAT_LEVELS = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
BUDGET_STATS = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}


@dataclass(frozen=True)
class Plot:
    """One figure of the report."""

    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class CalibrationCurve:
    label: str
    prob_true: np.ndarray
    prob_pred: np.ndarray


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# -- latency ---------------------------------------------------------------------------------


def latency_plot(items: list[dict[str, Any]]) -> Plot | None:
    """Each batch size's call-time distribution (pooled quantiles), every repeat's p50/p95/p99
    and the budgets; the champion's distribution dashed when it was timed alongside."""
    measured = [
        (item["result"]["details"]["measurement"], item["result"]["threshold"])
        for item in items
        if item["gate"] == "latency" and "measurement" in _details(item)
    ]
    if not measured:
        return None
    figure = _figure(7.0, 5.0)
    ax = figure.subplots()
    colours = _colours(len(measured))
    for (m, budgets), colour in zip(measured, colours, strict=True):
        _quantile_line(ax, m, colour, f"batch {m['batch']} ({m['calls']} calls)", "-")
        for repeat in m["repeats"]:
            for stat, level in REPEAT_LEVELS.items():
                ax.plot(repeat[stat], level, "o", color=colour, markersize=3, alpha=0.6)
        for key, stat in BUDGET_STATS.items():
            if key in budgets:
                ax.axvline(budgets[key], color=colour, linestyle=":", linewidth=1)
                ax.annotate(f"{stat} budget", (budgets[key], REPEAT_LEVELS[stat]), fontsize=7,
                            color=colour, rotation=90, ha="right", va="top")  # fmt: skip
    for batch, champion, colour in _champion_measurements(items, measured, colours):
        _quantile_line(ax, champion, colour, f"champion, batch {batch}", "--")
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds per call (log scale)")
    ax.set_ylabel("share of calls at or below")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    figure.suptitle("Latency distribution of the candidate", fontsize=10)
    return Plot(
        "Latency distribution",
        "Lines: pooled call-time quantiles per batch size; dots: each repeat's p50, p95 and "
        "p99 (the gate decides on their median); dotted: the budgets.",
        _png(figure),
    )


def _quantile_line(ax: Any, m: dict[str, Any], colour: Any, label: str, style: str) -> None:
    pooled = m["pooled_ms"]
    names = [n for n in QUANTILES if n in pooled]
    ax.plot([pooled[n] for n in names], [QUANTILES[n] for n in names], style, color=colour,
            marker=".", label=label)  # fmt: skip


def _champion_measurements(
    items: list[dict[str, Any]], measured: list[tuple[dict[str, Any], Any]], colours: list[Any]
) -> list[tuple[int, dict[str, Any], Any]]:
    colour_of = {m["batch"]: c for (m, _), c in zip(measured, colours, strict=True)}
    found = []
    for item in items:
        batches = _details(item).get("batches") if item["gate"] == "latency" else None
        for size, figures in (batches or {}).items():
            if int(size) in colour_of and "champion" in figures:
                found.append((int(size), figures["champion"], colour_of[int(size)]))
    return found


def _details(item: dict[str, Any]) -> dict[str, Any]:
    result = item.get("result") or {}
    details: dict[str, Any] = result.get("details") or {}
    return details


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(n)]


# -- fairness --------------------------------------------------------------------------------


def fairness_plots(items: list[dict[str, Any]], workdir: Path) -> list[Plot]:
    """Per fairness item: the chart the gate drew (thresholds included), else one drawn from
    its per-group table."""
    plots = []
    for item in items:
        details = _details(item)
        if item["gate"] != "fairness" or not details.get("groups"):
            continue
        name = item["nodeid"].split("::")[-1]
        chart = Path(details["chart"]) if details.get("chart") else None
        png = (
            chart.read_bytes()
            if chart and chart.is_file()
            else draw_groups(workdir / "fairness-groups.png", name, details).read_bytes()
        )
        caption = (
            f"{item['result']['metric']} by {', '.join(map(str, details.get('by', [])))}: each "
            "group's rate with its interval; grey groups are too small to decide on."
        )
        plots.append(Plot(f"Fairness: {name}", caption, png))
    return plots


# -- calibration -----------------------------------------------------------------------------


def calibration_curves(y: Any, proba: Any, classes: Any) -> list[CalibrationCurve]:
    """One-vs-rest reliability curves (only the positive class for a binary model)."""
    import numpy as np
    from sklearn.calibration import calibration_curve

    proba = np.asarray(proba, dtype=float)
    classes = list(classes)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        return []
    y = np.asarray(y)
    bins = int(min(10, max(3, len(y) // 10)))
    shown = classes[1:] if len(classes) == 2 else classes
    curves = []
    for label in shown:
        k = classes.index(label)
        true, pred = calibration_curve(y == label, proba[:, k], n_bins=bins, strategy="uniform")
        curves.append(CalibrationCurve(f"class {label}", true, pred))
    return curves


def calibration_plot(curves: list[CalibrationCurve], source: str, rows: int) -> Plot | None:
    if not curves:
        return None
    figure = _figure(7.0, 5.0)
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    for curve in curves:
        ax.plot(curve.prob_pred, curve.prob_true, "o-", label=curve.label)
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed share of the class (bin)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    name = source.replace("\\", "/").rsplit("/", 1)[-1]  # a file's name, not its whole path
    figure.suptitle(f"Calibration of the candidate on {name} ({rows} rows)", fontsize=10)
    return Plot(
        f"Calibration: {source}",
        "Predicted probability against the observed frequency, one-vs-rest per class, in equal "
        "width bins; points on the diagonal are well calibrated.",
        _png(figure),
    )


def reliability_plots(items: list[dict[str, Any]]) -> list[Plot]:
    """A reliability diagram per distinct reliability table the calibration items carry: each
    bin's observed frequency against its mean predicted probability (the champion's dashed when
    it was compared), and how many rows each bin holds."""
    import json

    plots, seen = [], set()
    for item in items:
        details = _details(item)
        table = details.get("reliability") if item["gate"] == "calibration" else None
        if not table:
            continue
        key = json.dumps([table, details.get("champion_reliability")], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        name = item["nodeid"].split("::")[-1]
        plots.append(_reliability(name, details, table, details.get("champion_reliability")))
    return plots


def _reliability(
    name: str, details: dict[str, Any], table: list[dict[str, Any]], champion: Any
) -> Plot:
    figure = _figure(7.0, 5.5)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    for rows, label, style in ((table, "candidate", "o-"), (champion, "champion", "s--")):
        if not rows:
            continue
        used = [r for r in rows if r["rows"]]
        top.plot([r["mean_predicted"] for r in used], [r["observed"] for r in used], style,
                 label=label)  # fmt: skip
    centres = [(r["low"] + r["high"]) / 2 for r in table]
    widths = [r["high"] - r["low"] for r in table]
    bottom.bar(centres, [r["rows"] for r in table], width=widths, color="tab:blue", alpha=0.6,
               edgecolor="white")  # fmt: skip
    top.set_ylabel("observed frequency (bin)")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    bottom.set_xlabel(f"mean predicted probability (bin): {details.get('judged', '')}")
    bottom.set_ylabel("rows")
    figure.suptitle(f"Reliability diagram ({name})", fontsize=10)
    return Plot(
        f"Reliability: {name}",
        f"{details.get('bins')} {details.get('strategy')} bins of the judged probability "
        f"({details.get('judged')}); points on the diagonal are well calibrated; the bars count "
        "the rows in each bin.",
        _png(figure),
    )


# -- forest plot of every decision ------------------------------------------------------------

VERDICT_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#bf8700"}


def forest_plot(items: list[dict[str, Any]]) -> Plot | None:
    """Every check decided on an interval: its value and decision interval against its
    threshold (dashed) and the champion's value (a diamond), coloured by verdict. Each row has
    its own scale, since the checks measure different things."""
    rows = [
        (item, item["result"])
        for item in items
        if item.get("result") and (item["result"].get("details") or {}).get("decision")
    ]
    if not rows:
        return None
    figure = _figure(8.0, 0.55 * len(rows) + 0.9)
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (item, result) in zip(axes, rows, strict=True):
        _forest_row(ax, item, result)
    figure.suptitle(
        "Decisions: value and decision interval against the threshold (dashed); "
        "green pass, red fail, amber inconclusive; diamond: the champion",
        fontsize=8,
    )
    return Plot(
        "Decisions (forest plot)",
        "Each check decided on an interval, with the interval it was decided on (adjusted for "
        "the run's error control) and its threshold; a check passes when its whole interval is "
        "on the right side, fails when it is all on the wrong side, and is inconclusive otherwise.",
        _png(figure),
    )


def _forest_row(ax: Any, item: dict[str, Any], result: dict[str, Any]) -> None:
    decision = result["details"]["decision"]
    colour = VERDICT_COLOURS.get(result.get("verdict") or "", "grey")
    value, low, high = decision["value"], decision["low"], decision["high"]
    points = [v for v in (value, low, high, decision["min"], decision["max"]) if v is not None]
    champion = result.get("champion_value")
    if champion is not None:
        points.append(champion)
    if value is not None and low is not None and high is not None:
        ax.plot([low, high], [0, 0], "-", color=colour, linewidth=3, solid_capstyle="butt")
        ax.plot([value], [0], "o", color=colour, markersize=6)
    for bound in (decision["min"], decision["max"]):
        if bound is not None:
            ax.axvline(bound, color="black", linestyle="--", linewidth=1)
    if champion is not None:
        ax.plot([champion], [0], "D", color="black", markersize=5, fillstyle="none")
    if points:
        span = (max(points) - min(points)) or abs(max(points)) or 1.0
        ax.set_xlim(min(points) - 0.15 * span, max(points) + 0.15 * span)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    label = item["nodeid"].split("::")[-1]
    ax.set_title(f"{label}  ({result.get('verdict')})", fontsize=7, loc="left", pad=2,
                 color=colour)  # fmt: skip
