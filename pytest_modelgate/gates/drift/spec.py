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

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.suite.data import DataSpec
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


GATE = "drift"


SECTION_KEYS = {"reference", "max_psi", "bins", "features", "required"}


@dataclass(frozen=True)
class DriftSpec:
    reference: DataSpec
    max_psi: float
    bins: int
    features: tuple[str, ...] | None
    suite: Suite


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
