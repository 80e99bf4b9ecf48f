"""The drift reference a bento is built with, from the suites that gated its version.

The first suite (by path) whose drift gate names a training reference gives that reference,
with the gate's bins and features; else the first suite's eval data does. Features are the
suite's ``features:`` (or the drift gate's), else every column but the target. The load gate
and a promotion both call this, so a bento built by either carries the same profile.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.suite.nodes import Node


def suite_reference(suite_paths: Iterable[str | Path]) -> dict[str, Any] | None:
    """The reference profile, or None when no suite can give one."""
    from pytest_modelgate.errors import DataError, SuiteError
    from pytest_modelgate.suite.nodes import read_suite_file

    roots = []
    for path in sorted(Path(p) for p in suite_paths):
        try:
            roots.append(read_suite_file(path))
        except SuiteError:
            continue
    with_drift = [r for r in roots if _drift_section(r) is not None]
    for root in with_drift or roots[:1]:
        try:
            return _profile(root)
        except (SuiteError, DataError, OSError, KeyError):
            continue
    return None


def _drift_section(root: Node) -> Node | None:
    gates = root.get("gates")
    if gates is None or not isinstance(gates.value, dict):
        return None
    section = gates.get("drift")
    return section if section is not None and isinstance(section.value, dict) else None


def _profile(root: Node) -> dict[str, Any]:
    from pytest_modelgate.candidate.datasets import read_frame
    from pytest_modelgate.stats.drift import BINS, reference_profile
    from pytest_modelgate.suite.parse import data_spec

    section = _drift_section(root)
    source = section.require("reference") if section else root.require("data")
    frame, _ = read_frame(data_spec(source))
    features = root.value_or("features", lambda n: n.as_str_list(), None)
    bins = BINS
    if section is not None:
        features = section.value_or("features", lambda n: n.as_str_list(), features)
        bins = section.value_or("bins", lambda n: n.as_int(minimum=2), BINS)
    return reference_profile(_columns(frame, features, root.require("target").as_str()), bins)


def _columns(frame: pd.DataFrame, features: tuple[str, ...] | None, target: str) -> pd.DataFrame:
    if features:
        return frame.loc[:, list(features)]
    return frame.drop(columns=[target], errors="ignore")
