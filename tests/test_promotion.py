"""Promotion is fail-closed: only a run whose every required gate ran and passed moves an alias,
the move is a compare-and-set, and production takes only what staging holds with evidence."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.errors import PromotionError
from pytest_modelgate.plugin.promotion import NOT_PROMOTED
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.evidence import tag, verify_evidence
from pytest_modelgate.promotion.moves import PromotionRequest, promote
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry

from .conftest import ScratchRegistry, copy_column_model, places

REPO = Path(__file__).resolve().parents[1]
BENTOFILE = REPO / "bentofile.yaml"

GATES = """
import pytest

@pytest.mark.gate("first")
def test_first_gate():
    {first}

@pytest.mark.gate("second")
def test_second_gate():
    pass
"""


def _model(registry: ScratchRegistry, versions: int = 1) -> list[int]:
    model, X = copy_column_model("a")
    return [registry.register(model, "m", X) for _ in range(versions)]


def _client(registry: ScratchRegistry) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(registry.uri, registry.uri)


def _gates(pytester: pytest.Pytester, first: str = "pass") -> None:
    pytester.makepyfile(test_gates=GATES.format(first=first))


def _refused(result: pytest.RunResult, env: str, why: str) -> None:
    result.stdout.fnmatch_lines(
        [f"*{NOT_PROMOTED.format(env=env)}: {why}*", f"*alias '{env}' was left as it was*"]
    )
    assert result.ret != pytest.ExitCode.OK


@pytest.mark.parametrize(
    ("first", "outcome"),
    [
        ("pytest.skip('no data today')", "skipped"),
        ("assert False, 'too slow'", "failed"),
        ("pytest.xfail('known issue')", "xfailed"),
    ],
)
def test_a_gate_that_did_not_pass_blocks_promotion(pytester, registry, first, outcome):
    (version,) = _model(registry)
    _gates(pytester, first)
    result = pytester.runpytest(*registry.args("m", version), "--promote", "staging")
    _refused(result, "staging", "not every required gate ran and passed:")
    result.stdout.fnmatch_lines([f"*required gate test_gates.py::test_first_gate {outcome}*"])
    assert PromotionRegistry.of(_client(registry)).pinned("m", "staging") is None


def test_an_interrupted_run_does_not_promote(pytester, registry):
    (version,) = _model(registry)
    _gates(pytester, "raise KeyboardInterrupt")
    # in a child process: an in-process run hands the interrupt on to this test
    result = pytester.runpytest_subprocess(*registry.args("m", version), "--promote", "staging")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    _refused(result, "staging", "not every required gate ran and passed:")
    result.stdout.fnmatch_lines(["*the run was interrupted*"])
    assert PromotionRegistry.of(_client(registry)).pinned("m", "staging") is None


def test_gates_deselected_with_k_block_promotion_even_though_the_rest_passed(pytester, registry):
    (version,) = _model(registry)
    _gates(pytester)
    result = pytester.runpytest(
        *registry.args("m", version), "--promote", "staging", "-k", "second"
    )
    result.assert_outcomes(passed=1, deselected=1)
    _refused(result, "staging", "not every required gate ran and passed:")
    result.stdout.fnmatch_lines(["*required gate test_gates.py::test_first_gate deselected*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert PromotionRegistry.of(_client(registry)).pinned("m", "staging") is None


def test_an_alias_moved_during_the_run_refuses_the_promotion(pytester, registry):
    first, second = _model(registry, versions=2)
    mover = f"mlflow.MlflowClient({registry.uri!r}, {registry.uri!r}).set_registered_model_alias("
    _gates(pytester, f"import mlflow; {mover}'m', 'staging', '{first}')")
    result = pytester.runpytest(*registry.args("m", second), "--promote", "staging")
    result.assert_outcomes(passed=2)
    _refused(
        result,
        "staging",
        f"alias 'staging' of m moved since the run began (nothing then, v{first} now)*",
    )
    client = _client(registry)
    assert PromotionRegistry.of(client).pinned("m", "staging") == first
    assert tag("staging", "verdict") not in client.get_model_version("m", str(second)).tags


def test_production_refuses_a_version_that_does_not_hold_staging(pytester, registry):
    (version,) = _model(registry)
    _gates(pytester)
    result = pytester.runpytest(*registry.args("m", version), "--promote", "production")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*cannot promote m v{version} to production: staging pins nothing, not v{version}*"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--promote", "qa"],
            "*cannot promote: unknown environment 'qa': the default path declares staging -> "
            "production*",
        ),
        (["--promote", "v2"], "*Invalid alias 'v2' from --promote*"),
        (
            ["--promote", "staging", "--promote-reason", "hotfix"],
            "*--promote-reason applies only to an environment that follows another in the path "
            "('staging' is first in staging -> production (the default path))*",
        ),
        (["--promote-reason", "hotfix"], "*--promote-reason was given without --promote ENV*"),
    ],
)
def test_promotion_options_are_validated(pytester, registry, args, message):
    (version,) = _model(registry)
    result = pytester.runpytest(*registry.args("m", version), *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_plugin_can_veto_a_promotion_and_observe_the_outcome(pytester, registry):
    (version,) = _model(registry)
    _gates(pytester)
    pytester.makeconftest(
        """
        def pytest_modelgate_promotion_veto(config, request):
            return f"change freeze for {request.env}"

        def pytest_modelgate_promotion(config, request, result, error):
            print(f"observed: result={result} error={error}")
        """
    )
    result = pytester.runpytest(*registry.args("m", version), "--promote", "staging", "-s")
    _refused(result, "staging", "vetoed: change freeze for staging")
    result.stdout.fnmatch_lines(["*observed: result=None error=vetoed: change freeze*"])


@pytest.mark.slow
def test_a_failed_bento_build_changes_nothing(pytester, registry, bentoml_home):
    (version,) = _model(registry)
    _gates(pytester)
    broken = pytester.path / "bentofile.yaml"
    broken.write_text('service: "nowhere:Missing"\n', encoding="utf-8")
    result = pytester.runpytest(*registry.args("m", version), "--promote", "staging")
    _refused(result, "staging", "bento build failed, nothing was changed*")
    client = _client(registry)
    assert PromotionRegistry.of(client).pinned("m", "staging") is None
    assert not any(k.startswith("modelgate.") for k in client.get_model_version("m", "1").tags)


def test_an_alias_moved_during_the_build_undoes_the_evidence(registry, tmp_path):
    first, second = _model(registry, versions=2)
    client = _client(registry)
    report = {"model": {"name": "m", "version": second}, "promotable": True, "data": {}}
    request = PromotionRequest(
        name="m",
        version=second,
        run_id=client.get_model_version("m", str(second)).run_id,
        env="staging",
        report=report,
        expected=None,
        bentofile=BENTOFILE,
        tracking_uri=registry.uri,
        code_root=tmp_path,
    )

    def build_while_someone_moves_the_alias(_: PromotionRequest) -> str:
        client.set_registered_model_alias("m", "staging", str(first))
        return "modelgate-m:test"

    with pytest.raises(PromotionError, match="moved since the run began"):
        promote(places(client), request, build=build_while_someone_moves_the_alias)
    assert PromotionRegistry.of(client).pinned("m", "staging") == first
    # the undone evidence is blank (deleting a version's tags would need MANAGE on the model)
    tags = client.get_model_version("m", "2").tags
    assert not any(v for k, v in tags.items() if k.startswith("modelgate."))


@pytest.mark.slow
def test_a_passing_run_promotes_to_staging_then_production_with_evidence(
    pytester, registry, bentoml_home
):
    (version,) = _model(registry)
    _gates(pytester)
    args = [*registry.args("m", version), "--bentofile", str(BENTOFILE)]
    staged = pytester.runpytest(*args, "--promote", "staging")
    staged.stdout.fnmatch_lines(
        [
            f"*promoted m v{version} to staging (alias 'staging' was nothing)*",
            "*bento modelgate-m:v1-*",
            "*evidence sha256 * in modelgate/gate-report-staging-*.json*",
        ]
    )
    assert staged.ret == pytest.ExitCode.OK
    released = pytester.runpytest(*args, "--promote", "production")
    assert released.ret == pytest.ExitCode.OK, released.stdout.str()
    client = _client(registry)
    assert PromotionRegistry.of(client).pinned("m", "staging") == version
    assert PromotionRegistry.of(client).pinned("m", "production") == version
    evidence = verify_evidence(PromotionRegistry.of(client), "m", version, "production")
    assert evidence.fields["plugin_version"]
    assert evidence.fields["bento"].startswith("modelgate-m:v1-")
    assert [e.version for e in ledger.events(PromotionRegistry.of(client), "m", "production")] == [
        version
    ]


@pytest.mark.slow
def test_an_override_reason_lets_production_skip_staging_and_is_recorded(
    pytester, registry, bentoml_home
):
    (version,) = _model(registry)
    _gates(pytester)
    result = pytester.runpytest(
        *registry.args("m", version),
        "--bentofile",
        str(BENTOFILE),
        "--promote",
        "production",
        "--promote-reason",
        "incident 42: staging is down",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*override reason: incident 42: staging is down*"])
    tags = _client(registry).get_model_version("m", str(version)).tags
    assert tags[tag("production", "override_reason")] == "incident 42: staging is down"
    assert tag("staging", "verdict") not in tags


def _cli(*args: str) -> int:
    from pytest_modelgate.cli.main import main

    return main(list(args))


@pytest.mark.slow
def test_the_cli_promotes_a_version_whose_report_passed_and_status_shows_it(
    pytester, registry, bentoml_home, capsys
):
    (version,) = _model(registry)
    _gates(pytester)
    pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    report = str(pytester.path / "report.json")
    uri = ("--tracking-uri", registry.uri)
    assert _cli("promote", "m", str(version), "staging", "--report", report, *uri,
                "--bentofile", str(BENTOFILE)) == 0  # fmt: skip
    assert _cli("status", "m", *uri) == 0
    out = capsys.readouterr().out
    assert f"promoted m v{version} to staging" in out
    assert f"staging: v{version} since " in out
    assert "evidence verified" in out
    assert "production: not set" in out


def test_the_cli_refuses_a_report_that_did_not_pass(pytester, registry, capsys):
    (version,) = _model(registry)
    _gates(pytester, "assert False")
    pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    report = str(pytester.path / "report.json")
    code = _cli("promote", "m", str(version), "staging", "--report", report,
                "--tracking-uri", registry.uri)  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "NOT promoted to staging: the gate report does not allow promotion" in err
    assert "test_first_gate failed" in err
    assert PromotionRegistry.of(_client(registry)).pinned("m", "staging") is None


def test_rollback_without_a_previous_version_is_refused(registry, capsys):
    (version,) = _model(registry)
    registry.set_alias("m", "staging", version)
    code = _cli("rollback", "staging", "--model-name", "m", "--tracking-uri", registry.uri)
    assert code == 1
    assert f"m v{version} was the first version staging pinned" in capsys.readouterr().err


def test_the_bento_takes_the_input_schema_the_suite_checked():
    from pytest_modelgate.bento.build import suite_input_schema

    report = {"data": {str(REPO / "gates" / "iris.yaml"): {"sha256": "0" * 64}}}
    assert suite_input_schema(report["data"]) == "pytest_modelgate.reference.schemas:IrisInput"
    assert suite_input_schema({}) is None
