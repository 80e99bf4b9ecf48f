"""Settings resolution and the no-model no-op."""

from __future__ import annotations

import pytest

from pytest_modelgate.plugin.fixtures import NO_MODEL


def test_a_run_without_a_model_is_untouched_and_imports_nothing_heavy(pytester):
    pytester.makeconftest(
        """
        import sys

        HEAVY = ("mlflow", "pandas", "sklearn", "numpy", "bentoml", "pandera", "fairlearn")

        def pytest_collection_finish(session):
            loaded = [m for m in HEAVY if m in sys.modules]
            assert not loaded, f"imported at start-up: {loaded}"
        """
    )
    pytester.makepyfile(test_plain="def test_ok():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:typeguard")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*model gates*")
    result.stdout.no_fnmatch_line("*modelgate:*")


def test_custom_gates_skip_with_a_reason_when_no_model_is_named(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("custom")
        def test_custom(candidate):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*{NO_MODEL[:40]}*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-version", "3"], "*--model-version was given without a model: add --model-name*"),
        (["--model-name", "m"], "*needs --model-version N or --model-alias ALIAS*"),
        (
            ["--model-name", "m", "--model-version", "abc"],
            "*Invalid model version 'abc' from --model-version*",
        ),
        (
            ["--model-name", "m", "--model-version", "0"],
            "*Invalid model version '0' from --model-version*",
        ),
        (
            ["--model-name", "m", "--model-version", "1", "--model-alias", "staging"],
            "*Both a version (--model-version) and an alias (--model-alias)*",
        ),
        (["--model-name", "m", "--model-alias", "v3"], "*Invalid alias 'v3' from --model-alias*"),
        (
            ["--model-name", "m", "--model-version", "1", "--tracking-uri", "ftp://x"],
            "*Invalid tracking URI 'ftp://x' from --tracking-uri*",
        ),
        (
            [
                "--model-name",
                "m",
                "--model-version",
                "1",
                "--tracking-uri",
                "sqlite:////no/such/dir/r.db",
            ],
            "*directory /no/such/dir does not exist*",
        ),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(pytester, args, message):
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_environment_variables_are_named_when_wrong(pytester, monkeypatch):
    monkeypatch.setenv("MODELGATE_MODEL_NAME", "m")
    monkeypatch.setenv("MODELGATE_MODEL_VERSION", "seven")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*Invalid model version 'seven' from environment variable MODELGATE_MODEL_VERSION*"]
    )


def test_a_bad_ini_value_is_reported_with_its_file_and_line(pytester):
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        addopts = "-q"
        modelgate_tracking_uri = "gopher://registry"
        """
    )
    result = pytester.runpytest("--model-name", "m", "--model-version", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*gopher://registry* from *pyproject.toml:3 (modelgate_tracking_uri)*"]
    )


def test_cli_beats_environment_beats_ini(pytester, monkeypatch, registry):
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        modelgate_tracking_uri = "http://127.0.0.1:9/ini"
        """
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    # the environment wins over the ini: the registry answers that it has no such model
    result = pytester.runpytest("--model-name", "absent", "--model-version", "1")
    result.stderr.fnmatch_lines(["*cannot gate: no registered model 'absent' in sqlite:///*"])
    # the command line wins over both
    result = pytester.runpytest(
        "--model-name", "absent", "--model-version", "1", "--tracking-uri", "http://127.0.0.1:9"
    )
    result.stderr.fnmatch_lines(["*cannot gate: registry http://127.0.0.1:9 could not answer*"])


def test_unknown_version_lists_the_versions_there_are(pytester, registry):
    from .conftest import copy_column_model

    model, X = copy_column_model("a")
    registry.register(model, "m", X)
    result = pytester.runpytest(*registry.args("m", 5))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*model 'm' has no version 5 in sqlite:*; versions: 1*"])


def test_unset_alias_lists_the_aliases_there_are(pytester, registry):
    from .conftest import copy_column_model

    model, X = copy_column_model("a")
    registry.register(model, "m", X)
    registry.set_alias("m", "staging", 1)
    result = pytester.runpytest(*registry.args("m", alias="production"))
    result.stderr.fnmatch_lines(
        ["*model 'm' has no alias 'production'*aliases set: staging -> v1*"]
    )


def test_naming_a_model_with_no_suite_fails_instead_of_passing_silently(pytester, registry):
    from .conftest import copy_column_model

    model, X = copy_column_model("a")
    registry.register(model, "m", X)
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest(*registry.args("m", 1))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*verdict: NOT promotable*", "*no gate ran for model 'm'*"])
