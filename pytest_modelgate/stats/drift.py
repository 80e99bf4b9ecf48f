"""Feature drift by the population stability index (PSI).

A reference profile holds, per feature, either the interior quantile edges of a numeric column
with the share of reference rows in each bin, or a categorical column's category shares. It is
plain JSON, so it travels with the evidence and inside the bento. ``psi`` compares recent
values with one feature's profile; 0.1 is the usual "watch", 0.25 the usual "drifted".
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

BINS = 10
THRESHOLD = 0.25
EPSILON = 1e-4  # an empty bin's share, so the log stays finite
OTHER = "__other__"


def reference_profile(frame: pd.DataFrame, bins: int = BINS) -> dict[str, Any]:
    """Per-feature reference of ``frame`` (features only, no target)."""
    import numpy as np
    import pandas as pd

    features: dict[str, Any] = {}
    for name in frame.columns:
        column = frame[name].dropna()
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            edges = sorted(set(np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1]).tolist()))
            features[str(name)] = {
                "kind": "numeric",
                "edges": edges,
                "shares": numeric_shares(edges, column.tolist()),
            }
        else:
            shares = column.astype(str).value_counts(normalize=True)
            features[str(name)] = {
                "kind": "categorical",
                "shares": {str(k): float(v) for k, v in shares.items()},
            }
    return {"method": "psi", "bins": bins, "rows": len(frame), "features": features}


def numeric_shares(edges: Sequence[float], values: Iterable[Any]) -> list[float]:
    counts = [0] * (len(edges) + 1)
    total = 0
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        counts[bisect.bisect_right(edges, value)] += 1
        total += 1
    return [c / total if total else 0.0 for c in counts]


def categorical_shares(known: Iterable[str], values: Iterable[Any]) -> dict[str, float]:
    counts = dict.fromkeys([*known, OTHER], 0)
    total = 0
    for value in values:
        if value is None:
            continue
        key = str(value)
        counts[key if key in counts else OTHER] += 1
        total += 1
    return {k: (n / total if total else 0.0) for k, n in counts.items()}


def psi_of(expected: Sequence[float], actual: Sequence[float]) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def psi(feature: Mapping[str, Any], values: Sequence[Any]) -> float | None:
    """PSI of ``values`` against one feature's reference; None without values."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if feature["kind"] == "numeric":
        return psi_of(feature["shares"], numeric_shares(feature["edges"], present))
    reference = dict(feature["shares"])
    actual = categorical_shares(reference, present)
    expected = [reference.get(k, 0.0) for k in actual]
    return psi_of(expected, list(actual.values()))


def drift_report(
    profile: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], threshold: float = THRESHOLD
) -> dict[str, Any]:
    """Per-feature PSI of ``rows`` against ``profile`` and whether each exceeds ``threshold``."""
    columns = {name: [row.get(name) for row in rows] for name in profile["features"]}
    return column_drift_report(profile, columns, len(rows), threshold)


def column_drift_report(
    profile: Mapping[str, Any],
    columns: Mapping[str, Sequence[Any]],
    rows: int,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """``drift_report`` of ``rows`` values given column by column (a missing column has none)."""
    features = {}
    for name, feature in profile["features"].items():
        value = psi(feature, columns.get(name, ()))
        features[name] = {"psi": value, "drifted": value is not None and value > threshold}
    return _report(features, threshold, rows)


def bin_keys(feature: Mapping[str, Any], values: Any) -> Any:
    """Each value's bin under one feature's reference (None for a missing value): the bin
    number of a numeric feature, the category (or OTHER) of a categorical one. Counted per
    batch, these merge into the counts ``psi_from_counts`` reads."""
    import numpy as np
    import pandas as pd

    series = pd.Series(values)
    missing = series.isna().to_numpy()
    if feature["kind"] == "numeric":
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        # bisect_right of each value, as numeric_shares counts it
        keys = np.searchsorted(np.asarray(feature["edges"], dtype=float), numbers, side="right")
        out = keys.astype(object)
    else:
        known = set(feature["shares"])
        out = np.array([v if v in known else OTHER for v in series.astype(str)], dtype=object)
    out[missing] = None
    return out


def psi_from_counts(feature: Mapping[str, Any], counts: Mapping[Any, float]) -> float | None:
    """PSI of the values counted per bin (``bin_keys``) against one feature's reference."""
    present = {k: n for k, n in counts.items() if k is not None}
    total = sum(present.values())
    if not total:
        return None
    if feature["kind"] == "numeric":
        actual = [present.get(b, 0) / total for b in range(len(feature["edges"]) + 1)]
        return psi_of(feature["shares"], actual)
    reference = dict(feature["shares"])
    keys = [*reference, OTHER]
    return psi_of([reference.get(k, 0.0) for k in keys], [present.get(k, 0) / total for k in keys])


def counts_report(
    profile: Mapping[str, Any],
    counts: Mapping[str, Mapping[Any, float]],
    rows: int,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """``column_drift_report`` from per-feature bin counts."""
    features = {}
    for name, feature in profile["features"].items():
        value = psi_from_counts(feature, counts.get(name, {}))
        features[name] = {"psi": value, "drifted": value is not None and value > threshold}
    return _report(features, threshold, rows)


def _report(features: dict[str, Any], threshold: float, rows: int) -> dict[str, Any]:
    return {
        "method": "psi",
        "threshold": threshold,
        "window_rows": rows,
        "drifted": sorted(n for n, f in features.items() if f["drifted"]),
        "features": features,
    }
