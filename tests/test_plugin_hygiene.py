"""What pytest users expect of any plugin: it loads without pytest-xdist, turns off with
``-p no:modelgate``, keeps working under pytest's common flags, and never fails a run it was
not asked to gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite

SUITE = """
model: m
data: {path: eval.csv}
target: y
gates:
  accuracy:
    resamples: 200
    metrics:
      accuracy: {min: 0.7}
  schema:
    columns: {a: float64}
"""
PASSED = "*verdict: every required gate ran and passed*"


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, empty_registry_db: Path) -> list[str]:
    """One registered model for the module (registering costs seconds): the arguments that
    gate it."""
    scratch = ScratchRegistry(tmp_path_factory.mktemp("registry"))
    shutil.copyfile(empty_registry_db, scratch.root / "registry.db")
    model, X = copy_column_model("a")
    return scratch.args("m", scratch.register(model, "m", X))


@pytest.fixture
def gated(pytester: pytest.Pytester, registered: list[str]) -> list[str]:
    """The suite and its data in the pytester directory."""
    eval_frame(200, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE)
    return registered


def test_a_gate_run_with_pytest_xdist_disabled_gates_the_model(
    pytester: pytest.Pytester, gated: list[str]
) -> None:
    result = pytester.runpytest(*gated, "-p", "no:xdist")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([PASSED])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


@pytest.mark.parametrize(
    "flags",
    [
        ["--import-mode=importlib"],
        ["-p", "no:cacheprovider"],
        ["-q"],
        ["-v"],
        ["--strict-config", "--strict-markers"],
    ],
    ids=["importlib", "no-cacheprovider", "quiet", "verbose", "strict"],
)
def test_a_gate_run_works_under_pytests_common_flags(
    pytester: pytest.Pytester, gated: list[str], flags: list[str]
) -> None:
    result = pytester.runpytest(*gated, *flags)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([PASSED])


def test_a_gate_run_passes_with_warnings_as_errors_in_a_fresh_process(
    pytester: pytest.Pytester, gated: list[str]
) -> None:
    """A fresh process imports MLflow's pyfunc inside the first gate item: the libraries'
    chatter about themselves must not fail it."""
    result = pytester.runpytest_subprocess(*gated, "-W", "error", "-p", "no:locust")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([PASSED])


def test_collect_only_lists_the_gates_and_neither_passes_nor_promotes(
    pytester: pytest.Pytester, gated: list[str]
) -> None:
    result = pytester.runpytest(*gated, "--co", "--promote", "staging")
    result.stdout.fnmatch_lines(["*accuracy[[]accuracy[]]*", "*schema*"])
    result.stdout.no_fnmatch_line(PASSED)
    result.stdout.no_fnmatch_line("*promoted m*")
    assert result.ret != pytest.ExitCode.OK


def test_p_no_modelgate_turns_the_plugin_off(pytester: pytest.Pytester, gated: list[str]) -> None:
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    off = pytester.runpytest("-p", "no:modelgate")
    off.assert_outcomes(passed=1)  # the suite file is not collected
    helped = pytester.runpytest("-p", "no:modelgate", "--help")
    helped.stdout.no_fnmatch_line("*--model-name*")
    refused = pytester.runpytest("-p", "no:modelgate", *gated)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*unrecognized arguments: --model-name*"])


@pytest.mark.parametrize("flags", [[], ["-W", "error", "--strict-config"], ["-p", "no:xdist"]])
def test_a_run_that_names_no_model_passes_even_beside_a_suite(
    pytester: pytest.Pytester, flags: list[str]
) -> None:
    write_suite(pytester.path, SUITE)
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest(*flags)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*model gates*")
