"""Deciding the drift item: each feature's PSI of the eval data against the reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.drift.spec import DriftSpec

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.suite.data import DataSpec


def reference_frame(spec: DataSpec, features: Sequence[str]) -> pd.DataFrame:
    """The reference data's ``features`` columns; DataError naming any it lacks."""
    from pytest_modelgate.candidate.datasets import read_frame
    from pytest_modelgate.errors import DataError

    frame, _ = read_frame(spec)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataError(
            f"drift reference {spec.describe()} (suite {spec.where}) lacks "
            f"{', '.join(missing)}; columns: {', '.join(map(str, frame.columns))}"
        )
    return frame.loc[:, list(features)]


def check_drift(spec: DriftSpec, ctx: GateContext) -> GateResult:
    from pytest_modelgate.errors import DataError
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
