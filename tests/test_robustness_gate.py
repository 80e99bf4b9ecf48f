"""The robustness gate against models whose fragility we place exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite
from .flawed_models import SigmoidClassifier

SUITE = """
model: m
data: {{path: eval.csv}}
target: y
gates:
  robustness:
    seed: 3
    examples: 20
{section}
"""
NOISE = """\
    noise: {relative: 0.01, max_flip_rate: 0.05, max_prob_shift: 0.2}
    jitter: {relative: 0.01, max_flip_rate: 0.05}
"""


def _sigmoid_project(
    pytester, registry: ScratchRegistry, section: str, b: np.ndarray, scale: float = 1000.0
) -> int:
    """A model that thresholds column b at 0.5; column a is ignored. Eval rows take ``b``."""
    train = pd.DataFrame({"a": np.linspace(0, 1, 20), "b": np.linspace(0, 1, 20)})
    model = SigmoidClassifier("b", threshold=0.5, scale=scale).fit(train, [0, 1] * 10)
    version = registry.register(model, "m", train)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.uniform(0, 1, len(b)), "b": b})
    frame["y"] = (frame["b"] > 0.5).astype(int)
    frame.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE.format(section=section))
    return version


def _far_from_threshold() -> np.ndarray:
    return np.r_[np.linspace(0.05, 0.3, 30), np.linspace(0.7, 0.95, 30)]


def _at_threshold() -> np.ndarray:
    return np.linspace(0.497, 0.503, 60)


def test_model_far_from_its_boundary_passes_noise_jitter_and_monotonicity(pytester, registry):
    section = NOISE + "    monotonic: {class: 1, features: {b: increasing}}\n"
    version = _sigmoid_project(pytester, registry, section, _far_from_threshold())
    result = pytester.runpytest(*registry.args("m", version), "-rP")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*per feature flip rate: a 0.0%, b 0.0%*"])


def test_model_flipping_under_tiny_noise_fails_and_jitter_names_the_fragile_feature(
    pytester, registry
):
    version = _sigmoid_project(pytester, registry, NOISE, _at_threshold())
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: robustness[[]noise[]]*",
            "*a relative perturbation of at most 1.00% flips * of predictions "
            "(max_flip_rate 0.05)*",
            "*minimal counterexample (Hypothesis, seed 3): perturb a *, b *",
            "*row * {a: *, b: * -> * (*%)}: prediction * -> *, probabilities * -> *",
            "*GATE FAILED: robustness[[]jitter[]]*",
            "*fragile feature(s) 'b': jittering one feature by at most 1.00%*",
            "*'b': jitter *% flips * of predictions*",
        ]
    )
    result.stdout.no_fnmatch_line("*'a': jitter*")


def test_model_breaking_a_declared_monotonic_feature_shows_the_counterexample_row(
    pytester, registry
):
    section = "    monotonic: {class: 1, features: {b: decreasing}}\n"
    version = _sigmoid_project(pytester, registry, section, _far_from_threshold(), scale=10.0)
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: robustness[[]monotonic-b[]]*",
            "*declared decreasing in b, but raising b by * raises P(class 1) by *",
            "*minimal counterexample (Hypothesis, seed 3):*",
            "*row * {a: *, b: * -> *}: prediction *",
        ]
    )


def test_model_answering_nan_to_nan_input_fails_the_edge_inputs(pytester, registry):
    section = "    edge_inputs: {timeout_s: 60}\n"
    version = _sigmoid_project(pytester, registry, section, _far_from_threshold(), scale=10.0)
    result = pytester.runpytest(*registry.args("m", version))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: robustness[[]edge-inputs[]]*",
            "*nan in 'b': nan: predict_proba() returned 6 NaN for 3 rows*",
        ]
    )
    result.stdout.no_fnmatch_line("*nan in 'a': nan*")


def test_model_answering_or_refusing_every_edge_input_passes(pytester, registry):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    eval_frame(30, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE.format(section="    edge_inputs: true\n"))
    result = pytester.runpytest(*registry.args("m", version), "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*7 edge inputs: answered *, refused *"])


def test_robustness_section_without_a_property_is_rejected(pytester, registry):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    eval_frame(30, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE.format(section="    rows: 10\n"))
    result = pytester.runpytest(*registry.args("m", version))
    result.stdout.fnmatch_lines(
        ["*suite.yaml:5: gates.robustness: expected at least one of noise, jitter*"]
    )
