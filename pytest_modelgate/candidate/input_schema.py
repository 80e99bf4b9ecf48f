"""A model's input schema: one pandera schema, named by import path or declared inline in a
suite, that the schema gate checks and the service reuses to validate requests.

An import path is ``package.module:Name`` (or ``package.module.Name``) naming a pandera
``DataFrameModel`` subclass or a ``DataFrameSchema``. pandera is imported here only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import InputSchemaError
from pytest_modelgate.jsonio import scalar
from pytest_modelgate.quiet import quiet_imports

if TYPE_CHECKING:
    import pandas as pd

# pandera dtype names -> MLflow ColSpec type names, for comparing a schema with a signature
MLFLOW_TYPES = {
    "float64": "double",
    "float32": "float",
    "int64": "long",
    "int32": "integer",
    "int16": "integer",
    "int8": "integer",
    "bool": "boolean",
    "str": "string",
    "string": "string",
    "object": "string",
    "bytes": "binary",
    "datetime64[ns]": "datetime",
}


def pandera() -> Any:
    """``pandera.pandas``, imported without its chatter about pyspark."""
    with quiet_imports():
        import pandera.pandas

    return pandera.pandas


def import_object(path: str) -> Any:
    """``pkg.mod:Name`` or ``pkg.mod.Name`` -> the object."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise InputSchemaError(f"expected 'package.module:Name', got {path!r}")
    try:
        with quiet_imports():  # a schema module imports pandera
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputSchemaError(f"cannot import {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InputSchemaError(f"module {module_name!r} has no attribute {attr!r}") from None


def as_schema(obj: Any, where: str) -> Any:
    """A pandera DataFrameSchema from a DataFrameModel subclass or a DataFrameSchema."""
    pa = pandera()

    if isinstance(obj, pa.DataFrameSchema):
        return obj
    if isinstance(obj, type) and issubclass(obj, pa.DataFrameModel):
        model: Any = obj
        return model.to_schema()
    raise InputSchemaError(
        f"{where} is a {type(obj).__name__}, expected a pandera DataFrameModel or DataFrameSchema"
    )


def inline_column(name: str, dtype: str | None, nullable: bool, checks: dict[str, Any]) -> Any:
    """A pandera Column from a suite declaration; ``checks`` maps a built-in Check name to its
    argument (a mapping is passed as keyword arguments)."""
    pa = pandera()

    built = []
    for check_name, arg in checks.items():
        factory = getattr(pa.Check, check_name, None)
        if factory is None or check_name.startswith("_") or not callable(factory):
            raise InputSchemaError(f"unknown pandera check {check_name!r} for column {name!r}")
        try:
            built.append(factory(**arg) if isinstance(arg, dict) else factory(arg))
        except (TypeError, ValueError) as exc:
            raise InputSchemaError(f"check {check_name!r} for column {name!r}: {exc}") from None
    try:
        return pa.Column(dtype, checks=built, nullable=nullable, name=name)
    except (TypeError, ValueError) as exc:
        raise InputSchemaError(f"column {name!r}: {exc}") from None


def inline_schema(columns: list[Any], strict: bool) -> Any:
    pa = pandera()

    return pa.DataFrameSchema({c.name: c for c in columns}, strict=strict)


def column_from_entry(name: str, entry: Any) -> Any:
    """A pandera Column from one ``columns:`` entry of a suite: ``a: float64`` or
    ``a: {dtype: float64, nullable: false, checks: {ge: 0}}``."""
    if isinstance(entry, str):
        return inline_column(name, entry, False, {})
    entry = entry or {}
    checks = dict(entry.get("checks") or {})
    return inline_column(name, entry.get("dtype"), bool(entry.get("nullable", False)), checks)


# A schema written inline in a suite reaches the served bento as pandera's own YAML behind
# this prefix (not a module name, so it cannot be mistaken for an import path)
YAML_PREFIX = "pandera-yaml:"


def section_reference(section: dict[str, Any]) -> str | None:
    """How a bento names the schema of a suite's ``schema:`` section: the import path, or the
    inline declaration as pandera YAML; None when the section names none."""
    if isinstance(section.get("schema"), str):
        return str(section["schema"])
    columns = section.get("columns")
    if not isinstance(columns, dict) or not columns:
        return None
    built = [column_from_entry(str(name), entry) for name, entry in columns.items()]
    schema = inline_schema(built, bool(section.get("strict", True)))
    return YAML_PREFIX + str(schema.to_yaml())


def load_reference(reference: str, where: str) -> Any:
    """The pandera schema a bento argument names (``section_reference``'s output)."""
    if reference.startswith(YAML_PREFIX):
        pa = pandera()

        try:
            return pa.DataFrameSchema.from_yaml(reference.removeprefix(YAML_PREFIX))
        except Exception as exc:  # pandera raises several types for a malformed document
            raise InputSchemaError(f"{where}: not a pandera schema: {exc}") from None
    return as_schema(import_object(reference), where)


def dtype_name(column: Any) -> str | None:
    return None if column.dtype is None else str(column.dtype)


def mlflow_type(column: Any) -> str | None:
    """The MLflow type a pandera column corresponds to; None when the schema leaves it open."""
    name = dtype_name(column)
    if name is None:
        return None
    if name.startswith("string["):  # pandas 3 keeps strings as string[pyarrow] / string[python]
        return "string"
    return MLFLOW_TYPES.get(name, name)


@dataclass
class Validation:
    """Outcome of validating a frame lazily: failures summarised by column and check."""

    rows: int
    failures: int = 0
    by_check: list[dict[str, Any]] = field(default_factory=list)
    first_cases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def summary(self, limit: int = 8) -> str:
        parts = [f"{b['column']}: {b['check']} x{b['count']}" for b in self.by_check[:limit]]
        more = len(self.by_check) - limit
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")

    def merge(self, other: Validation, first: int = 5) -> Validation:
        """Both parts' failures (the parts of one frame in order: batches, partitions)."""
        counts: dict[tuple[str, str], int] = {}
        for b in [*self.by_check, *other.by_check]:
            key = (b["column"], b["check"])
            counts[key] = counts.get(key, 0) + int(b["count"])
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        return Validation(
            self.rows + other.rows,
            self.failures + other.failures,
            [{"column": c, "check": k, "count": n} for (c, k), n in ranked],
            [*self.first_cases, *other.first_cases][:first],
        )

    def shifted(self, offset: int) -> Validation:
        """The same failures with row numbers ``offset`` further (a batch's place in the set)."""
        cases = [
            {**c, "index": c["index"] + offset if isinstance(c["index"], int) else c["index"]}
            for c in self.first_cases
        ]
        return Validation(self.rows, self.failures, self.by_check, cases)

    def cases_text(self) -> str:
        return "\n".join(
            f"  row {c['index']}: column {c['column']}, check {c['check']}, value {c['value']!r}"
            for c in self.first_cases
        )


def validate(schema: Any, frame: pd.DataFrame, first: int = 5) -> Validation:
    """Validate lazily (all failures at once). ``SchemaErrors`` is not a subclass of
    ``SchemaError``, and some failures still arrive as a single ``SchemaError``: take both."""
    from pandera.errors import SchemaError, SchemaErrors

    try:
        with quiet_imports():  # pandera imports pyspark's pandas types on first validation
            schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return _from_cases(len(frame), exc.failure_cases, first)
    except SchemaError as exc:
        case = {"column": _text(getattr(exc.schema, "name", None)), "check": str(exc.check)}
        summary = {**case, "count": 1}
        return Validation(len(frame), 1, [summary], [{**case, "index": None, "value": str(exc)}])
    return Validation(len(frame))


def _from_cases(rows: int, cases: pd.DataFrame, first: int) -> Validation:
    cases = cases.assign(
        column=cases["column"].map(_text), check=cases["check"].astype(str)
    ).reset_index(drop=True)
    counts = cases.groupby(["column", "check"], sort=False).size().sort_values(ascending=False)
    by_check = [{"column": c, "check": k, "count": int(n)} for (c, k), n in counts.items()]
    head = cases.head(first)
    first_cases = [
        {
            "column": r["column"],
            "check": r["check"],
            "index": scalar(r["index"]),
            "value": scalar(r["failure_case"]),
        }
        for r in head.to_dict("records")
    ]
    return Validation(rows, len(cases), by_check, first_cases)


def _text(value: Any) -> str:
    return "<frame>" if value is None or value != value else str(value)
