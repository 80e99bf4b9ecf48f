"""The schema gate against real registered models and pandera schemas."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

# imported once here: pytester's in-process runs would re-register pandera's accessor
import pandera.pandas  # noqa: F401
import pytest

from pytest_modelgate.gates.schema.spec import EXTRA_COLUMN

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite

SUITE = """
model: m
data: {{path: eval.csv}}
target: y
gates:
  schema:
{section}
"""

INLINE = """\
    columns:
      a: {dtype: float64, checks: {in_range: {min_value: 0, max_value: 1}}}
"""

MODULE = """
import pandera.pandas as pa
from pandera.typing import Series


class Input(pa.DataFrameModel):
    a: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1})

    class Config:
        strict = True
"""


def _project(
    pytester: pytest.Pytester,
    registry: ScratchRegistry,
    section: str,
    frame: pd.DataFrame | None = None,
) -> int:
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    data = eval_frame(60, {"a": 0.1}) if frame is None else frame
    data.to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, SUITE.format(section=section))
    return version


def test_model_matching_an_inline_schema_passes_every_schema_item(pytester, registry):
    version = _project(pytester, registry, INLINE)
    result = pytester.runpytest(*registry.args("m", version), "--gate-report", "report.json")
    result.assert_outcomes(passed=4)
    report = json.loads((pytester.path / "report.json").read_text())
    probes = next(i for i in report["items"] if i["nodeid"].endswith("[malformed-input]"))
    refused = {p["probe"]: p["refused_by"] for p in probes["result"]["details"]["probes"]}
    probe_names = ("missing_column", "extra_column", "wrong_type", "null")
    assert refused == dict.fromkeys(probe_names, "schema")


def test_schema_named_by_import_path_is_the_one_checked(pytester, registry):
    pytester.makepyfile(input_schemas=MODULE)
    pytester.syspathinsert()
    version = _project(pytester, registry, "    schema: input_schemas:Input\n")
    result = pytester.runpytest(*registry.args("m", version), "-rP")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*signature and schema input_schemas:Input agree on 1 columns*"])


def test_signature_disagreeing_with_the_schema_fails_naming_columns_and_types(pytester, registry):
    section = "    columns:\n      a: int64\n      b: float64\n"
    version = _project(pytester, registry, section)
    result = pytester.runpytest(*registry.args("m", version), "-k", "signature")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: schema[[]signature[]]*",
            "*columns in the schema but not the signature: b; "
            "column 'a' is long in the schema but double in the signature*",
        ]
    )


def test_eval_data_breaking_the_schema_is_summarised_by_column_and_check(pytester, registry):
    frame = eval_frame(60, {"a": 0.1})
    frame.loc[[3, 7], "a"] = 5.0
    frame.loc[11, "a"] = np.nan
    version = _project(pytester, registry, INLINE, frame)
    result = pytester.runpytest(*registry.args("m", version), "-k", "eval-data")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "*3 failures in 60 rows (a: in_range(0, 1) x2; a: not_nullable x1)*",
            "*first failure cases:*",
            "*row 3: column a, check in_range(0, 1), value 5.0*",
        ]
    )


def test_labels_outside_the_declared_set_fail_the_output_item(pytester, registry):
    version = _project(pytester, registry, INLINE + "    labels: [0]\n")
    result = pytester.runpytest(*registry.args("m", version), "-k", "output")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(["*labels outside the declared set {0}: [[]1[]]*"])


def test_loose_schema_that_lets_an_extra_column_through_fails_malformed_input(pytester, registry):
    section = INLINE + "    strict: false\n"
    version = _project(pytester, registry, section)
    result = pytester.runpytest(*registry.args("m", version), "-k", "malformed")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "*1 of 4 malformed requests were not refused*",
            f"*extra_column (column '{EXTRA_COLUMN}'): answered 5 predictions instead of "
            "refusing; make the schema strict*",
        ]
    )


def test_unimportable_schema_is_a_collection_error_with_file_and_line(pytester, registry):
    version = _project(pytester, registry, "    schema: no_such_module:Input\n")
    result = pytester.runpytest(*registry.args("m", version))
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*suite.yaml:6: gates.schema.schema: cannot import 'no_such_module'*"]
    )


@pytest.mark.parametrize("dtype", [str, "str", "string", "string[python]", "string[pyarrow]"])
def test_a_string_column_is_an_mlflow_string_under_either_pandas_string_dtype(dtype):
    import pandera.pandas as pa

    from pytest_modelgate.candidate.input_schema import mlflow_type

    assert mlflow_type(pa.Column(dtype, name="c")) == "string"
