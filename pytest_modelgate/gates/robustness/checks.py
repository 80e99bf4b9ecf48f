"""The robustness gate: properties of the candidate searched with Hypothesis, deterministically.

Suite section::

    robustness:
      seed: 0                 # Hypothesis runs derandomized, seeded, without a database
      examples: 50            # examples per property
      rows: 200               # eval rows the properties run on (a seeded sample)
      features: [a, b]        # numeric features to perturb (default: every numeric one)
      noise: {relative: 0.01, max_flip_rate: 0.02, max_prob_shift: 0.1}
      jitter: {relative: 0.01, max_flip_rate: 0.02}   # one feature at a time
      monotonic:
        class: 1              # whose probability (default: the last class)
        features: {income: increasing, debt: decreasing}
      edge_inputs: {timeout_s: 60}

Items: ``robustness[noise]`` (a relative perturbation of every feature at once),
``robustness[jitter]`` (each feature alone, naming the fragile one),
``robustness[monotonic-F]`` per declared feature, ``robustness[edge-inputs]`` (NaN, inf, huge,
tiny, empty batch, unseen category: a valid answer or a clear refusal, never a crash, a hang
or NaN). A failure shows the minimal counterexample Hypothesis shrank to, as a readable row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.gates.api import Check, GateContext, GateResult, gate_required

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite

GATE = "robustness"
DIRECTIONS = ("increasing", "decreasing")
_SECTION_KEYS = {
    "seed",
    "examples",
    "rows",
    "features",
    "noise",
    "jitter",
    "monotonic",
    "edge_inputs",
    "required",
}
_NOISE_KEYS = {"relative", "max_flip_rate", "max_prob_shift"}
_MONOTONIC_KEYS = {"class", "features", "tolerance"}
_EDGE_KEYS = {"timeout_s", "rows"}
STEPS = 1000  # grid of perturbation sizes Hypothesis searches and shrinks over


@dataclass(frozen=True)
class Noise:
    relative: float
    max_flip_rate: float
    max_prob_shift: float | None


@dataclass(frozen=True)
class Monotonic:
    feature: str
    direction: str
    target_class: Any | None
    tolerance: float


@dataclass(frozen=True)
class RobustnessSpec:
    seed: int
    examples: int
    rows: int
    features: tuple[str, ...] | None
    suite: Suite
    noise: Noise | None = None
    jitter: Noise | None = None
    monotonic: tuple[Monotonic, ...] = ()
    edge_timeout_s: float | None = None
    edge_rows: int = 3


class RobustnessGate:
    name = GATE

    def checks(self, node: Node, suite: Suite) -> Sequence[Check]:
        node.mapping().only(_SECTION_KEYS)
        spec = parse_spec(node, suite)
        required = gate_required(node)

        def check(name: str, run: Callable[..., GateResult], *args: Any) -> Check:
            return Check(GATE, name, functools.partial(run, spec, *args), required)

        checks = []
        if spec.noise is not None:
            checks.append(check("noise", check_noise))
        if spec.jitter is not None:
            checks.append(check("jitter", check_jitter))
        checks += [check(f"monotonic-{m.feature}", check_monotonic, m) for m in spec.monotonic]
        if spec.edge_timeout_s is not None:
            checks.append(check("edge-inputs", check_edges))
        if not checks:
            raise node.error("expected at least one of noise, jitter, monotonic, edge_inputs")
        return checks


# -- parsing ---------------------------------------------------------------------------------


def parse_spec(node: Node, suite: Suite) -> RobustnessSpec:
    def integer(key: str, default: int, minimum: int) -> int:
        return node.require(key).as_int(minimum=minimum) if node.has(key) else default

    features = node.require("features").as_str_list() if node.has("features") else None
    edge_timeout, edge_rows = None, 3
    if node.has("edge_inputs"):
        edge_timeout, edge_rows = _edges(node.require("edge_inputs"))
    return RobustnessSpec(
        seed=integer("seed", 0, 0),
        examples=integer("examples", 50, 1),
        rows=integer("rows", 200, 1),
        features=features,
        suite=suite,
        noise=_noise(node.require("noise")) if node.has("noise") else None,
        jitter=_noise(node.require("jitter")) if node.has("jitter") else None,
        monotonic=_monotonic(node.require("monotonic")) if node.has("monotonic") else (),
        edge_timeout_s=edge_timeout,
        edge_rows=edge_rows,
    )


def _noise(node: Node) -> Noise:
    node.mapping().only(_NOISE_KEYS)
    relative = node.require("relative")
    if not 0 < relative.as_number() <= 1:
        raise relative.error(f"expected a number in (0, 1], got {relative.as_number():g}")
    shift = node.get("max_prob_shift")
    return Noise(
        relative=relative.as_number(),
        max_flip_rate=node.require("max_flip_rate").as_fraction(),
        max_prob_shift=shift.as_fraction() if shift else None,
    )


def _monotonic(node: Node) -> tuple[Monotonic, ...]:
    node.mapping().only(_MONOTONIC_KEYS)
    features = node.require("features").mapping()
    if not features.keys():
        raise features.error("expected at least one feature: {name: increasing|decreasing}")
    target = node.require("class").value if node.has("class") else None
    tolerance = node.require("tolerance").as_number() if node.has("tolerance") else 1e-9
    return tuple(
        Monotonic(name, entry.as_choice(DIRECTIONS), target, tolerance)
        for name, entry in features.items()
    )


def _edges(node: Node) -> tuple[float | None, int]:
    if node.value is True:
        return 60.0, 3
    if node.value is False:
        return None, 3
    node.mapping().only(_EDGE_KEYS)
    timeout = node.require("timeout_s").as_number() if node.has("timeout_s") else 60.0
    if timeout <= 0:
        raise node.require("timeout_s").error(f"expected a number > 0, got {timeout:g}")
    rows = node.require("rows").as_int(minimum=1) if node.has("rows") else 3
    return timeout, rows


# -- shared ----------------------------------------------------------------------------------


@dataclass
class Subject:
    """The candidate on a fixed sample of eval rows, with its answers on them."""

    model: Any
    base: pd.DataFrame
    features: tuple[str, ...]
    labels: Any
    proba: Any | None
    calls: int = 0

    def answer(self, frame: pd.DataFrame) -> tuple[Any, Any | None]:
        import numpy as np

        self.calls += 1
        labels = np.asarray(self.model.predict(frame))
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
        raise ValueError(f"features to perturb must be numeric model inputs; not: {unknown}")
    model = ctx.candidate.model
    s = Subject(model, base, tuple(features), None, None)
    s.labels, s.proba = s.answer(base)
    s.labels = np.asarray(s.labels)
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


def effect(s: Subject, frame: pd.DataFrame) -> Effect:
    import numpy as np

    labels, proba = s.answer(frame)
    flipped = labels != s.labels
    shift = np.zeros(len(frame)) if proba is None else np.abs(proba - s.proba).max(axis=1)
    order = np.lexsort((shift, flipped))  # flipped rows first, then the largest shift
    return Effect(float(flipped.mean()), float(shift.max()), int(order[-1]))


def row_text(s: Subject, frame: pd.DataFrame, row: int) -> str:
    """One row as ``feature: before -> after`` for what changed, then the answers."""
    parts = []
    for column in s.base.columns:
        before, after = s.base.at[row, column], frame.at[row, column]
        if before != after:
            rel = (after - before) / before if before else float("nan")
            parts.append(f"{column}: {_num(before)} -> {_num(after)} ({rel:+.3%})")
        else:
            parts.append(f"{column}: {_num(before)}")
    labels, proba = s.answer(frame.iloc[[row]])
    answer = f"prediction {_plain(s.labels[row])!r} -> {_plain(labels[0])!r}"
    if proba is not None and s.proba is not None:
        answer += f", probabilities {_probs(s.proba[row])} -> {_probs(proba[0])}"
    return f"row {row} {{{', '.join(parts)}}}: {answer}"


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(_plain(value))


def _probs(values: Any) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _violates(noise: Noise, e: Effect) -> bool:
    too_many = e.flip_rate > noise.max_flip_rate
    too_far = noise.max_prob_shift is not None and e.prob_shift > noise.max_prob_shift
    return too_many or too_far


def _threshold(noise: Noise) -> dict[str, float]:
    threshold = {"max_flip_rate": noise.max_flip_rate}
    if noise.max_prob_shift is not None:
        threshold["max_prob_shift"] = noise.max_prob_shift
    return threshold


def _cause(noise: Noise, e: Effect) -> str:
    parts = []
    if e.flip_rate > noise.max_flip_rate:
        parts.append(
            f"flips {e.flip_rate:.1%} of predictions (max_flip_rate {noise.max_flip_rate:g})"
        )
    if noise.max_prob_shift is not None and e.prob_shift > noise.max_prob_shift:
        parts.append(
            f"shifts a probability by {e.prob_shift:.3f} (max_prob_shift {noise.max_prob_shift:g})"
        )
    return " and ".join(parts)


# -- robustness[noise] -----------------------------------------------------------------------


def check_noise(spec: RobustnessSpec, ctx: GateContext) -> GateResult:
    from hypothesis import strategies as st

    noise = spec.noise
    assert noise is not None
    s = subject(spec, ctx)
    r = noise.relative
    strategy = st.fixed_dictionaries({f: steps(-r, r) for f in s.features})
    worst: list[Effect] = []

    def violates(deltas: dict[str, float]) -> bool:
        e = effect(s, perturbed(s.base, deltas))
        worst.append(e)
        return _violates(noise, e)

    found = search(strategy, violates, spec)
    top = max(worst, key=lambda e: (e.flip_rate, e.prob_shift))
    result = GateResult(
        passed=found is None,
        metric="flip rate under noise",
        value=top.flip_rate,
        threshold=_threshold(noise),
        decided_on=f"worst of {len(worst)} perturbations",
        rows=len(s.base),
        details={"max_prob_shift_seen": top.prob_shift, "relative": r, "seed": spec.seed},
    )
    if found is None:
        result.message = (
            f"perturbing {', '.join(s.features)} by up to {r:.2%} flipped at most "
            f"{top.flip_rate:.1%} of {len(s.base)} predictions (largest probability shift "
            f"{top.prob_shift:.3f})"
        )
        return result
    frame = perturbed(s.base, found)
    e = effect(s, frame)
    shown = ", ".join(f"{k} {v:+.4%}" for k, v in found.items())
    result.details["counterexample"] = {"perturbation": found, "row": e.worst_row}
    result.message = (
        f"a relative perturbation of at most {r:.2%} {_cause(noise, e)} on {len(s.base)} eval "
        f"rows.\nminimal counterexample (Hypothesis, seed {spec.seed}): perturb {shown}\n  "
        + row_text(s, frame, e.worst_row)
    )
    return result


# -- robustness[jitter] ----------------------------------------------------------------------


def check_jitter(spec: RobustnessSpec, ctx: GateContext) -> GateResult:

    noise = spec.jitter
    assert noise is not None
    s = subject(spec, ctx)
    r = noise.relative
    per_feature: dict[str, dict[str, Any]] = {}
    fragile: list[str] = []
    for feature in s.features:
        seen: list[Effect] = []

        def violates(delta: float, feature: str = feature, seen: list[Effect] = seen) -> bool:
            e = effect(s, perturbed(s.base, {feature: delta}))
            seen.append(e)
            return _violates(noise, e)

        found = search(steps(-r, r), violates, spec)
        top = max(seen, key=lambda e: (e.flip_rate, e.prob_shift))
        per_feature[feature] = {"flip_rate": top.flip_rate, "prob_shift": top.prob_shift}
        if found is not None:
            frame = perturbed(s.base, {feature: found})
            e = effect(s, frame)
            per_feature[feature]["counterexample"] = {"delta": found, "row": e.worst_row}
            fragile.append(
                f"{feature!r}: jitter {found:+.4%} {_cause(noise, e)}\n  "
                + row_text(s, frame, e.worst_row)
            )
    worst = max(per_feature, key=lambda f: per_feature[f]["flip_rate"])
    result = GateResult(
        passed=not fragile,
        metric=f"flip rate, worst feature {worst}",
        value=per_feature[worst]["flip_rate"],
        threshold=_threshold(noise),
        decided_on="worst feature",
        rows=len(s.base),
        details={"features": per_feature, "relative": r, "seed": spec.seed},
    )
    if fragile:
        names = ", ".join(f.split(":")[0] for f in fragile)
        result.message = (
            f"fragile feature(s) {names}: jittering one feature by at most {r:.2%} "
            f"(minimal counterexamples from Hypothesis, seed {spec.seed}):\n" + "\n".join(fragile)
        )
    else:
        result.message = "per feature flip rate: " + ", ".join(
            f"{f} {v['flip_rate']:.1%}" for f, v in per_feature.items()
        )
    return result


# -- robustness[monotonic-F] -----------------------------------------------------------------


def check_monotonic(spec: RobustnessSpec, mono: Monotonic, ctx: GateContext) -> GateResult:
    import numpy as np

    s = subject(spec, ctx)
    if mono.feature not in s.base.columns:
        raise ValueError(f"monotonic feature {mono.feature!r} is not a model input")
    score, what = _score(s, mono)
    values = s.base[mono.feature].astype("float64")
    span = float(values.max() - values.min()) or 1.0
    sign = 1.0 if mono.direction == "increasing" else -1.0
    before = score(s.base)
    worst: list[float] = []

    def drops(step: float) -> Any:
        frame = s.base.assign(**{mono.feature: values + step * span})
        return sign * (before - score(frame))  # > 0: the score moved the wrong way

    def violates(step: float) -> bool:
        drop = float(drops(step).max())
        worst.append(drop)
        return drop > mono.tolerance

    found = search(steps(1 / STEPS, 1), violates, spec)
    result = GateResult(
        passed=found is None,
        metric=f"largest wrong-way change of {what}",
        value=max(0.0, max(worst)),
        threshold={"max": mono.tolerance},
        decided_on=f"worst of {len(worst)} steps",
        rows=len(s.base),
        details={"feature": mono.feature, "direction": mono.direction, "score": what},
    )
    if found is None:
        result.message = f"{what} is {mono.direction} in {mono.feature} on {len(s.base)} rows"
        return result
    gap = drops(found)
    row = int(np.argmax(gap))
    frame = s.base.assign(**{mono.feature: values + found * span})
    change = "lowers" if mono.direction == "increasing" else "raises"
    result.details["counterexample"] = {"step": found * span, "row": row}
    result.message = (
        f"declared {mono.direction} in {mono.feature}, but raising {mono.feature} by "
        f"{found * span:.6g} {change} {what} by {float(gap[row]):.4f} on "
        f"{int((gap > mono.tolerance).sum())} of {len(s.base)} rows.\n"
        f"minimal counterexample (Hypothesis, seed {spec.seed}):\n  " + row_text(s, frame, row)
    )
    return result


def _score(s: Subject, mono: Monotonic) -> tuple[Callable[[pd.DataFrame], Any], str]:
    """The probability of the declared class, or a regressor's numeric prediction."""
    import numpy as np

    if s.proba is None:
        return (lambda frame: np.asarray(s.model.predict(frame), dtype=float)), "the prediction"
    classes = list(getattr(s.model, "classes_", range(s.proba.shape[1])))
    target = classes[-1] if mono.target_class is None else mono.target_class
    if target not in classes:
        raise ValueError(f"monotonic class {target!r} is not one of the model's {classes}")
    index = classes.index(target)

    def score(frame: pd.DataFrame) -> Any:
        return np.asarray(s.model.predict_proba(frame), dtype=float)[:, index]

    return score, f"P(class {_plain(target)!r})"


# -- robustness[edge-inputs] -----------------------------------------------------------------


def check_edges(spec: RobustnessSpec, ctx: GateContext) -> GateResult:
    from pytest_modelgate.gates.robustness.edge_inputs import build_probes, run_isolated

    data = ctx.eval_data(spec.suite)
    frame = ctx.candidate.predictions(data).inputs
    base = frame.head(spec.edge_rows).reset_index(drop=True)
    probes = build_probes(base)
    assert spec.edge_timeout_s is not None
    outcomes = run_isolated(ctx.candidate.model, probes, timeout_s=spec.edge_timeout_s)
    bad = [o for o in outcomes if not o.ok]
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    result = GateResult(
        passed=not bad,
        metric="edge inputs mishandled",
        value=float(len(bad)),
        threshold={"max": 0.0},
        decided_on="count",
        rows=len(probes),
        details={"verdicts": counts, "probes": [o.as_dict() for o in outcomes]},
    )
    summary = ", ".join(f"{v} {n}" for v, n in sorted(counts.items()))
    if bad:
        result.message = (
            f"{len(bad)} of {len(outcomes)} edge inputs were not answered validly or refused "
            f"with a clear error ({summary}):\n"
            + "\n".join(f"  {o.probe}: {o.verdict}: {o.message[:200]}" for o in bad)
        )
    else:
        result.message = f"{len(outcomes)} edge inputs: {summary}"
    return result
