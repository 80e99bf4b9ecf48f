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
import gc
import json
import logging
import os
from collections import deque
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, NoReturn

import bentoml
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)

from pytest_modelgate.errors import EvidenceError, ServeError
from pytest_modelgate.jsonio import plain
from pytest_modelgate.release.bento import (
    ARG_INPUT_SCHEMA,
    ARG_MODEL_TAG,
    LABEL_NAME,
    LABEL_RUN,
    LABEL_VERSION,
    META_DIGEST,
    META_DRIFT,
    MLFLOW_DIR,
)
from pytest_modelgate.release.evidence import ENVIRONMENTS, verify_evidence
from pytest_modelgate.serving.monitoring import Monitor
from pytest_modelgate.serving.validation import compile_checks

ENV_VAR = "MODELGATE_ENV"
# a bento served for a load gate before any promotion: no alias pins it, so no evidence is
# checked, only that the registry holds this exact version
CANDIDATE = "candidate"
JSON = ContentType("application/json")
DRIFT_WINDOW = 2000  # recent input rows kept for drift, per worker
ENV_BATCHING = "MODELGATE_BATCHING"  # "off" serves each request on its own (for comparisons)
ENV_MODEL_TAG = "MODELGATE_MODEL_TAG"
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
        raise ServeError(
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
    reference = getattr(ARGS, ARG_INPUT_SCHEMA, None)
    if not reference:
        return None
    from pytest_modelgate.candidate.input_schema import load_reference

    return load_reference(str(reference), f"bento argument {ARG_INPUT_SCHEMA}")


def check_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """Validate one request's rows with the pandera schema (before batching, so a bad request
    never fails its batch neighbours); the error names row, column, check and value. Returns
    the rows as plain dicts. Rows the fast pass clears skip pandera's frame-building cost."""
    records = [r.model_dump(by_alias=True) if isinstance(r, BaseModel) else r for r in rows]
    if SCHEMA is None or not records or (FAST_CHECK is not None and FAST_CHECK(records)):
        return records
    from pytest_modelgate.candidate.input_schema import validate

    outcome = validate(SCHEMA, to_frame(records))
    if not outcome.passed:
        cases = "; ".join(
            f"row {c['index']}: column {c['column']} failed {c['check']} (value {c['value']!r})"
            for c in outcome.first_cases
        )
        if MONITOR is not None:
            for c in outcome.by_check:
                MONITOR.rejected(f"{c['column']}: {c['check']}")
        raise ValueError(f"{outcome.failures} schema failure(s): {cases}")
    return records


def count_type_errors(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Count requests the signature's types reject, by pydantic error type."""
    try:
        return handler(value)
    except ValidationError as exc:
        if MONITOR is not None:
            for kind in {e["type"] for e in exc.errors()}:
                MONITOR.rejected(kind)
        raise


def to_frame(rows: list[Any]) -> Any:
    import pandas as pd

    records = [r.model_dump(by_alias=True) if isinstance(r, BaseModel) else r for r in rows]
    return pd.DataFrame.from_records(records)


ARGS = bentoml.use_arguments()
MODEL = bentoml.models.BentoModel(model_tag())
SCHEMA = input_schema()
FAST_CHECK = compile_checks(SCHEMA) if SCHEMA is not None else None
Row: Any = row_model(Path(MODEL.stored.path) / MLFLOW_DIR) if MODEL.stored else None
if Row is None:
    Row = dict[str, Any]
Rows = Annotated[list[Row], WrapValidator(count_type_errors), AfterValidator(check_rows)]
MONITOR: Monitor | None = None  # set by the worker's service instance


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


def check_candidate(name: str, version: int, run_id: str) -> dict[str, str]:
    """A candidate serves only the registry version (and run) it was built from."""
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        refuse("MLFLOW_TRACKING_URI is not set: the registry names the candidate")
    try:
        found = mlflow.MlflowClient(uri, uri).get_model_version(name, str(version))
    except Exception as exc:
        refuse(f"cannot read {name} v{version} from {uri}: {exc}")
    if run_id and found.run_id != run_id:
        refuse(f"{name} v{version} comes from run {found.run_id}, this bento from {run_id}")
    logger.warning("modelgate: serving unpromoted %s v%s as a candidate", name, version)
    return {}


def pinned_for(env: str) -> tuple[str, int, str, str, dict[str, str]]:
    """(name, version, run, env, evidence) of this bento's model once checked for ``env``."""
    if env not in (*ENVIRONMENTS, CANDIDATE):
        refuse(f"{ENV_VAR}={env!r}: set it to one of {', '.join((*ENVIRONMENTS, CANDIDATE))}")
    if MODEL.stored is None:
        refuse(f"model {MODEL.tag} is not in the BentoML store")
    labels = dict(MODEL.stored.info.labels)
    name, version, run_id = (
        labels[LABEL_NAME],
        int(labels[LABEL_VERSION]),
        labels.get(LABEL_RUN, ""),
    )
    if env == CANDIDATE:
        evidence = check_candidate(name, version, run_id)
        gated = str(MODEL.stored.info.metadata.get(META_DIGEST) or "")
        check_files(name, version, gated, "the digest the build recorded")
    else:
        evidence = check_pinned(name, version, env)
        check_files(name, version, evidence.get("model_digest", ""), f"its {env} evidence")
    return name, version, run_id, env, evidence


def check_files(name: str, version: int, gated: str, source: str) -> None:
    """Serve only the files that were gated: their digest, recomputed over the model inside
    this bento, must be the one the evidence records."""
    from pytest_modelgate.candidate.digest import directory_digest

    if not gated:
        refuse(f"{name} v{version}: {source} names no digest of the gated model's files")
    assert MODEL.stored is not None
    found = directory_digest(Path(MODEL.stored.path) / MLFLOW_DIR)
    if found != gated:
        refuse(
            f"the model files in this bento (sha256 {found[:16]}) are not the ones gated for "
            f"{name} v{version} (sha256 {gated[:16]}, {source}): what it would serve is not what "
            "was gated"
        )
    logger.info("modelgate: model files of %s v%s match the gated digest", name, version)


# Checked on import, so `bentoml serve` itself exits when the check fails (a failing worker
# would only be restarted). Building imports this module without MODELGATE_ENV.
PINNED = pinned_for(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None
# Adaptive batching: one model call for the requests that arrive together. max_batch_size
# counts rows, so a 1,000-row request fits; BentoML answers 503 when it predicts a request would
# wait longer than max_latency_ms, and its estimate counts requests, not rows, so a burst of
# large requests must not make it shed one-row requests. The API functions are async: the
# model call (well under a millisecond here) runs on the event loop, with no hop to a thread
# that has to win the GIL back from it.
BATCHING: dict[str, Any] = (
    {"batchable": True, "max_batch_size": 4096, "max_latency_ms": 500}
    if os.environ.get(ENV_BATCHING, "on") != "off"
    else {}
)


# Serving settings, each measured by bench/serving.py:
# - traffic.timeout: BentoML's timeout middleware keeps every request's context (and its
#   tracing span) alive until the timer fires, so resident memory grows with rate x timeout;
#   a prediction takes milliseconds, 3 s is ample and keeps that window (and memory) small.
# - no access log line, and no tracing span for prediction requests (BentoML records every
#   span whatever the sample rate); Prometheus metrics stay on.
# - JSON outputs say their content type, so BentoML does not derive it from the JSON schema
#   on every response.
@bentoml.service(
    name="modelgate",
    traffic={"timeout": 3},
    logging={"access": {"enabled": False}},
    tracing={"sample_rate": 0.0, "excluded_urls": ["/predict", "/predict_proba"]},
    monitoring={"enabled": False},
)
class ModelGate:
    bento_model = MODEL

    def __init__(self) -> None:
        if PINNED is None:
            refuse(f"{ENV_VAR} is not set: set it to one of {', '.join(ENVIRONMENTS)}")
        self.name, self.version, self.run_id, self.env, self.evidence = PINNED
        self.model = load(Path(self.bento_model.path) / MLFLOW_DIR)
        # the imports and the model are long-lived: keep them out of every later collection,
        # whose cost otherwise grows with the start-up heap
        gc.collect()
        gc.freeze()
        metadata = MODEL.stored.info.metadata if MODEL.stored else {}
        self.reference = json.loads(metadata[META_DRIFT]) if META_DRIFT in metadata else None
        self.window: deque[dict[str, Any]] = deque(maxlen=DRIFT_WINDOW)
        global MONITOR
        MONITOR = self.monitor = Monitor(self.name, self.version, self.run_id, self.env)
        if self.reference is not None:
            self.monitor.every(self.refresh_drift)
        self.monitor.start()
        self.ready = True
        logger.info("modelgate: serving %s v%s as %s", self.name, self.version, self.env)

    def __is_ready__(self) -> bool:
        return bool(getattr(self, "ready", False))

    @bentoml.api(**BATCHING)  # type: ignore[untyped-decorator]
    async def predict(self, rows: Rows) -> Annotated[list[Any], JSON]:
        if not rows:
            return []
        labels = [plain(v) for v in self.call(self.model.predict, rows)]
        self.monitor.predicted("predict", labels)
        return labels

    @bentoml.api(**BATCHING)  # type: ignore[untyped-decorator]
    async def predict_proba(self, rows: Rows) -> Annotated[list[dict[str, float]], JSON]:
        method = getattr(self.model, "predict_proba", None)
        if method is None:
            raise NotServable(f"{self.name} v{self.version} gives no class probabilities")
        if not rows:
            return []
        classes = [str(plain(c)) for c in self.model.classes_]
        probabilities = self.call(method, rows)
        self.monitor.predicted("predict_proba", (classes[i] for i in probabilities.argmax(axis=1)))
        return [dict(zip(classes, map(float, p), strict=True)) for p in probabilities]

    @bentoml.api(route="/drift")  # type: ignore[untyped-decorator]
    def drift(self) -> Annotated[dict[str, Any], JSON]:
        """Per-feature PSI of the recent inputs against the reference baked into the bento."""
        if self.reference is None:
            return {"method": "psi", "reference": None, "features": {}, "drifted": []}
        report = self.refresh_drift()
        return {**report, "reference_rows": self.reference.get("rows")}

    def refresh_drift(self) -> dict[str, Any]:
        from pytest_modelgate.stats.drift import drift_report

        report = drift_report(self.reference or {"features": {}}, list(self.window))
        self.monitor.set_drift(
            {k: f["psi"] for k, f in report["features"].items()}, report["threshold"]
        )
        return report

    def call(self, method: Any, rows: list[Any]) -> Any:
        """The model's answer for ``rows``; a failure is counted by its exception class."""
        self.window.extend(rows)
        try:
            return method(to_frame(rows))
        except Exception as exc:
            self.monitor.failed(exc)
            raise

    @bentoml.api(route="/model_info")  # type: ignore[untyped-decorator]
    def model_info(self) -> Annotated[dict[str, Any], JSON]:
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
