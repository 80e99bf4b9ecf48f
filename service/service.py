"""Serve the registry version pinned for one environment.

The bento holds one exact registry version (the ``model_tag`` bento argument a promotion bakes
in). ``MODELGATE_ENV`` names the environment it serves; at start-up the service checks in the
registry (``MLFLOW_TRACKING_URI``) that the environment's alias pins this version and that the
version carries passing gate evidence for it, and refuses to start otherwise.

Rows are validated against a pydantic model built from the model's MLflow signature (types),
then against the pandera input schema the schema gate checked (the ``input_schema`` bento
argument, an import path): a bad row gets a 400 naming the field and the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, NoReturn

import bentoml
from bentoml.exceptions import BentoMLException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from pytest_modelgate.bento import (
    ARG_INPUT_SCHEMA,
    ARG_MODEL_TAG,
    LABEL_NAME,
    LABEL_RUN,
    LABEL_VERSION,
)
from pytest_modelgate.evidence import ENVIRONMENTS, EvidenceError, verify_evidence

ENV_VAR = "MODELGATE_ENV"
ENV_MODEL_TAG = "MODELGATE_MODEL_TAG"
MLFLOW_DIR = "mlflow_model"
logger = logging.getLogger("modelgate.service")

# MLflow column types -> the Python type a JSON value must have
_COLUMN_TYPES: dict[str, Any] = {
    "double": float,
    "float": float,
    "long": int,
    "integer": int,
    "string": str,
    "boolean": bool,
    "datetime": dt.datetime,
}


class NotServable(BentoMLException):
    """The model cannot answer this kind of request (for example no probabilities)."""

    error_code = HTTPStatus.NOT_IMPLEMENTED


def model_tag() -> str:
    tag = getattr(ARGS, ARG_MODEL_TAG, None) or os.environ.get(ENV_MODEL_TAG)
    if not tag:
        raise RuntimeError(
            f"no model to serve: build the bento with --arg {ARG_MODEL_TAG}=NAME:VERSION "
            f"(a promotion does) or set {ENV_MODEL_TAG}"
        )
    return str(tag)


def row_model(mlflow_dir: Path) -> type[BaseModel] | None:
    """A pydantic model of one input row from the MLflow signature, or None without one."""
    from mlflow.models import Model

    signature = Model.load(str(mlflow_dir)).signature
    if signature is None or not signature.inputs.has_input_names():
        return None
    fields: dict[str, Any] = {}
    for i, col in enumerate(signature.inputs.inputs):
        kind = _COLUMN_TYPES.get(getattr(col.type, "name", ""), Any)
        if col.required:
            fields[f"c{i}"] = (kind, Field(alias=col.name))
        else:
            fields[f"c{i}"] = (kind | None, Field(default=None, alias=col.name))
    # strict: "5" is not a number; forbid: a misspelt column is named, not silently dropped
    config = ConfigDict(strict=True, extra="forbid", populate_by_name=False)
    return create_model("Row", __config__=config, **fields)


def input_schema() -> Any:
    """The schema gate's pandera schema named by the ``input_schema`` bento argument, or None."""
    path = getattr(ARGS, ARG_INPUT_SCHEMA, None)
    if not path:
        return None
    from pytest_modelgate.input_schema import as_schema, import_object

    return as_schema(import_object(str(path)), f"bento argument {ARG_INPUT_SCHEMA}={path}")


def check_rows(rows: list[Any]) -> list[Any]:
    """Validate one request's rows with the pandera schema (before batching, so a bad request
    never fails its batch neighbours); the error names row, column, check and value."""
    if SCHEMA is None or not rows:
        return rows
    from pytest_modelgate.input_schema import validate

    outcome = validate(SCHEMA, to_frame(rows))
    if not outcome.passed:
        cases = "; ".join(
            f"row {c['index']}: column {c['column']} failed {c['check']} (value {c['value']!r})"
            for c in outcome.first_cases
        )
        raise ValueError(f"{outcome.failures} schema failure(s): {cases}")
    return rows


def to_frame(rows: list[Any]) -> Any:
    import pandas as pd

    records = [r.model_dump(by_alias=True) if isinstance(r, BaseModel) else r for r in rows]
    return pd.DataFrame.from_records(records)


ARGS = bentoml.use_arguments()
MODEL = bentoml.models.BentoModel(model_tag())
SCHEMA = input_schema()
Row: Any = row_model(Path(MODEL.stored.path) / MLFLOW_DIR) if MODEL.stored else None
if Row is None:
    Row = dict[str, Any]
Rows = Annotated[list[Row], AfterValidator(check_rows)]


def refuse(message: str) -> NoReturn:
    logger.critical("modelgate: refusing to start: %s", message)
    raise SystemExit(f"modelgate: refusing to start: {message}")


def check_pinned(name: str, version: int, env: str) -> dict[str, str]:
    """The evidence that lets this version serve ``env``; refuses to start without it."""
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        refuse("MLFLOW_TRACKING_URI is not set: the registry holds the evidence to check")
    client = mlflow.MlflowClient(uri, uri)
    try:
        pinned = client.get_model_version_by_alias(name, env)
    except Exception as exc:
        refuse(f"cannot read alias {env!r} of {name} from {uri}: {exc}")
    if int(pinned.version) != version:
        refuse(f"alias {env!r} pins {name} v{pinned.version}, this bento holds v{version}")
    try:
        evidence = verify_evidence(client, name, version, env)
    except EvidenceError as exc:
        refuse(str(exc))
    return evidence.fields


def pinned_for(env: str) -> tuple[str, int, str, str, dict[str, str]]:
    """(name, version, run, env, evidence) of this bento's model once checked for ``env``."""
    if env not in ENVIRONMENTS:
        refuse(f"{ENV_VAR}={env!r}: set it to one of {', '.join(ENVIRONMENTS)}")
    if MODEL.stored is None:
        refuse(f"model {MODEL.tag} is not in the BentoML store")
    labels = dict(MODEL.stored.info.labels)
    name, version = labels[LABEL_NAME], int(labels[LABEL_VERSION])
    return name, version, labels.get(LABEL_RUN, ""), env, check_pinned(name, version, env)


# Checked on import, so `bentoml serve` itself exits when the check fails (a failing worker
# would only be restarted). Building imports this module without MODELGATE_ENV.
PINNED = pinned_for(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None


@bentoml.service(name="modelgate", traffic={"timeout": 30})
class ModelGate:
    bento_model = MODEL

    def __init__(self) -> None:
        if PINNED is None:
            refuse(f"{ENV_VAR} is not set: set it to one of {', '.join(ENVIRONMENTS)}")
        self.name, self.version, self.run_id, self.env, self.evidence = PINNED
        self.model = load(Path(self.bento_model.path) / MLFLOW_DIR)
        self.ready = True
        logger.info("modelgate: serving %s v%s as %s", self.name, self.version, self.env)

    def __is_ready__(self) -> bool:
        return bool(getattr(self, "ready", False))

    @bentoml.api(batchable=True, max_batch_size=256, max_latency_ms=200)  # type: ignore[untyped-decorator]
    def predict(self, rows: Rows) -> list[Any]:
        if not rows:
            return []
        return [_plain(v) for v in self.model.predict(to_frame(rows))]

    @bentoml.api(batchable=True, max_batch_size=256, max_latency_ms=200)  # type: ignore[untyped-decorator]
    def predict_proba(self, rows: Rows) -> list[dict[str, float]]:
        method = getattr(self.model, "predict_proba", None)
        if method is None:
            raise NotServable(f"{self.name} v{self.version} gives no class probabilities")
        if not rows:
            return []
        classes = [str(_plain(c)) for c in self.model.classes_]
        return [dict(zip(classes, map(float, p), strict=True)) for p in method(to_frame(rows))]

    @bentoml.api(route="/model_info")  # type: ignore[untyped-decorator]
    def model_info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "alias": self.env,
            "evidence_sha256": self.evidence.get("report_sha256"),
            "gated_at": self.evidence.get("gated_at"),
            "bento": self.evidence.get("bento"),
        }


def load(mlflow_dir: Path) -> Any:
    """The native sklearn model when there is one (it has predict_proba), else pyfunc."""
    from mlflow.models import Model

    if "sklearn" in Model.load(str(mlflow_dir)).flavors:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(mlflow_dir))
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(mlflow_dir))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
