"""The promotion path: the environments a version walks through, in order, each a registry
alias of the model, with a policy per step.

A project declares it in ``modelgate.yaml`` (key ``path``) or in ``pyproject.toml`` under
``[tool.modelgate]`` (``path = [...]``), at its root::

    path:
      - env: dev
        requires: [accuracy]
      - env: uat
        requires: [accuracy, schema]
      - env: production
        alias: champion     # the registry alias (default: the environment's name)
        model: credit-prod  # the registered model it lives in (default: the candidate's)
        tracking_uri: http://registry.prod:5000  # its registry (default: the candidate's)
        after: uat          # the default: the step before
        soak: 1d            # how long the version must have held uat (from uat's ledger)
        approval: true      # --approved-by NAME or MODELGATE_APPROVAL must say who
        requires: [accuracy, schema, latency, fairness]

A step may also declare a live guard (``guard:``, see ``promotion.guard_spec``): the step after
it then needs the guard's ``confirm`` of the version in its ledger. Without either file the
path is ``staging -> production`` (production after staging), the behaviour the plugin always
had. A step in another registered model or registry is entered by a
copy of the gated version (``promotion.places``). Everything here is plain data: the checks
that read the registry live in ``promotion.moves``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_modelgate.candidate.registry import redacted
from pytest_modelgate.errors import ConfigError, SuiteError
from pytest_modelgate.promotion.guard_spec import GuardSpec, parse_guard
from pytest_modelgate.suite.nodes import Node, read_suite_file

PATH_FILE = "modelgate.yaml"
PYPROJECT = "pyproject.toml"
STEP_KEYS = {
    "env", "alias", "model", "tracking_uri", "after", "requires", "soak", "approval", "guard",
}  # fmt: skip
# an MLflow alias: a letter or underscore first, no 'v<digits>' (MLflow reserves those)
ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,254}$")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Step:
    """One environment of the path and what a version needs to enter it."""

    env: str
    after: str | None = None  # the environment it must hold first, with verified evidence
    requires: tuple[str, ...] = ()  # gates (a family, or an item name) that must have passed
    soak_s: float = 0.0  # how long it must have held ``after``, read from the ledger
    approval: bool = False  # an approval (who, when) must be recorded with the move
    where: str = ""  # file and key, for messages
    alias: str = ""  # the registry alias ('' means the environment's own name)
    model: str = ""  # the registered model ('' means the candidate's)
    tracking_uri: str = ""  # the registry ('' means the candidate's)
    guard: GuardSpec | None = None  # a live guard: the next step needs its confirmation

    @property
    def alias_name(self) -> str:
        return self.alias or self.env

    @property
    def variables(self) -> list[str]:
        """The environment variables its tracking URI names (``${VAR}``)."""
        return re.findall(r"\$\{(\w+)\}", self.tracking_uri)

    def registry_uri(self) -> str:
        """Its tracking URI with ``${VAR}`` read from the environment ('' for the candidate's)."""
        text = os.path.expandvars(self.tracking_uri)
        missing = [v for v in self.variables if v not in os.environ]
        if missing:
            raise ConfigError(
                f"{self.env}'s tracking_uri ({self.where}) names {', '.join(missing)}, which "
                "is not set in the environment"
            )
        return text

    def rules(self) -> list[str]:
        """The step's policy in words, for ``modelgate status``."""
        said = [f"alias {self.alias!r}"] if self.alias else []
        said += [f"in model {self.model!r}"] if self.model else []
        said += [f"in registry {redacted(self.tracking_uri)}"] if self.tracking_uri else []
        said += [f"after {self.after} with verified evidence"] if self.after else []
        said += [f"soak {duration_text(self.soak_s)} in {self.after}"] if self.soak_s else []
        said += [f"gates {', '.join(self.requires)} passed"] if self.requires else []
        said += ["approval recorded"] if self.approval else []
        said += ["a live guard confirms it (modelgate guard)"] if self.guard else []
        return said


@dataclass(frozen=True)
class PromotionPath:
    steps: tuple[Step, ...]
    source: str  # the file it was read from, or "the default path"

    @property
    def envs(self) -> tuple[str, ...]:
        return tuple(step.env for step in self.steps)

    def step(self, env: str) -> Step:
        for step in self.steps:
            if step.env == env:
                return step
        raise ConfigError(
            f"unknown environment {env!r}: {self.source} declares {' -> '.join(self.envs)}"
        )

    def describe(self) -> str:
        return f"{' -> '.join(self.envs)} ({self.source})"

    @property
    def aliases(self) -> dict[str, str]:
        return {step.env: step.alias_name for step in self.steps}


DEFAULT_PATH = PromotionPath(
    (Step("staging"), Step("production", after="staging")), "the default path"
)


def duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def load_path(root: Path) -> PromotionPath:
    """The path declared at ``root`` (``modelgate.yaml``, else ``pyproject.toml``'s
    ``[tool.modelgate]``), else the default; a bad declaration raises ConfigError naming the
    file and key."""
    try:
        yaml_file = root / PATH_FILE
        if yaml_file.is_file():
            return parse_path(read_suite_file(yaml_file).only({"path"}).require("path"))
        pyproject = root / PYPROJECT
        if pyproject.is_file():
            node = _pyproject_path(pyproject)
            if node is not None:
                return parse_path(node)
    except SuiteError as exc:
        raise ConfigError(f"bad promotion path: {exc}") from None
    return DEFAULT_PATH


def _pyproject_path(pyproject: Path) -> Node | None:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SuiteError(pyproject, None, "", f"cannot read: {exc}") from None
    section = (data.get("tool") or {}).get("modelgate")
    if section is None or "path" not in section:
        return None
    return Node(section, pyproject, "tool.modelgate", None).require("path")


def parse_path(node: Node) -> PromotionPath:
    if not isinstance(node.value, list) or not node.value:
        raise node.error("expected a list of environments (each a mapping with 'env')")
    steps: list[Step] = []
    held: dict[tuple[str, str, str], str] = {}
    for index, value in enumerate(node.value):
        line = getattr(value, "line", None) or node.line
        item = Node(value, node.path, f"{node.key}[{index}]", line).mapping().only(STEP_KEYS)
        step = _parse_step(item, steps)
        place = (step.tracking_uri, step.model, step.alias_name)
        if place in held:  # two environments on one alias would move each other
            raise (item.get("alias") or item.require("env")).error(
                f"{step.env!r} and {held[place]!r} would share alias {step.alias_name!r} of one "
                "registered model: give one of them its own alias or model"
            )
        held[place] = step.env
        steps.append(step)
    return PromotionPath(tuple(steps), str(node.path))


def _parse_step(item: Node, before: list[Step]) -> Step:
    env_node = item.require("env")
    env = _alias_text(env_node)
    if env in [s.env for s in before]:
        raise env_node.error(f"environment {env!r} appears twice in the path")
    previous = before[-1].env if before else None
    after = previous
    after_node = item.get("after")
    if after_node is not None:
        after = None if after_node.value is None else after_node.as_str().strip()
        _check_after(after_node, env, after, previous, before)
    soak_node = item.get("soak")
    soak = 0.0 if soak_node is None else _duration(soak_node)
    if soak and after is None:
        raise (soak_node or item).error(
            f"a soak time needs an environment to soak in: {env!r} has none"
        )
    alias_node, model_node, uri_node = (
        item.get("alias"),
        item.get("model"),
        item.get("tracking_uri"),
    )
    return Step(
        env=env,
        alias=_alias_text(alias_node) if alias_node is not None else "",
        model=model_node.as_str().strip() if model_node is not None else "",
        tracking_uri=_tracking_uri(uri_node) if uri_node is not None else "",
        after=after,
        requires=item.value_or("requires", Node.as_str_list, ()),
        soak_s=soak,
        approval=item.value_or("approval", Node.as_bool, False),
        guard=item.value_or("guard", parse_guard, None),
        where=f"{item.path}:{item.line}" if item.line else str(item.path),
    )


def _alias_text(node: Node) -> str:
    text = node.as_str().strip()
    if not ENV_PATTERN.match(text) or re.fullmatch(r"v\d+", text):
        raise node.error(
            f"{text!r} cannot be a registry alias: a letter or '_' first, then letters, digits, "
            "'_' or '-' (and not v<digits>, which MLflow reserves)"
        )
    return text


def _tracking_uri(node: Node) -> str:
    """A tracking URI as written: ``${VAR}`` is read from the environment only when the
    environment is used (``Step.registry_uri``), so credentials need not sit in the file."""
    return node.as_str().strip()


def _check_after(
    node: Node, env: str, after: str | None, previous: str | None, before: list[Step]
) -> None:
    """``after`` names the step just before (or null: no predecessor needed)."""
    if after is None:
        return
    if after == env:
        raise node.error(f"{env!r} cannot come after itself")
    if after not in [s.env for s in before]:
        raise node.error(
            f"{after!r} is not an environment before {env!r} in the path (a later or unknown "
            "environment would make a cycle)"
        )
    if after != previous:
        raise node.error(
            f"{env!r} after {after!r} skips its predecessor {previous!r}: a version reaches "
            f"{env!r} through {previous!r}"
        )


def _duration(node: Node) -> float:
    value = node.value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = DURATION.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise node.error(f"expected a duration such as 30m, 12h or 1d, got {value!r}")
    return float(match[1]) * UNIT_S[match[2]]


def missing_gates(step: Step, report: dict[str, Any]) -> list[str]:
    """What the gate report lacks of the gates ``step`` requires: each must have run, and
    every item of it passed (an advisory item counts here too)."""
    items = report.get("items") or []
    problems = []
    for needed in step.requires:
        matching = [i for i in items if needed in (i.get("gate"), _family(i.get("gate")))]
        if not matching:
            problems.append(f"gate {needed!r} did not run")
            continue
        failed = [
            f"{i['gate']}: {i.get('outcome')}" for i in matching if i.get("outcome") != "passed"
        ]
        if failed:
            problems.append(f"gate {needed!r} did not pass ({', '.join(failed)})")
    return problems


def _family(gate: object) -> str:
    return str(gate).split("[", 1)[0]
