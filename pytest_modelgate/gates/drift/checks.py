"""The drift gate: the suite's eval data against the candidate's training data, feature by feature.

Suite section::

    drift:
      reference: {reference: iris, split: train}   # or {path: data/train.parquet}
      max_psi: 0.25          # population stability index per feature (0.1 watch, 0.25 drifted)
      bins: 10               # quantile bins of each numeric feature (fewer for small data)
      features: [a, b]       # optional: else the eval data's feature columns

One item, ``drift[psi]``: the PSI of every feature (``pytest_modelgate.stats.drift``: quantile bins
of the reference for numeric columns, category shares otherwise); it fails naming each
feature over ``max_psi`` with its PSI.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.api import Check, GateContext, GateResult, gate_required

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.candidate.datasets import DataSpec
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite

GATE = "drift"
_SECTION_KEYS = {"reference", "max_psi", "bins", "features", "required"}


@dataclass(frozen=True)
class DriftSpec:
    reference: DataSpec
    max_psi: float
    bins: int
    features: tuple[str, ...] | None
    suite: Suite


class DriftGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(_SECTION_KEYS)
        spec = parse_spec(node, suite)
        return [Check(GATE, "psi", functools.partial(check_drift, spec), gate_required(node))]


def parse_spec(node: Node, suite: Suite) -> DriftSpec:
    from pytest_modelgate.stats.drift import BINS, THRESHOLD
    from pytest_modelgate.suite.parse import data_spec

    max_psi = THRESHOLD
    if node.has("max_psi"):
        child = node.require("max_psi")
        max_psi = child.as_number()
        if max_psi <= 0:
            raise child.error(f"expected a number > 0, got {max_psi:g}")
    return DriftSpec(
        reference=data_spec(node.require("reference")),
        max_psi=max_psi,
        bins=node.require("bins").as_int(minimum=2) if node.has("bins") else BINS,
        features=node.value_or("features", lambda n: n.as_str_list(), None),
        suite=suite,
    )


def reference_frame(spec: DataSpec, features: Sequence[str]) -> pd.DataFrame:
    """The reference data's ``features`` columns; DataError naming any it lacks."""
    from pytest_modelgate.candidate.datasets import DataError, read_frame

    frame, _ = read_frame(spec)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataError(
            f"drift reference {spec.describe()} (suite {spec.where}) lacks "
            f"{', '.join(missing)}; columns: {', '.join(map(str, frame.columns))}"
        )
    return frame.loc[:, list(features)]


def check_drift(spec: DriftSpec, ctx: GateContext) -> GateResult:
    from pytest_modelgate.candidate.datasets import DataError
    from pytest_modelgate.stats.drift import drift_report, reference_profile

    data = ctx.eval_data(spec.suite)
    features = spec.features or data.features
    profile = reference_profile(reference_frame(spec.reference, features), spec.bins)
    missing = [f for f in features if f not in data.frame.columns]
    if missing:
        raise DataError(f"{data.source} lacks the drift features {', '.join(missing)}")
    rows = data.frame.loc[:, list(features)].to_dict(orient="records")
    report = drift_report(profile, rows, spec.max_psi)
    return decide(spec, report, profile, data.source)


def decide(
    spec: DriftSpec, report: dict[str, Any], profile: dict[str, Any], source: str
) -> GateResult:
    psis = {name: f["psi"] for name, f in report["features"].items() if f["psi"] is not None}
    worst = max(psis, key=lambda name: psis[name], default=None)
    listing = ", ".join(f"{name} {value:.3f}" for name, value in psis.items())
    drifted = report["drifted"]
    what = (
        f"{source} ({report['window_rows']} rows) vs {spec.reference.describe()} "
        f"({profile['rows']} rows), {spec.bins} bins"
    )
    result = GateResult(
        passed=not drifted,
        metric=f"max PSI ({worst})" if worst else "max PSI",
        value=psis[worst] if worst else None,
        threshold={"max_psi": spec.max_psi},
        decided_on="point",
        rows=report["window_rows"],
        details={"reference": spec.reference.describe(), "bins": spec.bins, **report},
    )
    if drifted:
        named = ", ".join(f"{name} (PSI {psis[name]:.3f})" for name in drifted)
        result.message = (
            f"{what}: {named} drifted past max_psi {spec.max_psi:g}. Every feature: {listing}. "
            "Retrain on data like the eval data, or check the eval data."
        )
    else:
        result.message = f"{what}: PSI {listing}"
    return result
