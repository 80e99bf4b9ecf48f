"""Deciding a robustness item: the worst perturbation found against its limits, with the minimal
counterexample Hypothesis shrank to as a readable row."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import DataError
from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.robustness.search import (
    STEPS,
    Effect,
    Subject,
    effect,
    perturbed,
    search,
    steps,
    subject,
)
from pytest_modelgate.gates.robustness.spec import Monotonic, Noise, RobustnessSpec
from pytest_modelgate.jsonio import plain

if TYPE_CHECKING:
    import pandas as pd


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
    if s.regression:
        before_y, after_y = float(s.labels[row]), float(labels[0])
        moved = (after_y - before_y) / s.scale
        answer = f"prediction {before_y:.6g} -> {after_y:.6g} ({moved:+.3f} standard deviations of the predictions)"
        return f"row {row} {{{', '.join(parts)}}}: {answer}"
    answer = f"prediction {plain(s.labels[row])!r} -> {plain(labels[0])!r}"
    if proba is not None and s.proba is not None:
        answer += f", probabilities {_probs(s.proba[row])} -> {_probs(proba[0])}"
    return f"row {row} {{{', '.join(parts)}}}: {answer}"


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(plain(value))


def _probs(values: Any) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def _violates(noise: Noise, e: Effect) -> bool:
    too_many = noise.max_flip_rate is not None and e.flip_rate > noise.max_flip_rate
    too_far = noise.max_prob_shift is not None and e.prob_shift > noise.max_prob_shift
    moved = noise.max_output_shift is not None and e.output_shift > noise.max_output_shift
    return too_many or too_far or moved


def _threshold(noise: Noise) -> dict[str, float]:
    limits = (
        ("max_flip_rate", noise.max_flip_rate),
        ("max_prob_shift", noise.max_prob_shift),
        ("max_output_shift", noise.max_output_shift),
    )
    return {k: v for k, v in limits if v is not None}


def _check_limits(noise: Noise, s: Subject, section: str, model: str) -> None:
    """A regressor is held to max_output_shift, a classifier to flips and probabilities."""
    if s.regression and noise.max_output_shift is None:
        raise DataError(
            f"robustness {section} ({noise.where}) on {model}, a regressor, needs "
            "max_output_shift: the largest change of a prediction, in standard deviations of "
            "the predictions (max_flip_rate and max_prob_shift apply to class labels)"
        )
    if not s.regression and noise.max_flip_rate is None and noise.max_prob_shift is None:
        raise DataError(
            f"robustness {section} ({noise.where}) on {model}, a classifier, needs "
            "max_flip_rate and/or max_prob_shift (max_output_shift applies to a regressor's "
            "numbers)"
        )


def _cause(noise: Noise, e: Effect) -> str:
    parts = []
    if noise.max_output_shift is not None and e.output_shift > noise.max_output_shift:
        parts.append(
            f"moves a prediction by {e.output_shift:.3f} standard deviations of the "
            f"predictions (max_output_shift {noise.max_output_shift:g})"
        )
    if noise.max_flip_rate is not None and e.flip_rate > noise.max_flip_rate:
        parts.append(
            f"flips {e.flip_rate:.1%} of predictions (max_flip_rate {noise.max_flip_rate:g})"
        )
    if noise.max_prob_shift is not None and e.prob_shift > noise.max_prob_shift:
        parts.append(
            f"shifts a probability by {e.prob_shift:.3f} (max_prob_shift {noise.max_prob_shift:g})"
        )
    return " and ".join(parts)


def check_noise(spec: RobustnessSpec, ctx: GateContext) -> GateResult:
    from hypothesis import strategies as st

    noise = spec.noise
    assert noise is not None
    s = subject(spec, ctx)
    _check_limits(noise, s, "noise", ctx.candidate.ref.describe())
    r = noise.relative
    strategy = st.fixed_dictionaries({f: steps(-r, r) for f in s.features})
    worst: list[Effect] = []

    def violates(deltas: dict[str, float]) -> bool:
        e = effect(s, perturbed(s.base, deltas))
        worst.append(e)
        return _violates(noise, e)

    found = search(strategy, violates, spec)
    top = max(worst, key=lambda e: (e.output_shift, e.flip_rate, e.prob_shift))
    result = GateResult(
        passed=found is None,
        metric="output shift under noise" if s.regression else "flip rate under noise",
        value=top.output_shift if s.regression else top.flip_rate,
        threshold=_threshold(noise),
        decided_on=f"worst of {len(worst)} perturbations",
        rows=len(s.base),
        details={"max_prob_shift_seen": top.prob_shift, "relative": r, "seed": spec.seed},
    )
    if s.regression:
        result.details = {
            "max_output_shift_seen": top.output_shift,
            "output_scale": s.scale,
            "relative": r,
            "seed": spec.seed,
        }
    if found is None:
        if s.regression:
            result.message = (
                f"perturbing {', '.join(s.features)} by up to {r:.2%} moved a prediction by at "
                f"most {top.output_shift:.4f} standard deviations of the predictions "
                f"({top.output_shift * s.scale:.4g}) on {len(s.base)} rows"
            )
            return result
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
    # the value is the worst perturbation found; the counterexample is the smallest Hypothesis
    # shrank to that still breaks the limit, so its effect is usually milder
    seen = f"{top.output_shift:.4f}" if s.regression else f"{top.flip_rate:.1%}"
    result.message = (
        f"a relative perturbation of at most {r:.2%} {_cause(noise, e)} on {len(s.base)} eval "
        f"rows (the worst of {len(worst)} perturbations: {seen}).\nminimal counterexample (Hypothesis, seed {spec.seed}): perturb {shown}\n  "
        + row_text(s, frame, e.worst_row)
    )
    return result


def check_jitter(spec: RobustnessSpec, ctx: GateContext) -> GateResult:

    noise = spec.jitter
    assert noise is not None
    s = subject(spec, ctx)
    _check_limits(noise, s, "jitter", ctx.candidate.ref.describe())
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
        top = max(seen, key=lambda e: (e.output_shift, e.flip_rate, e.prob_shift))
        per_feature[feature] = {"flip_rate": top.flip_rate, "prob_shift": top.prob_shift}
        if s.regression:
            per_feature[feature] = {"output_shift": top.output_shift}
        if found is not None:
            frame = perturbed(s.base, {feature: found})
            e = effect(s, frame)
            per_feature[feature]["counterexample"] = {"delta": found, "row": e.worst_row}
            fragile.append(
                f"{feature!r}: jitter {found:+.4%} {_cause(noise, e)}\n  "
                + row_text(s, frame, e.worst_row)
            )
    key = "output_shift" if s.regression else "flip_rate"
    worst = max(per_feature, key=lambda f: per_feature[f][key])
    result = GateResult(
        passed=not fragile,
        metric=f"{key.replace('_', ' ')}, worst feature {worst}",
        value=per_feature[worst][key],
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
    elif s.regression:
        result.message = "per feature largest output shift (standard deviations): " + ", ".join(
            f"{f} {v['output_shift']:.4f}" for f, v in per_feature.items()
        )
    else:
        result.message = "per feature flip rate: " + ", ".join(
            f"{f} {v['flip_rate']:.1%}" for f, v in per_feature.items()
        )
    return result


def check_monotonic(spec: RobustnessSpec, mono: Monotonic, ctx: GateContext) -> GateResult:
    import numpy as np

    s = subject(spec, ctx)
    if mono.feature not in s.base.columns:
        raise DataError(f"monotonic feature {mono.feature!r} is not a model input")
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

    if s.regression and mono.target_class is not None:
        raise DataError(
            f"monotonic 'class: {mono.target_class}' names a class, but the model is a "
            "regressor: its prediction itself must be monotonic; remove 'class'"
        )
    if s.proba is None:
        if np.asarray(s.labels).dtype.kind not in "fiub":
            raise DataError(
                "monotonic needs a number to be monotonic in: this classifier gives no "
                f"probabilities (no predict_proba) and its labels are not numbers ({s.labels.dtype})"
            )
        return (lambda frame: np.asarray(s.model.predict(frame), dtype=float)), "the prediction"
    classes = list(getattr(s.model, "classes_", range(s.proba.shape[1])))
    target = classes[-1] if mono.target_class is None else mono.target_class
    if target not in classes:
        raise DataError(f"monotonic class {target!r} is not one of the model's {classes}")
    index = classes.index(target)

    def score(frame: pd.DataFrame) -> Any:
        return np.asarray(s.model.predict_proba(frame), dtype=float)[:, index]

    return score, f"P(class {plain(target)!r})"


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
