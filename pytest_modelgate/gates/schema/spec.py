"""The schema gate: one pandera input schema, checked against the candidate and its data.

Suite section::

    schema:
      schema: pytest_modelgate.reference.schemas:IrisInput  # import path, or inline:
      # columns:
      #   sepal_length: {dtype: float64, nullable: false, checks: {ge: 0}}
      # strict: true
      labels: [setosa, versicolor, virginica]  # optional; default: the eval data's targets
      failure_cases: 5                         # first failure cases shown
      malformed: [missing_column, extra_column, wrong_type, null]

Items: ``schema[signature]`` (the MLflow signature agrees with the schema: columns and types),
``schema[eval-data]`` (the eval data validates, lazily), ``schema[output]`` (a classifier's
labels in the declared set, probabilities in [0, 1] summing to 1; a regressor's outputs finite
numbers of its signature's output type), ``schema[malformed-input]`` (each
malformed request is refused, naming the column, by the serving path: the schema, then the
candidate's MLflow pyfunc, which enforces its signature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.candidate.input_schema import as_schema, import_object
from pytest_modelgate.errors import InputSchemaError

if TYPE_CHECKING:
    from pytest_modelgate.suite.nodes import Node
    from pytest_modelgate.suite.parse import Suite


GATE = "schema"


PROBES = ("missing_column", "extra_column", "wrong_type", "null")


EXTRA_COLUMN = "unexpected_column"


SECTION_KEYS = {"schema", "columns", "strict", "labels", "failure_cases", "malformed", "required"}


_COLUMN_KEYS = {"dtype", "nullable", "checks"}


@dataclass(frozen=True)
class SchemaSpec:
    schema: Any  # pandera DataFrameSchema
    source: str
    labels: tuple[Any, ...] | None
    failure_cases: int
    probes: tuple[str, ...]
    suite: Suite


def parse_spec(node: Node, suite: Suite) -> SchemaSpec:
    schema, source = _parse_schema(node)
    labels = None
    if node.has("labels"):
        labels_node = node.require("labels")
        if not isinstance(labels_node.value, list) or not labels_node.value:
            raise labels_node.error("expected a non-empty list of labels")
        labels = tuple(labels_node.value)
    first = node.require("failure_cases").as_int(minimum=1) if node.has("failure_cases") else 5
    probes: tuple[str, ...] = PROBES
    if node.has("malformed"):
        probes_node = node.require("malformed")
        probes = probes_node.as_str_list()
        unknown = [p for p in probes if p not in PROBES]
        if unknown:
            raise probes_node.error(f"unknown probe {unknown[0]!r}; expected {', '.join(PROBES)}")
    return SchemaSpec(schema, source, labels, first, probes, suite)


def _parse_schema(node: Node) -> tuple[Any, str]:
    if node.has("schema") == node.has("columns"):
        raise node.error(
            "expected exactly one of 'schema' (an import path such as 'pkg.module:Model') "
            "or 'columns' (an inline declaration)"
        )
    if node.has("schema"):
        if node.has("strict"):
            raise node.require("strict").error("'strict' belongs in the imported schema itself")
        path_node = node.require("schema")
        path = path_node.as_str()
        try:
            return as_schema(import_object(path), repr(path)), path
        except InputSchemaError as exc:
            raise path_node.error(str(exc)) from None
    return _inline(node), f"inline ({node.path}:{node.line})"


def _inline(node: Node) -> Any:
    from pytest_modelgate.candidate.input_schema import column_from_entry, inline_schema

    columns_node = node.require("columns")
    if not columns_node.mapping().keys():
        raise columns_node.error("expected at least one column")
    columns = []
    for name, entry in columns_node.items():
        if isinstance(entry.value, str):  # shorthand: `a: float64`
            entry.as_str()
        else:
            entry.mapping().only(_COLUMN_KEYS)
            if entry.has("dtype"):
                entry.require("dtype").as_str()
            if entry.has("nullable"):
                entry.require("nullable").as_bool()
            if entry.has("checks"):
                entry.require("checks").mapping()
        try:
            columns.append(column_from_entry(name, entry.as_plain()))
        except InputSchemaError as exc:
            raise entry.error(str(exc)) from None
    strict = node.require("strict").as_bool() if node.has("strict") else True
    return inline_schema(columns, strict)
