"""Deciding the drift item: each feature's PSI of the eval data against the reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.drift.spec import DriftSpec

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.gates.engines.requests import SumsRequest, View
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


class DriftCheck:
    """``drift[psi]``: in memory from the eval frame, streamed from bin counts per batch."""

    def __init__(self, spec: DriftSpec) -> None:
        self.spec = spec
        self._profile: dict[str, Any] | None = None

    def profile(self, ctx: GateContext) -> dict[str, Any]:
        """The reference's profile (read once: the streamed counts use its bins)."""
        from pytest_modelgate.errors import DataError
        from pytest_modelgate.stats.drift import reference_profile

        if self._profile is None:
            data = ctx.eval_data(self.spec.suite)
            features = self.spec.features or data.features
            frame = reference_frame(self.spec.reference, features)
            missing = [f for f in features if f not in data.frame.columns]
            if missing:
                raise DataError(f"{data.source} lacks the drift features {', '.join(missing)}")
            self._profile = reference_profile(frame, self.spec.bins)
        return self._profile

    def sum_requests(self, ctx: GateContext) -> list[SumsRequest]:
        from pytest_modelgate.gates.engines.requests import SumsRequest

        profile = self.profile(ctx)
        return [
            SumsRequest(
                f"drift:{self.spec.bins}:{name}", 0, 0, 0, BinRows(name, feature), columns=(name,)
            )
            for name, feature in profile["features"].items()
        ]

    def __call__(self, ctx: GateContext) -> GateResult:
        from pytest_modelgate.stats.drift import counts_report, drift_report

        data = ctx.eval_data(self.spec.suite)
        profile = self.profile(ctx)
        if data.streamed:
            counts = {}
            for request in self.sum_requests(ctx):
                sums = ctx.sums(self.spec.suite, request)
                name = request.columns[0]
                counts[name] = {key[0]: float(sums.point[i, 0]) for i, key in enumerate(sums.keys)}
            report = counts_report(profile, counts, data.rows, self.spec.max_psi)
        else:
            rows = data.frame.loc[:, list(profile["features"])].to_dict(orient="records")
            report = drift_report(profile, rows, self.spec.max_psi)
        return decide(self.spec, report, profile, data.source)


@dataclass(frozen=True)
class BinRows:
    """One feature's reference bin of each row (plain values: it runs in Spark's workers)."""

    name: str
    feature: dict[str, Any]

    def __call__(self, view: View) -> tuple[list[Any], None]:
        from pytest_modelgate.stats.drift import bin_keys

        return [bin_keys(self.feature, view.frame[self.name])], None


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
