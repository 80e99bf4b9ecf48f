"""Evaluation data at an fsspec URL: read through fsspec, hashed from its bytes, and a URL
that cannot be read is a suite error naming it."""

from __future__ import annotations

import hashlib
import json

import fsspec
import pytest

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite

SUITE = """
model: m
data: {{path: "{url}"}}
target: y
gates:
  accuracy:
    resamples: 200
    metrics:
      accuracy: {{min: 0.7}}
"""


@pytest.fixture
def version(registry: ScratchRegistry) -> int:
    model, X = copy_column_model("a")
    return registry.register(model, "m", X)


def test_data_at_an_fsspec_url_is_gated_and_hashed_from_its_bytes(
    pytester: pytest.Pytester, registry: ScratchRegistry, version: int
) -> None:
    data = eval_frame(200, {"a": 0.1}).to_csv(index=False).encode()
    url = f"memory://modelgate-tests/{pytester.path.name}/eval.csv"
    with fsspec.open(url, "wb") as handle:
        handle.write(data)
    write_suite(pytester.path, SUITE.format(url=url))
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "r.json")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "r.json").read_text())
    (seen,) = report["data"].values()
    assert seen["source"] == url
    assert seen["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://modelgate-tests/none/eval.csv", "no such file: memory://modelgate-tests/none"),
        ("memory://modelgate-tests/eval.txt", "expected a .csv/.parquet/.pq file"),
        ("nosuchfs://bucket/eval.csv", "cannot open nosuchfs://bucket/eval.csv: "),
    ],
)
def test_a_url_that_cannot_be_read_is_a_suite_error_naming_it(
    pytester: pytest.Pytester, registry: ScratchRegistry, version: int, url: str, message: str
) -> None:
    write_suite(pytester.path, SUITE.format(url=url))
    result = pytester.runpytest(*registry.args("m", version))
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*suite.yaml:2: data.path: {message}*"])
