"""The declared promotion path: read from modelgate.yaml or pyproject.toml, and every bad
declaration named by file and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_modelgate.errors import ConfigError
from pytest_modelgate.promotion.path import DEFAULT_PATH, load_path, missing_gates

FOUR = """
path:
  - env: dev
    requires: [accuracy]
  - env: uat
    requires: [accuracy, schema]
  - env: staging
  - env: production
    soak: 1d
    approval: true
    requires: [accuracy, schema, latency]
"""


def write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def test_no_file_means_staging_then_production(tmp_path: Path) -> None:
    path = load_path(tmp_path)
    assert path == DEFAULT_PATH
    assert path.envs == ("staging", "production")
    assert path.step("production").after == "staging"
    assert path.step("staging").after is None


def test_a_yaml_path_declares_any_environments_in_order_with_their_policies(
    tmp_path: Path,
) -> None:
    write(tmp_path, "modelgate.yaml", FOUR)
    path = load_path(tmp_path)
    assert path.envs == ("dev", "uat", "staging", "production")
    assert [s.after for s in path.steps] == [None, "dev", "uat", "staging"]
    production = path.step("production")
    assert (production.soak_s, production.approval) == (86400.0, True)
    assert production.requires == ("accuracy", "schema", "latency")
    assert production.where == f"{tmp_path / 'modelgate.yaml'}:7"


def test_pyproject_declares_the_path_under_tool_modelgate(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [tool.modelgate]
        path = [
          {env = "challenger"},
          {env = "champion", soak = "12h", approval = true},
        ]
        """,
    )
    path = load_path(tmp_path)
    assert path.envs == ("challenger", "champion")
    assert path.step("champion").soak_s == 12 * 3600
    assert path.step("champion").after == "challenger"


def test_a_pyproject_without_a_path_keeps_the_default(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.modelgate]\nother = 1\n")
    assert load_path(tmp_path) == DEFAULT_PATH


def test_an_unknown_environment_names_the_path(tmp_path: Path) -> None:
    write(tmp_path, "modelgate.yaml", FOUR)
    with pytest.raises(ConfigError, match=r"unknown environment 'prod': .* dev -> uat"):
        load_path(tmp_path).step("prod")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path: []\n", r"path: expected a list of environments"),
        (
            "path:\n  - env: dev\n  - env: dev\n",
            r":3: path\[1\]\.env: environment 'dev' appears twice",
        ),
        (
            "path:\n  - env: a\n  - env: b\n    after: c\n",
            r":4: path\[1\]\.after: 'c' is not an environment before 'b'.*cycle",
        ),
        ("path:\n  - env: a\n    after: a\n", r"'a' cannot come after itself"),
        (
            "path:\n  - env: a\n  - env: b\n  - env: c\n    after: a\n",
            r"path\[2\]\.after: 'c' after 'a' skips its predecessor 'b'",
        ),
        ("path:\n  - env: a\n    soak: 1d\n", r"a soak time needs an environment to soak in"),
        (
            "path:\n  - env: a\n  - env: b\n    soak: soon\n",
            r"path\[1\]\.soak: expected a duration",
        ),
        ("path:\n  - env: v3\n", r"'v3' cannot be a registry alias"),
        ("path:\n  - env: a\n    aproval: true\n", r"path\[0\]\.aproval: unknown key"),
        ("path:\n  - name: a\n", r"path\[0\]\.name: unknown key"),
        ("stages: []\n", r"stages: unknown key"),
        (
            "path:\n  - env: a\n    alias: v2\n",
            r"path\[0\]\.alias: 'v2' cannot be a registry alias",
        ),
        (
            "path:\n  - env: a\n  - env: b\n    alias: a\n",
            r"path\[1\]\.alias: 'b' and 'a' would share alias 'a' of one registered model",
        ),
    ],
)
def test_a_bad_path_is_an_error_naming_the_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    write(tmp_path, "modelgate.yaml", text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_path(tmp_path)
    assert str(tmp_path / "modelgate.yaml") in str(caught.value)


def test_required_gates_must_have_run_and_passed_in_the_report(tmp_path: Path) -> None:
    write(tmp_path, "modelgate.yaml", FOUR)
    step = load_path(tmp_path).step("production")
    report = {
        "items": [
            {"gate": "accuracy[accuracy]", "outcome": "passed"},
            {"gate": "schema[signature]", "outcome": "passed"},
            {"gate": "schema[output]", "outcome": "inconclusive"},
        ]
    }
    assert missing_gates(step, report) == [
        "gate 'schema' did not pass (schema[output]: inconclusive)",
        "gate 'latency' did not run",
    ]
    report["items"][2]["outcome"] = "passed"
    report["items"].append({"gate": "latency[batch-1]", "outcome": "passed"})
    assert missing_gates(step, report) == []


def test_a_step_may_live_in_another_model_registry_and_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path,
        "modelgate.yaml",
        """\
        path:
          - env: staging
          - env: production
            model: m-prod
            tracking_uri: ${PROD_MLFLOW}/
            alias: champion
        """,
    )
    path = load_path(tmp_path)  # the variable is read only when the environment is used
    production = path.step("production")
    assert (production.model, production.alias_name, production.variables) == (
        "m-prod",
        "champion",
        ["PROD_MLFLOW"],
    )
    assert path.aliases == {"staging": "staging", "production": "champion"}
    monkeypatch.delenv("PROD_MLFLOW", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"production's tracking_uri \(.*modelgate.yaml:3\) names PROD_MLFLOW, which is not set",
    ):
        production.registry_uri()
    monkeypatch.setenv("PROD_MLFLOW", "http://127.0.0.1:5001")
    assert production.registry_uri() == "http://127.0.0.1:5001/"
    assert "alias 'champion'" in production.rules()
