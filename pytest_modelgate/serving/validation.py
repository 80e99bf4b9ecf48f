"""A fast pass over request rows for the common checks of a pandera schema.

Validating one row with pandera builds a frame and costs about 1.5 ms, more than the model's
prediction. ``compile_checks`` turns a schema made only of pandera's built-in column checks
(bounds, ranges, allowed values) into a plain-Python predicate. It only ever says "these rows
pass": any row it is unsure about (another type, a missing or extra column, None, NaN, a check
it does not know) goes to pandera, which stays the authority and writes the 400's reason.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

RowsCheck = Callable[[Sequence[Mapping[str, Any]]], bool]
ValueCheck = Callable[[Any], bool]

_COMPARISONS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "greater_than": (operator.gt, "min_value"),
    "greater_than_or_equal_to": (operator.ge, "min_value"),
    "less_than": (operator.lt, "max_value"),
    "less_than_or_equal_to": (operator.le, "max_value"),
    "equal_to": (operator.eq, "value"),
    "not_equal_to": (operator.ne, "value"),
}
# pandera dtype -> the exact JSON-decoded type a value must have to keep that dtype in a frame
_TYPES: dict[str, type] = {"float64": float, "int64": int, "str": str, "bool": bool}


def compile_checks(schema: Any) -> RowsCheck | None:
    """A predicate that is True only when every row passes ``schema``; None when the schema
    uses anything beyond per-column built-in checks (then every request goes to pandera)."""
    if getattr(schema, "checks", None) or getattr(schema, "unique", None):
        return None
    if getattr(schema, "strict", False) not in (True, False) or getattr(schema, "coerce", False):
        return None
    columns: dict[str, list[ValueCheck]] = {}
    for name, column in getattr(schema, "columns", {}).items():
        checks = _column_checks(column)
        if checks is None:
            return None
        columns[str(name)] = checks
    if not columns:
        return None
    names = frozenset(columns)
    plan = tuple(columns.items())

    def passes(rows: Sequence[Mapping[str, Any]]) -> bool:
        for row in rows:
            if row.keys() != names:
                return False
            for name, checks in plan:
                value = row[name]
                if not all(check(value) for check in checks):
                    return False
        return True

    return passes


def _column_checks(column: Any) -> list[ValueCheck] | None:
    if column.unique or column.coerce or column.regex or column.nullable:
        return None
    kind = _TYPES.get(str(column.dtype))
    if kind is None:
        return None
    checks: list[ValueCheck] = [_exact_type(kind)]
    for check in column.checks:
        value_check = _value_check(check.name, check.statistics or {})
        if value_check is None:
            return None
        checks.append(value_check)
    return checks


def _exact_type(kind: type) -> ValueCheck:
    if kind is float:
        return lambda v: type(v) is float and not math.isnan(v)
    return lambda v: type(v) is kind


def _value_check(name: str, stats: dict[str, Any]) -> ValueCheck | None:
    if name in _COMPARISONS:
        op, key = _COMPARISONS[name]
        bound = stats[key]
        return lambda v: bool(op(v, bound))
    if name == "in_range":
        low, high = stats["min_value"], stats["max_value"]
        low_op = operator.ge if stats.get("include_min", True) else operator.gt
        high_op = operator.le if stats.get("include_max", True) else operator.lt
        return lambda v: bool(low_op(v, low) and high_op(v, high))
    if name == "isin":
        allowed = frozenset(stats["allowed_values"])
        return lambda v: v in allowed
    if name == "notin":
        forbidden = frozenset(stats["forbidden_values"])
        return lambda v: v not in forbidden
    return None
