"""The robustness gate's search: the candidate on a fixed sample of eval rows, perturbed as
Hypothesis draws, derandomized and seeded, and the effect of each perturbation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import DataError
from pytest_modelgate.gates.api import GateContext
from pytest_modelgate.gates.robustness.spec import RobustnessSpec

if TYPE_CHECKING:
    import pandas as pd


STEPS = 1000  # grid of perturbation sizes Hypothesis searches and shrinks over


@dataclass
class Subject:
    """The candidate on a fixed sample of eval rows, with its answers on them."""

    model: Any
    base: pd.DataFrame
    features: tuple[str, ...]
    labels: Any
    proba: Any | None
    calls: int = 0
    regression: bool = False
    scale: float = 1.0  # a regressor's output spread: shifts are measured in it

    def answer(self, frame: pd.DataFrame) -> tuple[Any, Any | None]:
        import numpy as np

        self.calls += 1
        labels = np.asarray(self.model.predict(frame))
        if self.regression:
            return labels, None
        method = getattr(self.model, "predict_proba", None)
        proba = None if method is None else np.asarray(method(frame), dtype=float)
        return labels, proba


def subject(spec: RobustnessSpec, ctx: GateContext) -> Subject:
    import numpy as np
    import pandas as pd

    data = ctx.eval_data(spec.suite)
    frame = ctx.candidate.predictions(data).inputs
    base = frame.sample(n=min(spec.rows, len(frame)), random_state=spec.seed)
    base = base.reset_index(drop=True)
    numeric = [
        str(c)
        for c in base.columns
        if pd.api.types.is_numeric_dtype(base[c]) and not pd.api.types.is_bool_dtype(base[c])
    ]
    features = spec.features or tuple(numeric)
    unknown = [f for f in features if f not in numeric]
    if unknown:
        raise DataError(f"features to perturb must be numeric model inputs; not: {unknown}")
    model = ctx.candidate.model
    regression = ctx.task(spec.suite).regression
    s = Subject(model, base, tuple(features), None, None, regression=regression)
    s.labels, s.proba = s.answer(base)
    s.labels = np.asarray(s.labels)
    if regression:
        s.proba = None
        outputs = s.labels.astype(float)
        spread = float(np.std(outputs))
        # constant predictions on these rows: measure shifts in the outputs' own magnitude
        s.scale = spread or float(np.mean(np.abs(outputs))) or 1.0
    return s


def settings(spec: RobustnessSpec) -> Any:
    import hypothesis

    return hypothesis.settings(
        max_examples=spec.examples,
        derandomize=True,
        database=None,  # CI must not write an example database
        deadline=None,
        verbosity=hypothesis.Verbosity.quiet,
    )


def search(strategy: Any, violates: Callable[[Any], bool], spec: RobustnessSpec) -> Any | None:
    """The minimal example that violates the property, or None if none was found."""
    import random

    from hypothesis import find
    from hypothesis.errors import NoSuchExample

    try:
        return find(strategy, violates, settings=settings(spec), random=random.Random(spec.seed))
    except NoSuchExample:
        return None


def steps(low: float, high: float) -> Any:
    """Values in [low, high] on a grid of STEPS per unit of ``high``. Drawn as integers, so
    Hypothesis shrinks towards the smallest magnitude, not towards 'simple' floats."""
    from hypothesis import strategies as st

    lowest, highest = round(low / high * STEPS), STEPS
    return st.integers(lowest, highest).map(lambda k: k * high / STEPS)


def perturbed(base: pd.DataFrame, deltas: dict[str, float]) -> pd.DataFrame:
    frame = base.copy()
    for column, delta in deltas.items():
        frame[column] = base[column].astype("float64") * (1.0 + delta)
    return frame


@dataclass(frozen=True)
class Effect:
    flip_rate: float
    prob_shift: float
    worst_row: int
    output_shift: float = 0.0  # a regressor's largest change, in s.scale units


def effect(s: Subject, frame: pd.DataFrame) -> Effect:
    import numpy as np

    labels, proba = s.answer(frame)
    if s.regression:
        moved = np.abs(np.asarray(labels, dtype=float) - s.labels.astype(float)) / s.scale
        moved = np.where(np.isfinite(moved), moved, np.inf)
        worst = int(np.argmax(moved))
        return Effect(0.0, 0.0, worst, float(moved[worst]))
    flipped = labels != s.labels
    shift = np.zeros(len(frame)) if proba is None else np.abs(proba - s.proba).max(axis=1)
    order = np.lexsort((shift, flipped))  # flipped rows first, then the largest shift
    return Effect(float(flipped.mean()), float(shift.max()), int(order[-1]))
