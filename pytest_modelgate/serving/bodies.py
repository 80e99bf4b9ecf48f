"""The three JSON bodies a prediction accepts, parsed with orjson into columns.

    {"rows": [{"a": 1.0, "b": "x"}, ...]}                              a list of records
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, "x"]]}}  MLflow's split form
    {"columns": {"a": [1.0, ...], "b": ["x", ...]}}                     one list per column

Each becomes one mapping of column name -> that column's values as parsed, with its number of
rows. This module checks the shape (which keys, which columns, how many rows, equal lengths);
the values are the contract's to check (``columns.py``). Rows become columns with
``zip(*...)`` in C; a column-oriented body needs no reshaping at all.

``dataframe_split.columns`` lists the model's columns in the signature's order: a row of
``data`` is positional, and the order is what the OpenAPI document can state exactly. Its
optional ``index`` (as pandas writes it) is ignored.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from pytest_modelgate.serving.refusals import InvalidBody, TooLarge

FORMS = ("rows", "dataframe_split", "columns")
SPLIT_KEYS = frozenset({"columns", "data", "index"})
DETAIL = 20  # shape problems listed in a refusal


@dataclass(frozen=True)
class Parsed:
    """One request's columns (name -> values, every column ``rows`` long), in ``form``."""

    form: str
    columns: Mapping[str, Sequence[Any]]
    rows: int
    names: Sequence[str] = ()

    def locate(self, row: int, column: str) -> list[Any]:
        """Where a value sits in the body, as a JSON path."""
        if self.form == "rows":
            return ["rows", row, column]
        if self.form == "dataframe_split":
            return ["dataframe_split", "data", row, list(self.names).index(column)]
        return ["columns", column, row]


@dataclass(frozen=True)
class Shape:
    """What a body must look like: the model's columns in order, those it needs, the row cap."""

    names: tuple[str, ...]
    required: frozenset[str]
    max_rows: int
    limit_setting: str = "MODELGATE_MAX_ROWS"

    def parse(self, raw: bytes) -> Parsed:
        body = load_json(raw)
        if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in FORMS:
            keys = list(body) if isinstance(body, dict) else type(body).__name__
            raise _invalid(
                f"expected a JSON object with exactly one of {', '.join(FORMS)}; got {keys}",
                [],
                "body_form",
            )
        form, value = next(iter(body.items()))
        parsed: Parsed = _PARSERS[form](self, value)
        return parsed

    def count(self, rows: int, where: str) -> None:
        if rows > self.max_rows:
            raise TooLarge(
                f"{rows} rows in {where} is more than the limit of {self.max_rows} "
                f"({self.limit_setting}): split the request",
                [{"loc": [where], "type": "too_many_rows", "rows": rows, "limit": self.max_rows}],
                reasons=["too_many_rows"],
            )

    def empty(self, form: str) -> Parsed:
        return Parsed(form, {name: [] for name in self.names}, 0, self.names)


def load_json(raw: bytes) -> Any:
    """The body as Python values. orjson refuses integers past 64 bits' range (JSON allows
    them), so a body it cannot read gets one more try with the standard library, which reads
    them and is told to refuse NaN and Infinity as orjson does."""
    try:
        return orjson.loads(raw or b"null")
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(raw, parse_constant=_no_constant)
        except (ValueError, TypeError):
            raise _invalid(f"the body is not valid JSON: {exc}", [], "json_invalid") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _invalid(message: str, loc: list[Any], kind: str, **extra: Any) -> InvalidBody:
    return InvalidBody(
        message, [{"loc": loc, "type": kind, "msg": message, **extra}], reasons=[kind]
    )


def _records(shape: Shape, rows: Any) -> Parsed:
    if type(rows) is not list:
        raise _invalid("rows must be a list of objects, one per row", ["rows"], "list_type")
    shape.count(len(rows), "rows")
    if not rows:
        return shape.empty("rows")
    if set(map(type, rows)) != {dict}:
        row = next(i for i, r in enumerate(rows) if type(r) is not dict)
        raise _invalid(f"row {row} is not an object", ["rows", row], "dict_type", row=row)
    names = shape.names
    if names and set(map(len, rows)) == {len(names)}:
        try:
            values = list(map(operator.itemgetter(*names), rows))
        except KeyError:
            pass  # a row swaps a column for another: named below
        else:
            columns = zip(*values, strict=True) if len(names) > 1 else [values]
            return Parsed("rows", dict(zip(names, columns, strict=True)), len(rows), names)
    return _records_by_column(shape, rows)


def _records_by_column(shape: Shape, rows: list[dict[str, Any]]) -> Parsed:
    """Rows whose keys are not exactly the model's columns: name the unknown and the missing
    ones, or (when only optional columns are left out) fill those with null."""
    problems: list[dict[str, Any]] = []
    known = set(shape.names)
    unknown = set().union(*rows) - known
    for i, row in enumerate(rows):
        if len(problems) >= DETAIL:
            break
        for key in sorted(unknown.intersection(row)):
            problems.append(_problem(i, key, "extra_forbidden", f"row {i}: unknown column {key}"))
        for key in sorted(shape.required.difference(row)):
            problems.append(_problem(i, key, "missing", f"row {i}: missing column {key}"))
    if problems:
        # rows, not problems: one row missing 29 columns is one row
        bad = sum(
            1 for row in rows if not unknown.isdisjoint(row) or not shape.required <= row.keys()
        )
        raise InvalidBody(
            f"{bad} of {len(rows)} row(s) do not have the model's columns: "
            + "; ".join(p["msg"] for p in problems[:5]),
            problems,
            reasons=[p["type"] for p in problems],
        )
    columns = {name: [row.get(name) for row in rows] for name in shape.names}
    return Parsed("rows", columns, len(rows), shape.names)


def _problem(row: int, column: str, kind: str, message: str) -> dict[str, Any]:
    return {
        "loc": ["rows", row, column],
        "row": row,
        "column": column,
        "type": kind,
        "msg": message,
    }


def _split(shape: Shape, split: Any) -> Parsed:
    where = ["dataframe_split"]
    if type(split) is not dict:
        raise _invalid(
            "dataframe_split must be an object with columns and data", where, "dict_type"
        )
    if not SPLIT_KEYS.issuperset(split) or not {"columns", "data"}.issubset(split):
        raise _invalid(
            f"dataframe_split takes columns, data and an optional index; got {sorted(split)}",
            where,
            "split_keys",
        )
    names = list(shape.names)
    if split["columns"] != names:
        raise _invalid(
            f"dataframe_split.columns must list the model's columns in this order: {names}",
            [*where, "columns"],
            "columns_order",
        )
    if "index" in split and type(split["index"]) is not list:
        raise _invalid("dataframe_split.index must be a list", [*where, "index"], "list_type")
    data = split["data"]
    if type(data) is not list:
        raise _invalid("dataframe_split.data must be a list of rows", [*where, "data"], "list_type")
    shape.count(len(data), "dataframe_split.data")
    if not data:
        return shape.empty("dataframe_split")
    if set(map(type, data)) != {list} or set(map(len, data)) != {len(names)}:
        row = next(i for i, r in enumerate(data) if type(r) is not list or len(r) != len(names))
        raise _invalid(
            f"row {row} of dataframe_split.data is not a list of {len(names)} values",
            [*where, "data", row],
            "row_length",
            row=row,
        )
    columns = zip(*data, strict=True)
    return Parsed("dataframe_split", dict(zip(names, columns, strict=True)), len(data), names)


def _columns(shape: Shape, columns: Any) -> Parsed:
    if type(columns) is not dict:
        raise _invalid(
            "columns must be an object: column name -> list of values", ["columns"], "dict_type"
        )
    problems = [
        {
            "loc": ["columns", k],
            "column": k,
            "type": "extra_forbidden",
            "msg": f"unknown column {k}",
        }
        for k in sorted(columns.keys() - set(shape.names))
    ] + [
        {"loc": ["columns", k], "column": k, "type": "missing", "msg": f"missing column {k}"}
        for k in sorted(shape.required - columns.keys())
    ]
    problems += [
        {
            "loc": ["columns", k],
            "column": k,
            "type": "list_type",
            "msg": f"column {k} is not a list",
        }
        for k, v in columns.items()
        if type(v) is not list and k in shape.names
    ]
    if problems:
        raise InvalidBody(
            "; ".join(p["msg"] for p in problems), problems, reasons=[p["type"] for p in problems]
        )
    lengths = {k: len(v) for k, v in columns.items()}
    rows = max(lengths.values(), default=0)
    shape.count(rows, "columns")
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} {n}" for k, n in lengths.items())
        raise _invalid(
            f"columns must all have the same length; got {shown}", ["columns"], "length_mismatch"
        )
    return Parsed("columns", columns, rows, shape.names)


_PARSERS: dict[str, Callable[[Shape, Any], Parsed]] = {
    "rows": _records,
    "dataframe_split": _split,
    "columns": _columns,
}
