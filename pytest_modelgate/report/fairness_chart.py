"""The fairness gate's per-group bar chart (PNG) with its thresholds drawn in.

Drawn with matplotlib's object API on an Agg canvas: no pyplot, so no global backend
is chosen or changed in the pytest process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Line:
    """A horizontal threshold line on one component's panel."""

    component: int
    value: float
    label: str


def draw(
    path: Path,
    title: str,
    components: tuple[str, ...],
    labels: tuple[str, ...],
    point: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    eligible: np.ndarray,
    lines: list[Line],
) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = max(5.0, 0.9 * len(labels) + 2.5)
    figure = Figure(figsize=(width * len(components), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(components), squeeze=False)[0]
    x = np.arange(len(labels))
    for c, (ax, name) in enumerate(zip(axes, components, strict=True)):
        values = np.nan_to_num(point[c])
        below = np.clip(values - np.nan_to_num(low[c], nan=values), 0, None)
        above = np.clip(np.nan_to_num(high[c], nan=values) - values, 0, None)
        colours = ["tab:blue" if ok else "lightgray" for ok in eligible]
        ax.bar(x, values, yerr=[below, above], color=colours, capsize=4)
        for line in (ln for ln in lines if ln.component == c):
            ax.axhline(line.value, color="tab:red", linestyle="--", linewidth=1.2)
            ax.annotate(
                line.label,
                (1.0, line.value),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                color="tab:red",
                fontsize=8,
            )
        ax.set_xticks(x, [label.replace(" & ", "\n") for label in labels], fontsize=8)
        ax.set_ylabel(name)
        # the threshold lines (and their labels) inside the panel, or the layout collapses it
        drawn = [ln.value for ln in lines if ln.component == c and np.isfinite(ln.value)]
        top = max([1.0, float(np.nanmax(np.nan_to_num(high[c], nan=0.0))), *drawn])
        ax.set_ylim(0, top * 1.1)
    figure.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
