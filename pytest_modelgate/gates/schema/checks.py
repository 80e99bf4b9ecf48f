"""Deciding a schema item: the signature against the schema, the eval data and the outputs,
and malformed requests sent down the serving path."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.candidate.input_schema import (
    mlflow_type,
)
from pytest_modelgate.gates.api import GateContext, GateResult
from pytest_modelgate.gates.schema.spec import EXTRA_COLUMN, SchemaSpec
from pytest_modelgate.jsonio import plain
from pytest_modelgate.quiet import quiet_imports, quiet_logger

if TYPE_CHECKING:
    import pandas as pd


_PROBE_ROWS = 5


_PROBA_TOLERANCE = 1e-6


def check_signature(spec: SchemaSpec, ctx: GateContext) -> GateResult:
    ref = ctx.candidate.ref
    threshold = {"max_disagreements": 0.0}
    if ref.signature_inputs is None:
        return GateResult(
            passed=False,
            metric="signature agreement",
            threshold=threshold,
            message=(
                f"{ref.describe()} has no MLflow signature, so nothing stops a server from "
                "feeding it columns it never saw. Log it with "
                "signature=mlflow.models.infer_signature(X, y)."
            ),
            details={"schema": spec.source, "signature": None},
        )
    signature = dict(ref.signature_inputs)
    declared = {name: mlflow_type(col) for name, col in spec.schema.columns.items()}
    problems = _disagreements(declared, signature)
    result = GateResult(
        passed=not problems,
        metric="signature agreement",
        value=float(len(problems)),
        threshold=threshold,
        rows=None,
        decided_on="count",
        details={"schema": spec.source, "signature": signature, "schema_types": declared},
    )
    if problems:
        result.message = (
            f"{ref.describe()}'s MLflow signature disagrees with schema {spec.source}: "
            + "; ".join(problems)
            + ". The service validates requests with the schema and the model with its "
            "signature: make them one contract (re-log the model, or fix the schema)."
        )
    else:
        result.message = f"signature and schema {spec.source} agree on {len(signature)} columns"
    return result


def _disagreements(declared: dict[str, str | None], signature: dict[str, str]) -> list[str]:
    problems = []
    only_schema = [c for c in declared if c not in signature]
    only_signature = [c for c in signature if c not in declared]
    if only_schema:
        problems.append(f"columns in the schema but not the signature: {', '.join(only_schema)}")
    if only_signature:
        problems.append(f"columns in the signature but not the schema: {', '.join(only_signature)}")
    for column, kind in declared.items():
        if kind is not None and column in signature and signature[column] != kind:
            problems.append(
                f"column {column!r} is {kind} in the schema but {signature[column]} "
                "in the signature"
            )
    return problems


def check_eval_data(spec: SchemaSpec, ctx: GateContext) -> GateResult:
    from pytest_modelgate.candidate.input_schema import validate

    data = ctx.eval_data(spec.suite)
    if data.streamed:
        from pytest_modelgate.gates.engines.passes import validate_batches

        outcome = validate_batches(ctx, spec.suite, spec.schema, spec.failure_cases)
    else:
        outcome = validate(spec.schema, data.X, first=spec.failure_cases)
    result = GateResult(
        passed=outcome.passed,
        metric="schema failures",
        value=float(outcome.failures),
        threshold={"max": 0.0},
        decided_on="count",
        rows=data.rows,
        details={
            "schema": spec.source,
            "by_check": outcome.by_check,
            "first_failure_cases": outcome.first_cases,
        },
    )
    if not outcome.passed:
        result.message = (
            f"the eval data {data.source} breaks schema {spec.source}: {outcome.failures} "
            f"failures in {data.rows} rows ({outcome.summary()}).\nfirst failure cases:\n"
            f"{outcome.cases_text()}\nThe model would be judged on data its service refuses: "
            "fix the data or the schema."
        )
    return result


_INTEGER_TYPES = {"long", "integer", "int8", "int16", "int32", "int64", "uint8", "uint16"}
_INTEGER_TYPES |= {"uint32", "uint64"}
_FLOAT_TYPES = {"double", "float", "float16", "float32", "float64"}


def check_output(spec: SchemaSpec, ctx: GateContext) -> GateResult:
    """A classifier's labels in the declared set and probabilities in [0, 1] summing to 1; a
    regressor's outputs finite numbers of its signature's type."""
    task = ctx.task(spec.suite)
    if task.regression:
        return _regression_output(spec, ctx, task.why)
    return _classifier_output(spec, ctx)


def _regression_output(spec: SchemaSpec, ctx: GateContext, why: str) -> GateResult:
    """A regressor answers finite numbers of its signature's output type, one per row."""
    import numpy as np

    from pytest_modelgate.errors import DataError

    ref = ctx.candidate.ref
    if spec.labels is not None:
        raise DataError(
            f"schema 'labels' name the classes of a classifier, but {ref.describe()} is a "
            f"regressor ({why}): remove labels from the schema section, or set 'task: "
            "classification' at the top of the suite"
        )
    data = ctx.eval_data(spec.suite)
    values = np.asarray(ctx.candidate.predictions(data).labels)
    declared = ref.signature_output_types
    problems: list[str] = []
    bad = np.zeros(data.rows, dtype=bool)
    if values.dtype.kind not in "fiub":
        problems.append(f"predictions are {values.dtype} values, not numbers")
        bad[:] = True
    else:
        flat = values.reshape(len(values), -1).astype(float)
        nonfinite = ~np.isfinite(flat).all(axis=1)
        if nonfinite.any():
            problems.append(f"{int(nonfinite.sum())} rows with NaN or infinite predictions")
            bad |= nonfinite
        kind = (declared or ("",))[0]
        if kind in _INTEGER_TYPES:
            fractional = ~(np.isclose(flat, np.round(flat)) | ~np.isfinite(flat)).all(axis=1)
            if fractional.any():
                problems.append(
                    f"{int(fractional.sum())} rows with fractional predictions where the "
                    f"signature declares {kind}"
                )
                bad |= fractional
        elif declared and kind not in _FLOAT_TYPES:
            problems.append(f"the signature declares {kind} output, not a number")
            bad[:] = True
    result = GateResult(
        passed=not problems,
        metric="malformed output share",
        value=float(bad.mean()),
        threshold={"max": 0.0},
        decided_on="every row",
        rows=data.rows,
        details={
            "task": "regression",
            "signature_output": list(declared) if declared else None,
            "problems": problems,
        },
    )
    if problems:
        result.message = (
            f"{ref.describe()} answers malformed output on {int(bad.sum())} of {data.rows} rows: "
            + "; ".join(problems)
        )
    else:
        kind = declared[0] if declared else "numbers (no signature output declared)"
        result.message = f"{data.rows} finite predictions of type {kind}"
    return result


def _classifier_output(spec: SchemaSpec, ctx: GateContext) -> GateResult:
    import numpy as np

    data = ctx.eval_data(spec.suite)
    predictions = ctx.candidate.predictions(data)
    allowed = spec.labels if spec.labels is not None else tuple(np.unique(data.y).tolist())
    problems, bad_rows = _label_problems(predictions.labels, allowed)
    proba = predictions.proba
    if proba is not None:
        more, bad_proba = _proba_problems(np.asarray(proba, dtype=float), predictions.classes)
        problems += more
        bad_rows = bad_rows | bad_proba
    share = float(bad_rows.mean())
    result = GateResult(
        passed=not problems,
        metric="malformed output share",
        value=share,
        threshold={"max": 0.0},
        decided_on="every row",
        rows=data.rows,
        details={"labels": [plain(v) for v in allowed], "problems": problems},
    )
    if problems:
        result.message = (
            f"{ctx.candidate.ref.describe()} answers malformed output on {int(bad_rows.sum())} of "
            f"{data.rows} rows: " + "; ".join(problems)
        )
    return result


def _label_problems(labels: Any, allowed: tuple[Any, ...]) -> tuple[list[str], Any]:
    import numpy as np

    labels = np.asarray(labels).ravel()
    outside = ~np.isin(labels, np.asarray(allowed, dtype=object))
    if not outside.any():
        return [], outside
    seen = sorted({plain(v) for v in labels[outside]}, key=str)[:5]
    allowed_text = ", ".join(map(repr, (plain(v) for v in allowed)))
    return [f"labels outside the declared set {{{allowed_text}}}: {seen}"], outside


def _proba_problems(proba: Any, classes: Any) -> tuple[list[str], Any]:
    import numpy as np

    problems = []
    if proba.ndim != 2:
        return [f"probabilities have shape {proba.shape}, expected (rows, classes)"], np.ones(
            len(proba), dtype=bool
        )
    if classes is not None and proba.shape[1] != len(classes):
        problems.append(f"{proba.shape[1]} probability columns for {len(classes)} classes")
    out_of_range = ~((proba >= 0) & (proba <= 1)).all(axis=1)  # NaN counts as out of range
    off_sum = ~(np.abs(proba.sum(axis=1) - 1.0) <= _PROBA_TOLERANCE)
    if out_of_range.any():
        problems.append(f"{int(out_of_range.sum())} rows with probabilities outside [0, 1] or NaN")
    if off_sum.any():
        worst = float(np.nanmax(np.abs(proba.sum(axis=1) - 1.0)))
        problems.append(
            f"{int(off_sum.sum())} rows whose probabilities do not sum to 1 "
            f"(worst off by {worst:.3g})"
        )
    return problems, out_of_range | off_sum


@dataclass(frozen=True)
class Probe:
    name: str
    column: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class Outcome:
    probe: str
    column: str
    refused_by: str | None  # "schema", "model" or None when answered
    message: str

    @property
    def clear(self) -> bool:
        return self.refused_by is not None and self.column in self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "column": self.column,
            "refused_by": self.refused_by,
            "message": self.message[:500],
        }


def check_malformed(spec: SchemaSpec, ctx: GateContext) -> GateResult:
    data = ctx.eval_data(spec.suite)
    base = data.X.head(_PROBE_ROWS).reset_index(drop=True)
    probes = [p for p in build_probes(spec.schema, base) if p.name in spec.probes]
    model = ctx.candidate.pyfunc
    outcomes = [serve(spec.schema, model, probe) for probe in probes]
    bad = [o for o in outcomes if not o.clear]
    result = GateResult(
        passed=not bad,
        metric="malformed inputs answered",
        value=float(len(bad)),
        threshold={"max": 0.0},
        decided_on="count",
        rows=len(probes),
        details={"schema": spec.source, "probes": [o.as_dict() for o in outcomes]},
    )
    lines = [_describe(o) for o in outcomes]
    skipped = [p for p in spec.probes if p not in {o.probe for o in outcomes}]
    if skipped:
        lines.append(f"not applicable to this schema: {', '.join(skipped)}")
    if bad:
        result.message = (
            f"{len(bad)} of {len(outcomes)} malformed requests were not refused with an error "
            f"naming the column (schema {spec.source}, then the MLflow pyfunc):\n"
            + "\n".join(f"  {line}" for line in lines)
        )
    else:
        result.message = "; ".join(lines)
    return result


def build_probes(schema: Any, base: pd.DataFrame) -> list[Probe]:
    """Malformed copies of a few valid rows: one per kind the schema lets us build."""
    columns = [c for c in schema.columns if c in base.columns]
    probes = []
    if columns:
        probes.append(Probe("missing_column", columns[0], base.drop(columns=columns[0])))
    extra = EXTRA_COLUMN if EXTRA_COLUMN not in base.columns else EXTRA_COLUMN + "_"
    probes.append(Probe("extra_column", extra, base.assign(**{extra: 0.0})))
    wrong = _wrong_type(base, columns)
    if wrong is not None:
        probes.append(wrong)
    not_nullable = [c for c in columns if not schema.columns[c].nullable]
    if not_nullable:
        probes.append(_null(base, not_nullable[0]))
    return probes


def _wrong_type(base: pd.DataFrame, columns: list[str]) -> Probe | None:
    import pandas as pd

    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(base[c])]
    if numeric:
        return Probe("wrong_type", numeric[0], base.assign(**{numeric[0]: "not a number"}))
    if columns:
        return Probe("wrong_type", columns[0], base.assign(**{columns[0]: 12345}))
    return None


def _null(base: pd.DataFrame, column: str) -> Probe:
    import numpy as np
    import pandas as pd

    values = base[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        filled = values.astype("float64").where(values.index != values.index[0], np.nan)
    else:
        filled = values.astype(object).where(values.index != values.index[0], None)
    return Probe("null", column, base.assign(**{column: filled}))


def serve(schema: Any, model: Any, probe: Probe) -> Outcome:
    """The serving path: validate with the schema, then predict with the pyfunc."""
    from pandera.errors import SchemaError, SchemaErrors

    try:
        with quiet_imports():  # pandera imports pyspark's pandas types on first validation
            schema.validate(probe.frame, lazy=True)
    except (SchemaErrors, SchemaError) as exc:  # neither is a subclass of the other
        return Outcome(probe.name, probe.column, "schema", str(exc))
    try:
        # MLflow logs dropped extra columns at WARNING; the gate reports them itself
        with quiet_logger("mlflow", logging.ERROR):
            answer = model.predict(probe.frame)
    except Exception as exc:
        return Outcome(probe.name, probe.column, "model", f"{type(exc).__name__}: {exc}")
    return Outcome(probe.name, probe.column, None, f"answered {len(answer)} predictions")


_ADVICE = {
    "missing_column": "declare the column as required in the schema",
    "extra_column": "make the schema strict (strict=True) so unknown columns are refused",
    "wrong_type": "declare the column's dtype in the schema, without coerce",
    "null": "declare the column nullable=False",
}


def _describe(outcome: Outcome) -> str:
    head = f"{outcome.probe} (column {outcome.column!r}): "
    if outcome.refused_by is None:
        return head + f"{outcome.message} instead of refusing; {_ADVICE[outcome.probe]}"
    first = outcome.message.strip().splitlines()[0][:160] if outcome.message.strip() else ""
    if not outcome.clear:
        return head + f"refused by the {outcome.refused_by} without naming the column: {first}"
    return head + f"refused by the {outcome.refused_by}"
