"""The model's input contract, checked a whole column at a time.

The contract joins the version's MLflow signature (each column's type, whether it is required)
and the schema gate's pandera schema (its built-in column checks). A request's columns are
checked whole: one C-level pass over a column for the Python types of its values
(``set(map(type, values))``), one numpy conversion, one numpy comparison per check; nothing is
built per row. The failures are named by row, column, check and value, as pandera names them.

The checks written here are pandera's built-in comparisons, ranges, allowed values and string
lengths. pandera runs a check on a pandas Series, and building a Series per column per request
costs more than the whole request's checks do here. Whatever else a schema says (custom or
frame-wide checks, uniqueness, regex column names) goes to pandera itself, on a frame of the
request, once these checks pass: pandera stays the authority for what is not written here.

A request becomes one numpy array: 2-D when every column has the same dtype (iris: four
floats), else a structured array with one field per column. Either concatenates and splits
along rows, which is what BentoML's adaptive batching does with it; the model then gets one
DataFrame per batch (``Contract.frame``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_modelgate.serving.refusals import InvalidBody

if TYPE_CHECKING:
    import pandas as pd

FIRST = 5  # failing values named in a refusal's message
DETAIL = 20  # failing values listed in its detail
CLIP = 80  # characters of a failing value shown
Locate = Callable[[int, str], list[Any]]  # (row, column) -> where the value sits in the body


@dataclass(frozen=True)
class Kind:
    """An MLflow column type: the numpy dtype it is held in, the Python types a JSON value of it
    may have once parsed, its JSON schema and its bounds."""

    name: str
    dtype: str
    accepts: frozenset[type]
    json: Mapping[str, Any]
    error: str  # error type, as pydantic names it, so the metric labels stay what they were
    low: float | int | None = None
    high: float | int | None = None


_F32 = float(np.finfo(np.float32).max)
_F64 = float(np.finfo(np.float64).max)
KINDS = {
    "double": Kind("double", "float64", frozenset({float, int}), {"type": "number"}, "float_type", -_F64, _F64),
    "float": Kind("float", "float32", frozenset({float, int}), {"type": "number"}, "float_type", -_F32, _F32),
    "long": Kind("long", "int64", frozenset({int}), {"type": "integer"}, "int_type", -(2**63), 2**63 - 1),
    "integer": Kind("integer", "int32", frozenset({int}), {"type": "integer"}, "int_type", -(2**31), 2**31 - 1),
    "boolean": Kind("boolean", "bool", frozenset({bool}), {"type": "boolean"}, "bool_type"),
    "string": Kind("string", "object", frozenset({str}), {"type": "string"}, "string_type"),
}  # fmt: skip
# a type the contract does not check (binary, datetime, ...): any JSON value, kept as it came
ANY = Kind("any", "object", frozenset(), {}, "")


@dataclass(frozen=True)
class ValueCheck:
    """One of pandera's built-in column checks, vectorised: ``fails`` maps a column's array to
    the mask of its failing values; ``json`` is the same rule as JSON schema keywords."""

    name: str
    text: str  # as pandera prints it, e.g. "greater_than(0)"
    fails: Callable[[np.ndarray], np.ndarray]
    json: Mapping[str, Any]


def _bound(op: Callable[[Any, Any], Any], keyword: str) -> Callable[..., tuple[Any, Any]]:
    def build(value: Any) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
        return (lambda a: ~np.asarray(op(a, value), dtype=bool)), {keyword: value}

    return build


_COMPARISONS = {
    "greater_than": ("min_value", _bound(operator.gt, "exclusiveMinimum")),
    "greater_than_or_equal_to": ("min_value", _bound(operator.ge, "minimum")),
    "less_than": ("max_value", _bound(operator.lt, "exclusiveMaximum")),
    "less_than_or_equal_to": ("max_value", _bound(operator.le, "maximum")),
}


def value_check(name: str, stats: Mapping[str, Any], text: str) -> ValueCheck | None:
    """The vectorised form of pandera's built-in check ``name``; None for any other check."""
    if name in _COMPARISONS:
        key, build = _COMPARISONS[name]
        fails, json = build(stats[key])
        return ValueCheck(name, text, fails, json)
    built = _other_check(name, stats)
    return None if built is None else ValueCheck(name, text, *built)


def _other_check(
    name: str, stats: Mapping[str, Any]
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]] | None:
    if name == "in_range":
        low, high = stats["min_value"], stats["max_value"]
        low_ok = operator.ge if stats.get("include_min", True) else operator.gt
        high_ok = operator.le if stats.get("include_max", True) else operator.lt
        json = {
            "minimum" if low_ok is operator.ge else "exclusiveMinimum": low,
            "maximum" if high_ok is operator.le else "exclusiveMaximum": high,
        }
        return (lambda a: ~(np.asarray(low_ok(a, low), bool) & high_ok(a, high))), json
    if name == "equal_to":
        value = stats["value"]
        return (lambda a: ~np.asarray(a == value, dtype=bool)), {"const": value}
    if name == "not_equal_to":
        value = stats["value"]
        return (lambda a: np.asarray(a == value, dtype=bool)), {"not": {"const": value}}
    if name in ("isin", "notin"):
        values = list(stats["allowed_values" if name == "isin" else "forbidden_values"])
        members = frozenset(values)

        def outside(a: np.ndarray) -> np.ndarray:
            inside = np.fromiter(map(members.__contains__, a.tolist()), bool, len(a))
            return ~inside if name == "isin" else inside

        return outside, ({"enum": values} if name == "isin" else {"not": {"enum": values}})
    if name == "str_length":
        exact = stats.get("exact_value")
        low = exact if exact is not None else stats.get("min_value")
        high = exact if exact is not None else stats.get("max_value")

        def bad_length(a: np.ndarray) -> np.ndarray:
            lengths = np.fromiter(map(len, a.tolist()), np.int64, len(a))
            bad = np.zeros(len(a), bool)
            if low is not None:
                bad |= lengths < low
            if high is not None:
                bad |= lengths > high
            return bad

        json = {k: v for k, v in (("minLength", low), ("maxLength", high)) if v is not None}
        return bad_length, json
    return None


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True  # the column must be sent
    nullable: bool = False  # its values may be null
    checks: tuple[ValueCheck, ...] = ()

    @property
    def dtype(self) -> str:
        """Nulls are NaN in a float column; any other column holding nulls is an object one."""
        if self.nullable and not self.kind.dtype.startswith("float"):
            return "object"
        return self.kind.dtype

    def json_schema(self) -> dict[str, Any]:
        """This column's values as JSON schema: its type, bounds and checks."""
        schema: dict[str, Any] = dict(self.kind.json)
        extra: list[Mapping[str, Any]] = []
        if self.kind.low is not None:
            schema["minimum"] = self.kind.low
            schema["maximum"] = self.kind.high
        for check in self.checks:
            for key, value in check.json.items():
                if key not in schema:
                    schema[key] = value
                elif key in _TIGHTER:
                    schema[key] = _TIGHTER[key](schema[key], value)
                else:
                    extra.append({key: value})
        if extra:
            schema["allOf"] = extra
        _drop_looser(schema, "minimum", "exclusiveMinimum", operator.le)
        _drop_looser(schema, "maximum", "exclusiveMaximum", operator.ge)
        return {"anyOf": [schema, {"type": "null"}]} if self.nullable else schema


def _drop_looser(schema: dict[str, Any], inclusive: str, exclusive: str, looser: Any) -> None:
    """Drop an inclusive bound that an exclusive one already implies (the type's own bound
    beside a check's ``greater_than(0)``, say)."""
    if inclusive in schema and exclusive in schema and looser(schema[inclusive], schema[exclusive]):
        del schema[inclusive]


_TIGHTER: dict[str, Callable[[Any, Any], Any]] = {
    "minimum": max,
    "exclusiveMinimum": max,
    "maximum": min,
    "exclusiveMaximum": min,
}


@dataclass
class Failures:
    """What one request breaks: each failing value with where it sits, and a count."""

    locate: Locate
    count: int = 0
    cases: list[dict[str, Any]] = field(default_factory=list)
    reasons: dict[str, None] = field(default_factory=dict)

    def add(self, row: int | None, column: str, check: str, value: Any, kind: str) -> None:
        self.count += 1
        value = _clip(value)
        if len(self.cases) < DETAIL:
            at = f"row {row}: " if row is not None else ""
            shown = f" (value {value!r})" if row is not None else ""
            self.cases.append(
                {
                    "loc": self.locate(row, column) if row is not None else [column],
                    "row": row,
                    "column": column,
                    "check": check,
                    "value": value,
                    "type": kind,
                    "msg": f"{at}column {column} failed {check}{shown}",
                }
            )

    def raise_any(self) -> None:
        if not self.count:
            return
        message = f"{self.count} input failure(s): " + "; ".join(
            c["msg"] for c in self.cases[:FIRST]
        )
        more = self.count - min(self.count, FIRST)
        raise InvalidBody(
            message + (f"; and {more} more" if more else ""), self.cases, reasons=self.reasons
        )


@dataclass(frozen=True)
class Contract:
    """The columns a request must carry, in the model's order; ``authority`` is the pandera
    schema still to run on each request's frame (None when the checks here cover it)."""

    columns: tuple[Column, ...]
    authority: Any = None

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def required(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.required)

    @cached_property
    def uniform(self) -> np.dtype[Any] | None:
        """The one dtype of every column, when they share it (the batch is then 2-D)."""
        dtypes = {c.dtype for c in self.columns}
        return np.dtype(dtypes.pop()) if len(dtypes) == 1 else None

    @cached_property
    def record(self) -> np.dtype[Any]:
        return np.dtype([(c.name, c.dtype) for c in self.columns])

    def validate(self, columns: Mapping[str, Sequence[Any]], rows: int, locate: Locate) -> Any:
        """The request's rows as one array, or InvalidBody naming every failing value."""
        failures = Failures(locate)
        arrays = [self._column(c, columns.get(c.name), rows, failures) for c in self.columns]
        failures.raise_any()
        batch = self.pack(arrays, rows)
        if self.authority is not None:
            self._pandera(batch, locate)
        return batch

    def pack(self, arrays: Sequence[np.ndarray], rows: int) -> np.ndarray:
        if self.uniform is not None:
            return np.column_stack(arrays) if arrays else np.empty((rows, 0), self.uniform)
        packed = np.empty(rows, self.record)
        for column, array in zip(self.columns, arrays, strict=True):
            packed[column.name] = array
        return packed

    def frame(self, batch: np.ndarray) -> pd.DataFrame:
        """One DataFrame of a batch (a request's array or several concatenated)."""
        import pandas as pd

        if batch.dtype.names is None:
            return pd.DataFrame(batch, columns=list(self.names), copy=False)
        return pd.DataFrame(batch)

    def column_values(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if batch.dtype.names is None:
            return {name: batch[:, i] for i, name in enumerate(self.names)}
        return {name: batch[name] for name in self.names}

    def _column(
        self, column: Column, values: Sequence[Any] | None, rows: int, failures: Failures
    ) -> np.ndarray:
        if values is None:  # an optional column the request left out
            return np.full(rows, np.nan if column.dtype.startswith("float") else None, column.dtype)
        kind = column.kind
        present = set(map(type, values))
        if float in present and kind.dtype.startswith("int"):
            values = _integral(values)
            present = set(map(type, values))
        accepted = kind.accepts | ({type(None)} if column.nullable else set())
        if kind.accepts and not present <= accepted:
            for row, value in enumerate(values):
                if type(value) not in accepted:
                    failures.add(row, column.name, f"type {kind.name}", value, kind.error)
                    failures.reasons[kind.error] = None
            return np.empty(0)
        try:
            array = np.array(values, dtype=column.dtype)
        except OverflowError:
            return self._out_of_bounds(column, values, failures)
        nulls = _nulls(array) if type(None) in present else None
        self._checks(column, array, nulls, failures)
        return array

    def _out_of_bounds(
        self, column: Column, values: Sequence[Any], failures: Failures
    ) -> np.ndarray:
        low, high, kind = column.kind.low, column.kind.high, column.kind
        for row, value in enumerate(values):
            if value is not None and not (low <= value <= high):
                failures.add(row, column.name, f"type {kind.name}", value, kind.error)
                failures.reasons[kind.error] = None
        return np.empty(0)

    def _checks(
        self, column: Column, array: np.ndarray, nulls: np.ndarray | None, failures: Failures
    ) -> None:
        checks = list(column.checks)
        if column.kind.dtype == "float32":  # a value past float32's range became inf in the cast
            checks.insert(0, _FLOAT32)
        for check in checks:
            values = array if nulls is None else array[~nulls]
            bad = check.fails(values)
            if not bad.any():
                continue
            rows = np.flatnonzero(bad) if nulls is None else np.flatnonzero(~nulls)[bad]
            for row in rows.tolist():
                failures.add(row, column.name, check.text, _plain(array[row]), check.name)
            failures.reasons[f"{column.name}: {check.text}"] = None

    def _pandera(self, batch: np.ndarray, locate: Locate) -> None:
        from pytest_modelgate.candidate.input_schema import validate

        outcome = validate(self.authority, self.frame(batch))
        if outcome.passed:
            return
        failures = Failures(locate)
        for case in outcome.first_cases:
            row = case["index"] if isinstance(case["index"], int) else None
            failures.add(row, case["column"], case["check"], case["value"], case["check"])
        failures.count = outcome.failures
        failures.reasons.update({f"{c['column']}: {c['check']}": None for c in outcome.by_check})
        failures.raise_any()


_FLOAT32 = ValueCheck(
    "in_range",
    f"in_range({-_F32}, {_F32})",
    lambda a: ~((a >= -_F32) & (a <= _F32)),
    {},
)


def _nulls(array: np.ndarray) -> np.ndarray:
    nulls: np.ndarray = (
        np.isnan(array) if array.dtype.kind == "f" else np.asarray(array == None, dtype=bool)  # noqa: E711 (elementwise)
    )
    return nulls


def _integral(values: Sequence[Any]) -> list[Any]:
    """JSON counts 2.0 as an integer (so does the OpenAPI document's schema): integral floats
    become ints, any other value stays as it is. A value at a time, but only for a body that
    sends floats to an integer column."""
    return [int(v) if type(v) is float and v.is_integer() else v for v in values]


def _clip(value: Any) -> Any:
    """A failing value as the refusal shows it: long strings and containers cut short."""
    if isinstance(value, str) and len(value) > CLIP:
        return value[:CLIP] + "..."
    if isinstance(value, list | dict):
        text = repr(value)
        return text if len(text) <= CLIP else text[:CLIP] + "..."
    return value


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# -- building the contract -------------------------------------------------------------------


def contract_of(signature: Any, schema: Any) -> Contract | None:
    """The contract of an MLflow signature (its ``inputs``, or None) and a pandera
    DataFrameSchema (or None); None when neither names the columns."""
    from pytest_modelgate.candidate.input_schema import MLFLOW_TYPES

    pandera_columns = dict(getattr(schema, "columns", {}) or {})
    named = signature is not None and signature.inputs.has_input_names()
    specs: list[tuple[str, str, bool]] = (
        [(c.name, getattr(c.type, "name", ""), c.required) for c in signature.inputs.inputs]
        if named
        else [
            (str(n), MLFLOW_TYPES.get(str(c.dtype), ""), bool(c.required))
            for n, c in pandera_columns.items()
        ]
    )
    if not specs:
        return None
    columns, covered = [], _frame_rules_covered(schema)
    for name, type_name, required in specs:
        checks, nullable, ok = _pandera_checks(pandera_columns.get(name))
        covered = covered and ok
        columns.append(
            Column(name, KINDS.get(type_name, ANY), required, nullable or not required, checks)
        )
    return Contract(tuple(columns), None if covered or schema is None else schema)


def _frame_rules_covered(schema: Any) -> bool:
    """Whether the frame-wide parts of a schema are all covered by a column contract."""
    if schema is None:
        return True
    return not (getattr(schema, "checks", None) or getattr(schema, "unique", None))


def _pandera_checks(column: Any) -> tuple[tuple[ValueCheck, ...], bool, bool]:
    """(vectorised checks, nullable, whether they cover the whole pandera column)."""
    if column is None:
        return (), False, True
    covered = not (column.unique or column.regex)
    checks = []
    for check in column.checks:
        built = value_check(check.name, check.statistics or {}, str(check.error or check.name))
        if built is None:
            covered = False
        else:
            checks.append(built)
    return tuple(checks), bool(column.nullable), covered


def from_model_dir(mlflow_dir: str, schema: Any) -> Contract | None:
    """The contract of a local MLflow model directory and the pandera schema."""
    from mlflow.models import Model

    return contract_of(Model.load(mlflow_dir).signature, schema)
