"""A declared promotion path of four environments: a version walks it step by step; skipping
a step, a required gate that did not run, a missing approval and an unmet soak time are each
refused naming the rule; one version holds every environment at once; each rolls back."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.plugin.promotion import NOT_PROMOTED
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry

from .conftest import ScratchRegistry, cli, copy_column_model

ENVS = ("dev", "uat", "staging", "production")
PATH = """\
path:
  - env: dev
    requires: [first]
  - env: uat
    requires: [first, second]
  - env: staging
  - env: production
    soak: {soak}
    approval: true
"""
GATE = """
@pytest.mark.gate("{name}")
def test_{name}_gate():
    pass
"""


def gates(pytester: pytest.Pytester, *names: str) -> None:
    body = "".join(GATE.format(name=name) for name in names)
    pytester.makepyfile(test_gates="import pytest\n" + body)


@pytest.mark.slow
def test_a_version_walks_a_four_environment_path_and_each_rule_refuses_by_name(
    pytester: pytest.Pytester,
    registry: ScratchRegistry,
    bentoml_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELGATE_APPROVAL", raising=False)
    model, X = copy_column_model("a")
    v1, v2 = (registry.register(model, "m", X) for _ in range(2))
    path_file = pytester.path / "modelgate.yaml"
    path_file.write_text(PATH.format(soak="1h"), encoding="utf-8")
    gates(pytester, "first", "second")
    client = mlflow.MlflowClient(registry.uri, registry.uri)

    def promote(version: int, env: str, *extra: str) -> pytest.RunResult:
        # the package's own bentofile: a --bentofile outside this directory would move
        # pytest's rootdir, where the path file is looked up
        args = [*registry.args("m", version), "-p", "no:cacheprovider"]
        return pytester.runpytest(*args, "--promote", env, *extra)

    assert promote(v1, "dev").ret == pytest.ExitCode.OK
    skipped = promote(v1, "staging")
    assert skipped.ret == pytest.ExitCode.USAGE_ERROR
    skipped.stderr.fnmatch_lines(
        [
            f"*cannot promote m v{v1} to staging: uat pins nothing, not v{v1}. Promote it to uat "
            "first, or override with --promote-reason 'why'*"
        ]
    )
    gates(pytester, "first")  # the suite of this run lacks uat's second gate
    lacking = promote(v1, "uat")
    lacking.stdout.fnmatch_lines(
        [
            f"*{NOT_PROMOTED.format(env='uat')}: m v{v1} cannot go to uat: uat requires gates that "
            f"did not pass: gate 'second' did not run ({path_file}:4)*"
        ]
    )
    assert PromotionRegistry.of(client).pinned("m", "uat") is None
    gates(pytester, "first", "second")
    assert promote(v1, "uat").ret == pytest.ExitCode.OK
    assert promote(v1, "staging").ret == pytest.ExitCode.OK

    unapproved = promote(v1, "production")
    unapproved.stderr.fnmatch_lines(
        [
            f"*cannot promote m v{v1} to production: production requires an approval "
            f"({path_file}:7): pass --approved-by WHO or set MODELGATE_APPROVAL*"
        ]
    )
    early = promote(v1, "production", "--approved-by", "alice")
    early.stderr.fnmatch_lines(
        [
            f"*cannot promote m v{v1} to production: production requires v{v1} to have held "
            "staging for 1h; it has held it for *s (since *), so not before *"
        ]
    )
    path_file.write_text(PATH.format(soak="1s"), encoding="utf-8")
    time.sleep(1.1)
    released = promote(v1, "production", "--approved-by", "alice")
    assert released.ret == pytest.ExitCode.OK, released.stdout.str()
    # one version holds the four environments at once
    assert [PromotionRegistry.of(client).pinned("m", env) for env in ENVS] == [v1] * 4
    (event,) = [
        e for e in ledger.events(PromotionRegistry.of(client), "m", "production") if e.moved
    ]
    assert event.get("approval") == f"staging holds v{v1} with verified evidence; approved by alice"

    # a second version enters dev and uat; each rolls back to the first
    assert promote(v2, "dev").ret == pytest.ExitCode.OK
    assert promote(v2, "uat").ret == pytest.ExitCode.OK
    uri = ("--tracking-uri", registry.uri, "--root", str(pytester.path))
    for env in ("uat", "dev"):
        assert cli("rollback", env, "--model-name", "m", *uri) == 0
        assert PromotionRegistry.of(client).pinned("m", env) == v1
    assert cli("status", "m", *uri) == 0
    out = capsys.readouterr().out
    assert "promotion path dev -> uat -> staging -> production" in out
    assert f"production: v{v1} since " in out
    assert (
        "needs: after staging with verified evidence; soak 1s in staging; approval recorded" in out
    )
    assert cli("verify", "m", *uri) == 0
    assert cli("promote", "m", str(v2), "qa", "--report", "r.json", *uri) == 2
    assert "unknown environment 'qa': " in capsys.readouterr().err
