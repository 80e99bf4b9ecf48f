"""The robustness gate: properties of the candidate searched with Hypothesis, deterministically.

Suite section::

    robustness:
      seed: 0                 # Hypothesis runs derandomized, seeded, without a database
      examples: 50            # examples per property
      rows: 200               # eval rows the properties run on (a seeded sample)
      features: [a, b]        # numeric features to perturb (default: every numeric one)
      noise: {relative: 0.01, max_flip_rate: 0.02, max_prob_shift: 0.1}
      jitter: {relative: 0.01, max_flip_rate: 0.02}   # one feature at a time
      # a regressor: the largest change of a prediction, in standard deviations of the
      # predictions on the sampled rows
      # noise: {relative: 0.01, max_output_shift: 0.05}
      monotonic:
        class: 1              # whose probability (default: the last class)
        features: {income: increasing, debt: decreasing}
      edge_inputs: {timeout_s: 60}

A classifier is held to ``max_flip_rate`` (the share of predicted labels that change) and
``max_prob_shift`` (the largest change of a probability); a regressor to ``max_output_shift``.
Monotonicity is on the declared class's probability, or a regressor's prediction.

Items: ``robustness[noise]`` (a relative perturbation of every feature at once),
``robustness[jitter]`` (each feature alone, naming the fragile one),
``robustness[monotonic-F]`` per declared feature, ``robustness[edge-inputs]`` (NaN, inf, huge,
tiny, empty batch, unseen category: a valid answer or a clear refusal, never a crash, a hang
or NaN). A failure shows the minimal counterexample Hypothesis shrank to, as a readable row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


GATE = "robustness"


DIRECTIONS = ("increasing", "decreasing")


SECTION_KEYS = {
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


_NOISE_KEYS = {"relative", "max_flip_rate", "max_prob_shift", "max_output_shift"}


_MONOTONIC_KEYS = {"class", "features", "tolerance"}


_EDGE_KEYS = {"timeout_s", "rows"}


@dataclass(frozen=True)
class Noise:
    relative: float
    max_flip_rate: float | None
    max_prob_shift: float | None
    max_output_shift: float | None = None  # a regressor's, in standard deviations of its outputs
    where: str = ""


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
    if not any(node.has(k) for k in ("max_flip_rate", "max_prob_shift", "max_output_shift")):
        raise node.error(
            "expected a limit: max_flip_rate and/or max_prob_shift (a classifier), or "
            "max_output_shift (a regressor)"
        )
    flips = node.get("max_flip_rate")
    shift = node.get("max_prob_shift")
    output = node.get("max_output_shift")
    if output is not None and output.as_number() < 0:
        raise output.error(f"expected a number >= 0, got {output.as_number():g}")
    return Noise(
        relative=relative.as_number(),
        max_flip_rate=flips.as_fraction() if flips else None,
        max_prob_shift=shift.as_fraction() if shift else None,
        max_output_shift=output.as_number() if output else None,
        where=f"{node.path}:{node.line}",
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
