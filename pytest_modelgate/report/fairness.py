"""The fairness gate's figures as people see them: the per-group table in the terminal and the
markdown summary, and the per-group chart (PNG) next to the gate report and on the candidate's
run. Everything is drawn from the item's ``details``, the same data the JSON report keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.errors import RegistryError
from pytest_modelgate.gates.api import estimate_text

if TYPE_CHECKING:
    from pytest_modelgate.gates.api import GateResult
    from pytest_modelgate.run import GateRun

ARTIFACT_PATH = "modelgate/fairness"
_ROW_KEYS = {
    "group",
    "rows",
    "decided_on",
    "below_min_group_size",
    "fails_threshold",
    "undecided",
}


@dataclass(frozen=True)
class GroupGrid:
    """A per-group table as arrays: components x groups."""

    components: tuple[str, ...]
    labels: tuple[str, ...]
    sizes: tuple[int, ...]
    point: np.ndarray
    low: np.ndarray
    high: np.ndarray
    used: np.ndarray
    small: tuple[bool, ...]
    failing: tuple[bool, ...]
    undecided: tuple[bool, ...] = ()


def group_grid(groups: list[dict[str, Any]]) -> GroupGrid:
    components = tuple(k for k in groups[0] if k not in _ROW_KEYS)

    def grid(key: str) -> np.ndarray:
        return np.array(
            [[np.nan if g[c][key] is None else g[c][key] for g in groups] for c in components],
            dtype=float,
        )

    return GroupGrid(
        components=components,
        labels=tuple(str(g["group"]) for g in groups),
        sizes=tuple(int(g["rows"]) for g in groups),
        point=grid("value"),
        low=grid("low"),
        high=grid("high"),
        used=np.array([bool(g["decided_on"]) for g in groups]),
        small=tuple(bool(g.get("below_min_group_size")) for g in groups),
        failing=tuple(bool(g.get("fails_threshold")) for g in groups),
        undecided=tuple(bool(g.get("undecided")) for g in groups),
    )


def tables_text(result: GateResult) -> str:
    """The item's per-group table(s): the candidate's, and the champion's when compared."""
    details = result.details
    if not details.get("groups"):
        return ""
    minimum = details.get("min_group_size")
    own = group_table(details["groups"], minimum, result.threshold)
    if not details.get("champion_groups"):
        return own
    champion = group_table(details["champion_groups"], minimum, {})
    return f"candidate:\n{own}\nchampion:\n{champion}"


def group_table(
    groups: list[dict[str, Any]], min_group_size: int | None, threshold: dict[str, float]
) -> str:
    """A fixed-width per-group table."""
    g = group_grid(groups)
    width = max(len("group"), *(len(label) for label in g.labels))
    header = f"{'group'.ljust(width)}  {'rows':>6}  " + "  ".join(
        f"{name:<26}" for name in g.components
    )
    lines = [header.rstrip()]
    broken = ", ".join(f"{k} {v:g}" for k, v in threshold.items())
    for i, label in enumerate(g.labels):
        cells = [
            estimate_text(g.point[c, i], g.low[c, i], g.high[c, i])
            for c in range(len(g.components))
        ]
        note = ""
        if g.small[i] and min_group_size is not None:
            note = f"  below min_group_size {min_group_size}"
        elif g.failing[i]:
            note = f"  fails {broken}"
        elif g.undecided and g.undecided[i]:
            note = f"  undecided on {broken}: collect more data"
        row = f"{label.ljust(width)}  {g.sizes[i]:>6}  "
        lines.append((row + "  ".join(f"{c:<26}" for c in cells)).rstrip() + note)
    return "\n".join(lines)


def draw_groups(path: Path, title: str, details: dict[str, Any]) -> Path:
    """The per-group chart of an item's table, with the threshold lines it carries."""
    from pytest_modelgate.report.fairness_chart import Line, draw

    g = group_grid(details["groups"])
    lines = [Line(int(d["component"]), float(d["value"]), str(d["label"]))
             for d in details.get("chart_lines") or ()]  # fmt: skip
    return draw(path, title, g.components, g.labels, g.point, g.low, g.high, g.used, lines)


def attach_chart(run: GateRun, result: GateResult) -> None:
    """Draw a fairness item's chart next to the gate report and attach it to the candidate's
    run; its path and run URI go into the item's details."""
    details = result.details
    if not details.get("groups") or "chart_lines" not in details:
        return
    ref = run.candidate.ref
    safe = re.sub(r"[^A-Za-z0-9_.@+-]", "_", result.metric)
    path = run.artifact_dir / f"fairness-{ref.name}-v{ref.version}-{safe}.png"
    level = f"{float(details.get('confidence', 0.95)):.0%}"
    title = f"{ref.describe()}: {result.metric} (bars: {level} intervals; grey: not decided on)"
    draw_groups(path, title, details)
    details["chart"] = str(path)
    try:
        details["chart_artifact"] = run.log_artifact(path, ARTIFACT_PATH)
    except RegistryError as exc:  # the chart illustrates the decision; it is not the evidence
        details["chart_artifact_error"] = str(exc)
