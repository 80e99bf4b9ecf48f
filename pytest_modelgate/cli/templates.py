"""What ``modelgate init`` writes: a gate suite for one registered model, the CI workflows that
gate and promote it, and a locustfile. Plain text templates, filled from what the registry and
the evaluation data say about the model."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field

from pytest_modelgate.promotion.path import DEFAULT_PATH, PATH_FILE, PromotionPath

# MLflow column types -> the pandera dtype that keeps the values as the signature declares
PANDERA_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "str",
    "datetime": "datetime64[ns]",
    "binary": "bytes",
}


@dataclass(frozen=True)
class Scaffold:
    """What the templates need to know about the model and its data."""

    model: str
    version: int
    data: str  # path relative to gates/
    target: str
    task: str  # classification or regression
    binary: bool
    signature: tuple[tuple[str, str], ...]  # (column, MLflow type)
    sensitive: tuple[str, ...]
    reference: str | None  # training data for the drift gate, relative to gates/
    load: bool
    # a binary target whose labels are not 0/1 or booleans: the class fairness counts as the
    # favourable outcome (the fairness gate cannot guess it)
    pos_label: str | int | None = None
    path: PromotionPath = field(default=DEFAULT_PATH)  # the project's promotion path
    write_path: bool = False  # the project declares none: write the default to modelgate.yaml


def suite(s: Scaffold) -> str:
    sections = [
        _header(s),
        _accuracy(s),
        _schema(s),
        _latency(),
        _robustness(s),
        _fairness(s),
        _drift(s),
    ]
    return "\n".join(sections)


def _header(s: Scaffold) -> str:
    sensitive = (
        f"sensitive: [{', '.join(s.sensitive)}]"
        if s.sensitive
        else ("# sensitive: [sex, age_group]  # columns of the data the fairness gate groups by")
    )
    return f"""\
# Gate suite for {s.model}, written by `modelgate init` from v{s.version} and {s.data}.
# Every gate family is here with starting thresholds: make them what the model must meet.
# Thresholds are decided on a 95% bootstrap interval, so they must be what your number of
# evaluation rows can certify. Run: pytest gates/ --model-name {s.model} --model-version N
model: {s.model}
data: {{path: {s.data}}}
target: {s.target}
# features: [...]          # default: the inputs of the model's MLflow signature
{sensitive}
gates:"""


def _accuracy(s: Scaffold) -> str:
    if s.task == "regression":
        metrics = """\
      r2: {min: 0.5, max_drop: 0.05}
      mean_absolute_error: {max: 1000000}    # set to the error your use case can bear"""
    else:
        metrics = """\
      accuracy: {min: 0.7, max_drop: 0.02}
      balanced_accuracy: {min: 0.6}"""
    return f"""\
  accuracy:
    resamples: 1000
    seed: 0
    # the first release has no champion (no 'production' alias yet); later ones must not
    # fall more than max_drop below it on the same rows
    on_missing_champion: pass
    metrics:
{metrics}"""


def _schema(s: Scaffold) -> str:
    columns = "\n".join(
        f"      {name}: {{dtype: {PANDERA_DTYPES.get(kind, kind)}, nullable: false}}"
        for name, kind in s.signature
    )
    if not columns:
        columns = "      # the model has no MLflow signature: name its input columns here"
    return f"""\
  schema:
    # one contract for the gate and the service: the served bento validates requests with it.
    # Derived from the model's MLflow signature; add checks such as {{ge: 0}} per column.
    strict: true
    columns:
{columns}"""


def _latency() -> str:
    return """\
  latency:
    warmup: 20
    repeats: 5
    calls: 200
    batches:                 # in-process predict(), milliseconds
      - {size: 1, p95_ms: 100, p99_ms: 250}
      - {size: 100, p99_ms: 1000}"""


def _robustness(s: Scaffold) -> str:
    noise = (
        "    noise: {relative: 0.01, max_output_shift: 0.05}   # outputs move < 0.05 std devs"
        if s.task == "regression"
        else "    noise: {relative: 0.01, max_flip_rate: 0.05}      # tiny noise flips few labels"
    )
    return f"""\
  robustness:
    seed: 0
    examples: 30
{noise}
    edge_inputs: {{timeout_s: 60}}   # NaN, inf, huge values, an empty batch: answered or refused"""


def _fairness(s: Scaffold) -> str:
    if s.task == "regression":
        metric = "mae_every_group: {metric: mean_absolute_error, group_max: 1000000}"
    elif s.binary:
        metric = "demographic_parity_difference: {max: 0.2}"
    else:
        metric = (
            "recall_every_group: {metric: recall_score, params: {average: macro}, group_min: 0.5}"
        )
    favourable = (
        f"    pos_label: {json.dumps(s.pos_label)}   # the favourable outcome: check it\n"
        if s.pos_label is not None and s.task != "regression"
        else ""
    )
    body = f"""\
  fairness:
    on_missing_champion: pass
    min_group_size: 30       # smaller groups are insufficient evidence
{favourable}    metrics:
      {metric}"""
    if s.sensitive:
        return body
    return (
        "  # fairness needs the suite's 'sensitive:' columns; name them above and uncomment:\n"
        + "\n".join(f"  # {line[2:]}" for line in body.splitlines())
    )


def _drift(s: Scaffold) -> str:
    if s.reference:
        return f"""\
  drift:
    reference: {{path: {s.reference}}}   # the data the model was trained on
    max_psi: 0.25"""
    return """\
  # drift compares the eval data with the training data; name that file and uncomment:
  # drift:
  #   reference: {path: train.csv}
  #   max_psi: 0.25"""


def load_suite(s: Scaffold) -> str:
    return f"""\
# Load gate for {s.model}: its bento served on loopback, locust for a few seconds with rows
# sampled from the evaluation data. `pytest gates/` runs it with the main suite.
model: {s.model}
data: {{path: ../{s.data}}}
target: {s.target}
gates:
  load:
    users: 10
    spawn_rate: 10
    run_time_s: 5
    rows: 200
    p95_ms: 250
    p99_ms: 1000
    max_failure_ratio: 0.0
"""


LOCUSTFILE = '''\
"""Load test of the served bento:

    MODELGATE_LOAD_ROWS=rows.json locust -f locustfile.py --host http://127.0.0.1:3000

``rows.json`` is a JSON list of feature rows (for example
``frame.drop(columns=[target]).to_json("rows.json", orient="records")``).
"""

from pytest_modelgate.bento.locustfile import ModelUser

__all__ = ["ModelUser"]
'''


# the first steps of every job: the repository, Python, pytest-modelgate and the user's own
# requirements
_SETUP = """\
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install
        run: |
          python -m pip install 'pytest-modelgate[all]'
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
"""


def gates_workflow(s: Scaffold) -> str:
    return f"""\
# Pull-request gate for {s.model}: make the "model gates" job a required status check.
# It gates the version the 'candidate' alias points at (set it when you register a new
# version), or the version given when the workflow is run by hand.
name: model gates

on:
  pull_request:
  workflow_dispatch:
    inputs:
      version:
        description: registry version to gate (default the 'candidate' alias)
        type: string
        default: ""

permissions:
  contents: read

jobs:
  gates:
    name: model gates
    runs-on: ubuntu-latest
    timeout-minutes: 30
    env:
      MLFLOW_TRACKING_URI: ${{{{ secrets.MLFLOW_TRACKING_URI }}}}
      MLFLOW_TRACKING_USERNAME: ${{{{ secrets.MLFLOW_TRACKING_USERNAME }}}}
      MLFLOW_TRACKING_PASSWORD: ${{{{ secrets.MLFLOW_TRACKING_PASSWORD }}}}
      VERSION: ${{{{ inputs.version }}}}
    steps:
{_SETUP}      - name: Gate the candidate
        run: |
          if [ -n "$VERSION" ]; then which="--model-version $VERSION"; else which="--model-alias candidate"; fi
          # shellcheck disable=SC2086
          python -m pytest gates/ --model-name {s.model} $which \\
            --junitxml gate-reports/junit.xml --gate-report gate-reports/report.json \\
            --gate-summary gate-reports/summary.md --gate-html gate-reports/report.html
      - name: Upload the gate reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: gate-reports
          path: gate-reports/
          if-no-files-found: warn
"""


def promote_workflow(s: Scaffold) -> str:
    envs = s.path.envs
    jobs = "\n".join(_promote_job(s, i) for i in range(len(envs)))
    approvals = [step.env for step in s.path.steps if step.approval]
    about = (
        f"Promote one version of {s.model} along the promotion path {' -> '.join(envs)}: each "
        "job re-runs the gates against the registry and moves its environment's alias, in "
        "order, as far as the chosen target, in the GitHub environment of its name. "
        + (
            f"{', '.join(approvals)} require{'s' if len(approvals) == 1 else ''} an approval: "
            "give that GitHub environment required reviewers, so its job waits for them."
            if approvals
            else "Give a GitHub environment required reviewers to make its job wait for them."
        )
    )
    header = textwrap.fill(about, width=94, initial_indent="# ", subsequent_indent="# ")
    return f"""\
{header}
name: promote

on:
  workflow_dispatch:
    inputs:
      version:
        description: exact registry version to promote
        type: string
        required: true
      target:
        description: how far along the path to promote
        type: choice
        options: [{", ".join(envs)}]
        default: {envs[0]}

permissions:
  contents: read

concurrency:
  group: promote-{s.model}
  cancel-in-progress: false

env:
  MLFLOW_TRACKING_URI: ${{{{ secrets.MLFLOW_TRACKING_URI }}}}
  MLFLOW_TRACKING_USERNAME: ${{{{ secrets.MLFLOW_TRACKING_USERNAME }}}}
  MLFLOW_TRACKING_PASSWORD: ${{{{ secrets.MLFLOW_TRACKING_PASSWORD }}}}
  VERSION: ${{{{ inputs.version }}}}

jobs:
{jobs}"""


def _promote_job(s: Scaffold, index: int) -> str:
    """The job of the path's ``index``-th environment: it runs when the target is this
    environment or one after it, after the job before it, in the GitHub environment of the
    same name (where reviewers and secrets are set); an approval step records who approved."""
    step = s.path.steps[index]
    onward = json.dumps(list(s.path.envs[index:]))
    needs = f"\n    needs: {s.path.envs[index - 1]}" if index else ""
    named = [*step.variables, *(step.guard.variables if step.guard else [])]
    variables = [
        f"\n      {name}: ${{{{ secrets.{name} }}}}" for name in dict.fromkeys(named)
    ]  # the registry the step lives in and its guard's endpoints, from the environment's secrets
    if step.approval:
        variables.append(
            f"\n      MODELGATE_APPROVAL: reviewers of the {step.env} environment "
            "(run ${{ github.run_id }}, started by ${{ github.triggering_actor }})"
        )
    approval = "\n    env:" + "".join(variables) if variables else ""
    return f"""\
  {step.env}:
    name: gate and promote to {step.env}{needs}
    if: contains(fromJSON('{onward}'), inputs.target)
    runs-on: ubuntu-latest
    timeout-minutes: 30
    environment: {step.env}{approval}
    steps:
{_promote_steps(s, step.env)}{_guard_step(s, step.env) if step.guard else ""}"""


PATH_TEMPLATE = """\
# The promotion path: the environments a version walks through, in order. Each is a registry
# alias of the model; `pytest gates/ --promote ENV` and every `modelgate` command follow it.
# Per step: requires (gates that must have passed), after (default: the step before; it must
# hold the version with verified evidence), soak (how long it must have held that one: 30m,
# 12h, 1d), approval (true: --approved-by WHO or MODELGATE_APPROVAL must say who), and where
# it lives: model (a registered model), tracking_uri (a registry; ${VAR} is read from the
# environment) and alias (default: the environment's name).
# A step's guard (modelgate guard ENV) watches it live once its alias has moved, and the next
# step then needs the guard's confirmation of the version.
path:
  - env: staging
    # guard: {url: "${STAGING_URL}", interval: 30s, looks: 20, latency: {p99: 250ms}}
  - env: production
    # soak: 1d
    # approval: true
    # requires: [accuracy, schema, latency]
"""


def _promote_steps(s: Scaffold, env: str) -> str:
    return f"""\
{_SETUP}      - name: Re-run the gates and promote to {env}
        run: python -m pytest gates/ --model-name {s.model} --model-version "$VERSION" --promote {env} --gate-report gate-reports/{env}.json
      - name: Upload the gate report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: promotion-{env}
          path: gate-reports/
          if-no-files-found: warn
"""


def _guard_step(s: Scaffold, env: str) -> str:
    """The environment's live guard, once the alias has moved: it confirms the version (the
    next job's promotion needs that) or rolls it back, and fails the job unless it confirmed."""
    return f"""\
      - name: Guard {env} under live traffic (confirm, or roll back)
        run: modelgate guard {env} --model-name {s.model}
"""


def files(s: Scaffold) -> dict[str, str]:
    """Relative path -> text of every file ``init`` writes."""
    out = {
        f"gates/{s.model}.yaml": suite(s),
        ".github/workflows/model-gates.yml": gates_workflow(s),
        ".github/workflows/model-promote.yml": promote_workflow(s),
    }
    if s.write_path:
        out[PATH_FILE] = PATH_TEMPLATE
    if s.load:
        out[f"gates/load/{s.model}-load.yaml"] = load_suite(s)
        out["locustfile.py"] = LOCUSTFILE
    return out
