"""The service's request path in process: the three body forms parsed into one array each, and
the input contract (MLflow signature types, pandera checks) checked a whole column at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pandera.pandas as pa
import pytest
from mlflow.models import infer_signature

from pytest_modelgate.reference.datasets import load
from pytest_modelgate.reference.models import CREDIT_CATEGORICAL, CREDIT_NUMERIC
from pytest_modelgate.reference.schemas import CreditInput, IrisInput
from pytest_modelgate.serving.bodies import Shape
from pytest_modelgate.serving.columns import Contract, contract_of
from pytest_modelgate.serving.refusals import InvalidBody, Refusal, TooLarge

IRIS = load("iris", "eval").drop(columns=["species"])
CREDIT = load("german-credit", "eval")[CREDIT_CATEGORICAL + CREDIT_NUMERIC]


def contract(frame: pd.DataFrame, schema: Any) -> Contract:
    found = contract_of(infer_signature(frame), schema)
    assert found is not None
    return found


def check(contract: Contract, body: Any, max_rows: int = 1000) -> np.ndarray:
    parsed = Shape(contract.names, contract.required, max_rows).parse(orjson.dumps(body))
    return contract.validate(parsed.columns, parsed.rows, parsed.locate)  # type: ignore[no-any-return]


def forms(frame: pd.DataFrame) -> dict[str, Any]:
    records = frame.to_dict(orient="records")
    return {
        "rows": {"rows": records},
        "dataframe_split": {
            "dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}
        },
        "columns": {"columns": frame.to_dict(orient="list")},
    }


def refusal(contract: Contract, body: Any, max_rows: int = 1000) -> Refusal:
    with pytest.raises(Refusal) as caught:
        check(contract, body, max_rows)
    return caught.value


@pytest.mark.parametrize(
    ("frame", "schema"), [(IRIS, IrisInput.to_schema()), (CREDIT, CreditInput.to_schema())]
)
def test_each_body_form_gives_the_frame_it_was_made_from(frame, schema):
    iris = contract(frame, schema)
    for form, body in forms(frame).items():
        rebuilt = iris.frame(check(iris, body))
        pd.testing.assert_frame_equal(rebuilt, frame.reset_index(drop=True), obj=form)


def test_a_failing_value_is_named_by_row_column_check_and_value_in_every_form():
    iris = contract(IRIS, IrisInput.to_schema())
    bad = IRIS.head(3).copy()
    bad.loc[bad.index[2], "sepal_width"] = -3.5
    for form, body in forms(bad).items():
        found = refusal(iris, body)
        assert isinstance(found, InvalidBody)
        assert found.error_code == 400
        case = found.detail[0]
        assert (case["row"], case["column"], case["check"], case["value"]) == (
            2,
            "sepal_width",
            "greater_than(0)",
            -3.5,
        ), form
        assert "row 2: column sepal_width failed greater_than(0) (value -3.5)" in found.message
    assert refusal(iris, forms(bad)["rows"]).detail[0]["loc"] == ["rows", 2, "sepal_width"]
    assert refusal(iris, forms(bad)["columns"]).detail[0]["loc"] == ["columns", "sepal_width", 2]


def test_values_of_the_wrong_type_are_refused_with_pydantics_error_names():
    credit = contract(CREDIT, CreditInput.to_schema())
    row = CREDIT.head(1).to_dict(orient="records")[0]
    found = refusal(credit, {"rows": [dict(row, age="old", sex=1, job=True)]})
    by_column = {c["column"]: c["type"] for c in found.detail}
    assert by_column == {"age": "int_type", "sex": "string_type", "job": "int_type"}
    assert set(found.reasons) == {"int_type", "string_type"}


def test_integral_floats_count_as_integers_as_json_schema_says():
    credit = contract(CREDIT, CreditInput.to_schema())
    row = CREDIT.head(1).to_dict(orient="records")[0]
    batch = check(credit, {"rows": [dict(row, age=40.0)]})
    assert batch["age"].tolist() == [40]
    found = refusal(credit, {"rows": [dict(row, age=40.5)]})
    assert found.detail[0]["type"] == "int_type"


def test_integers_past_64_bits_are_read_and_refused_by_the_bound():
    credit = contract(CREDIT, CreditInput.to_schema())
    row = CREDIT.head(1).to_dict(orient="records")[0]
    raw = orjson.dumps({"rows": [row]}).replace(
        f'"credit_amount":{row["credit_amount"]}'.encode(), b'"credit_amount":' + b"9" * 30
    )
    parsed = Shape(credit.names, credit.required, 10).parse(raw)
    with pytest.raises(InvalidBody) as caught:
        credit.validate(parsed.columns, parsed.rows, parsed.locate)
    assert caught.value.detail[0]["column"] == "credit_amount"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"rows": [{"sepal_length": 1.0}]}, "row 0: missing column sepal_width"),
        ({"rows": [dict.fromkeys(IRIS.columns, 1.0) | {"x": 1}]}, "unknown column x"),
        ({"columns": {"sepal_length": [1.0], "sepal_width": [1.0, 2.0]}}, "missing column"),
        (
            {"columns": {c: [1.0] for c in IRIS.columns} | {"petal_width": [1.0, 2.0]}},
            "columns must all have the same length",
        ),
        (
            {"dataframe_split": {"columns": list(IRIS.columns)[::-1], "data": []}},
            "dataframe_split.columns must list the model's columns in this order",
        ),
        ({"dataframe_split": {"columns": list(IRIS.columns), "data": [[1.0]]}}, "row 0 of"),
        ({"rows": [], "columns": {}}, "exactly one of rows, dataframe_split, columns"),
        ([1, 2], "exactly one of rows, dataframe_split, columns"),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_saying_what_is_wrong(body, expected):
    found = refusal(contract(IRIS, IrisInput.to_schema()), body)
    assert found.error_code == 400
    assert expected in found.message


def test_more_rows_than_the_limit_is_413_in_every_form():
    iris = contract(IRIS, IrisInput.to_schema())
    for form, body in forms(IRIS.head(11)).items():
        found = refusal(iris, body, max_rows=10)
        assert isinstance(found, TooLarge), form
        assert "11 rows" in found.message
        assert "MODELGATE_MAX_ROWS" in found.message


def test_invalid_json_is_400():
    iris = contract(IRIS, IrisInput.to_schema())
    with pytest.raises(InvalidBody, match="not valid JSON"):
        Shape(iris.names, iris.required, 10).parse(b'{"rows": [')


def test_checks_the_contract_cannot_vectorise_go_to_pandera():
    schema = pa.DataFrameSchema(
        {"a": pa.Column(float, pa.Check(lambda s: s < 10, name="below_ten"))}
    )
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    custom = contract(frame, schema)
    assert custom.authority is schema
    assert check(custom, {"columns": {"a": [1.0, 9.0]}}).ravel().tolist() == [1.0, 9.0]
    found = refusal(custom, {"columns": {"a": [1.0, 12.0]}})
    assert (found.detail[0]["row"], found.detail[0]["check"]) == (1, "below_ten")


def test_optional_columns_may_be_left_out_or_null():
    frame = pd.DataFrame({"a": [1.0, None], "b": ["x", "y"]})
    optional = contract(frame, None)
    assert [c.required for c in optional.columns] == [False, True]
    batch = check(optional, {"rows": [{"b": "x"}, {"a": 2.0, "b": "y"}]})
    assert np.isnan(batch["a"][0])
    assert batch["a"][1] == 2.0


def test_the_json_schema_of_a_column_states_its_type_and_checks():
    credit = contract(CREDIT, CreditInput.to_schema())
    by_name = {c.name: c.json_schema() for c in credit.columns}
    assert by_name["age"] == {"type": "integer", "minimum": 18, "maximum": 120}
    assert by_name["credit_amount"] == {
        "type": "integer",
        "maximum": 2**63 - 1,
        "exclusiveMinimum": 0,
    }
    assert by_name["sex"] == {"type": "string", "enum": ["female", "male"]}


def test_a_refusal_counts_the_rows_it_names_not_their_problems():
    credit = contract(CREDIT, CreditInput.to_schema())
    good = CREDIT.head(2).to_dict(orient="records")
    found = refusal(credit, {"rows": [{"age": 30}, *good]})  # one row missing most columns
    assert found.message.startswith("1 of 3 row(s) do not have the model's columns: ")
    assert "row 0: missing column" in found.message
