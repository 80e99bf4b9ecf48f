"""What the guard compares the live counts with, for the exact version it guards.

- the features' bins and shares: the drift reference the bento was built with, as the
  promotion logged it beside the gate report (evidence field ``drift_reference``);
- the class mix: the version's own predictions on the evaluation data of the suite the gate
  run read first (the report names the suites), so "the gate run's mix" is recomputed from the
  same model files and data rather than trusted from anywhere else.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pytest_modelgate.guard.checks import References
from pytest_modelgate.promotion.evidence import read_evidence, report_bytes
from pytest_modelgate.promotion.registry import Registry
from pytest_modelgate.stats.drift import OTHER


def references(registry: Registry, name: str, version: int, env: str) -> References:
    mv = registry.model_version(name, version)
    fields = read_evidence(mv, env).fields
    features = _features(registry, mv.run_id, fields.get("drift_reference", ""))
    report = json.loads(report_bytes(registry, mv.run_id, fields["report_artifact"]))
    try:
        classes, why = _class_mix(registry, name, version, report), ""
    except Exception as exc:  # the mix is then not checked, and the guard says why
        classes, why = None, f"{type(exc).__name__}: {exc}"
    if classes is None and not why:
        why = "the model predicts numbers, not classes"
    return References(features, classes, why)


def feature_bins(profile: dict[str, Any]) -> dict[str, tuple[list[str], list[float]]]:
    """Feature -> (bin labels as the service counts them, reference share of each)."""
    found = {}
    for feature, entry in profile.get("features", {}).items():
        if entry["kind"] == "numeric":
            shares = list(entry["shares"])
            found[feature] = ([str(i) for i in range(len(shares))], shares)
        else:
            labels = [*entry["shares"], OTHER]
            found[feature] = (labels, [*entry["shares"].values(), 0.0])
    return found


def _features(
    registry: Registry, run_id: str, artifact: str
) -> dict[str, tuple[list[str], list[float]]]:
    if not artifact:
        return {}
    with tempfile.TemporaryDirectory(prefix="modelgate-guard-") as tmp:
        local = registry.download(run_id, artifact, tmp)
        return feature_bins(json.loads(Path(local).read_text(encoding="utf-8")))


def _class_mix(
    registry: Registry, name: str, version: int, report: dict[str, Any]
) -> dict[str, float] | None:
    """The share of each predicted class on the first suite's evaluation data."""
    from pytest_modelgate.candidate.datasets import read_frame
    from pytest_modelgate.candidate.registry import Registry as ModelRegistry
    from pytest_modelgate.suite.nodes import read_suite_file
    from pytest_modelgate.suite.parse import data_spec

    suites = sorted(report.get("data") or {})
    if not suites:
        raise ValueError("the gate report names no suite whose data the mix comes from")
    root = read_suite_file(Path(suites[0]))
    frame, _ = read_frame(data_spec(root.require("data")))
    target = root.require("target").as_str()
    features = root.value_or("features", lambda n: n.as_str_list(), None)
    X = frame.loc[:, list(features)] if features else frame.drop(columns=[target])
    models = ModelRegistry(registry.uri)
    adapted = models.load(models.resolve(name, version))
    labels = np.asarray(adapted.model.predict(X))
    if getattr(adapted.model, "classes_", None) is None and labels.dtype.kind == "f":
        return None
    import pandas as pd

    shares = pd.Series(labels).astype(str).value_counts(normalize=True)
    return {str(k): float(v) for k, v in shares.items()}
