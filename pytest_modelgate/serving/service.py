"""Serve the registry version pinned for one environment.

The bento holds one exact registry version (the ``model_tag`` bento argument a promotion bakes
in). ``MODELGATE_ENV`` names the environment it serves; at start-up the service checks in the
registry (``MLFLOW_TRACKING_URI``) that the environment's alias pins this version and that the
version carries passing gate evidence for it, and refuses to start otherwise.

A prediction takes one of three JSON bodies (records, MLflow's ``dataframe_split``, one list
per column: ``bodies.py``), checked a whole column at a time against the input contract: the
MLflow signature's types and the pandera checks of the schema the gate checked (the
``input_schema`` bento argument; ``columns.py``). The request limits middleware
(``limits.py``) does this before BentoML sees the request and refuses what does not fit: 415
not JSON, 413 over the byte or row limit, 400 a body that breaks the contract (naming row,
column, check and value), 503 not ready. The model gets one DataFrame per batch.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import bentoml
import numpy as np
from bentoml.validators import ContentType

from pytest_modelgate.bento.build import (
    ARG_INPUT_SCHEMA,
    ARG_MODEL_TAG,
    LABEL_NAME,
    LABEL_RUN,
    LABEL_VERSION,
    META_DIGEST,
    META_DRIFT,
    MLFLOW_DIR,
)
from pytest_modelgate.candidate.adapters import Adapted
from pytest_modelgate.candidate.registry import redacted
from pytest_modelgate.errors import EvidenceError, ServeError
from pytest_modelgate.jsonio import plain
from pytest_modelgate.promotion.aliases import version_text
from pytest_modelgate.promotion.evidence import verify_evidence
from pytest_modelgate.promotion.path import ENV_PATTERN
from pytest_modelgate.promotion.registry import Registry
from pytest_modelgate.serving.bodies import Shape
from pytest_modelgate.serving.columns import Contract, from_model_dir
from pytest_modelgate.serving.limits import Limits, RequestLimits, dump, positive_setting
from pytest_modelgate.serving.monitoring import Monitor, Window
from pytest_modelgate.serving.openapi import Answers, document
from pytest_modelgate.serving.payloads import JSONOutput, RowsInput
from pytest_modelgate.serving.refusals import NotReady, NotServable, Refusal

ENV_VAR = "MODELGATE_ENV"
ALIAS_VAR = (
    "MODELGATE_ALIAS"  # the registry alias of ENV_VAR's environment, when the path names one
)
# a bento served for a load gate before any promotion: no alias pins it, so no evidence is
# checked, only that the registry holds this exact version
CANDIDATE = "candidate"
JSON = ContentType("application/json")
DRIFT_WINDOW = 2000  # recent input rows kept for drift, per worker
ENV_BATCHING = "MODELGATE_BATCHING"  # "off" serves each request on its own (for comparisons)
ENV_MAX_LATENCY = "MODELGATE_MAX_LATENCY_MS"  # longest wait for a batch before BentoML sheds it
ENV_MODEL_TAG = "MODELGATE_MODEL_TAG"
ENV_WORKERS = "MODELGATE_WORKERS"  # worker processes: a number, or "cpu_count" (default 1)
logger = logging.getLogger("modelgate.service")


def model_tag() -> str:
    tag = getattr(ARGS, ARG_MODEL_TAG, None) or os.environ.get(ENV_MODEL_TAG)
    if not tag:
        raise ServeError(
            f"no model to serve: build the bento with --arg {ARG_MODEL_TAG}=NAME:VERSION "
            f"(a promotion does) or set {ENV_MODEL_TAG}"
        )
    return str(tag)


def input_schema() -> Any:
    """The schema gate's pandera schema named by the ``input_schema`` bento argument, or None."""
    reference = getattr(ARGS, ARG_INPUT_SCHEMA, None)
    if not reference:
        return None
    from pytest_modelgate.candidate.input_schema import load_reference

    return load_reference(str(reference), f"bento argument {ARG_INPUT_SCHEMA}")


@dataclass
class Loaded:
    """What the worker's service instance sets once the model is loaded; the request limits
    middleware reads it (readiness, whether probabilities can be served, the metrics)."""

    ready: bool = False
    probabilities: bool = True
    monitor: Monitor | None = None
    answers: Answers | None = None


ARGS = bentoml.use_arguments()
MODEL = bentoml.models.BentoModel(model_tag())
SCHEMA = input_schema()
CONTRACT: Contract | None = (
    from_model_dir(str(Path(MODEL.stored.path) / MLFLOW_DIR), SCHEMA) if MODEL.stored else None
)
LOADED = Loaded()


def refuse(message: str) -> NoReturn:
    logger.critical("modelgate: refusing to start: %s", message)
    raise SystemExit(f"modelgate: refusing to start: {message}")


def check_pinned(name: str, version: int, env: str) -> dict[str, str]:
    """The evidence that lets this version serve ``env``; refuses to start without it."""
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        refuse("MLFLOW_TRACKING_URI is not set: the registry holds the evidence to check")
    # the path's alias of the environment (modelgate serve sets it), else its own name
    alias = os.environ.get(ALIAS_VAR) or env
    registry = Registry(mlflow.MlflowClient(uri, uri), uri, {env: alias})
    try:
        pinned = registry.pinned(name, env)
    except Exception as exc:
        refuse(f"cannot read alias {alias!r} of {name} from {redacted(uri)}: {exc}")
    if pinned != version:
        refuse(f"alias {alias!r} pins {name} {version_text(pinned)}, this bento holds v{version}")
    try:
        evidence = verify_evidence(registry, name, version, env)
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
    if not ENV_PATTERN.match(env):
        refuse(
            f"{ENV_VAR}={env!r}: set it to the environment whose alias this bento serves (an "
            f"environment of the promotion path, such as staging) or to {CANDIDATE!r}"
        )
    if MODEL.stored is None:
        refuse(f"model {MODEL.tag} is not in the BentoML store")
    if CONTRACT is None:
        refuse(
            f"model {MODEL.tag} has no input signature with column names and no input schema: "
            "log it with a signature (mlflow.models.infer_signature) so requests can be checked"
        )
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
try:
    LIMITS = Limits.from_env()
except ServeError as exc:
    refuse(str(exc))
SHAPE = Shape(CONTRACT.names, CONTRACT.required, LIMITS.max_rows) if CONTRACT else None


def workers() -> int | str:
    text = os.environ.get(ENV_WORKERS, "1").strip()
    if text == "cpu_count" or (text.isdigit() and int(text) >= 1):
        return text if text == "cpu_count" else int(text)
    refuse(f"{ENV_WORKERS}={text!r}: expected a whole number >= 1 or cpu_count")


# Adaptive batching: one model call for the requests that arrive together. A request's rows
# are one numpy array, so max_batch_size counts rows (a larger request is split across
# batches). A model call costs about the same for 1 row as for 4,000 (sklearn's checks
# dominate), so large batches are cheap: 16,384 rows cut the CPU per 1,000-row request by a
# quarter against 4,096 under 16 concurrent clients (bench/serving.py). BentoML answers 503
# when a request would wait longer than max_latency_ms, and its estimate counts requests, not
# rows, so a burst of large requests must not make it shed one-row requests. The wait is a
# setting: a machine shared with other heavy processes can stall the loop past 500 ms. The API
# functions are async: the model call (a fraction of a millisecond here) runs on the event
# loop, with no hop to a thread that has to win the GIL back from it.
try:
    MAX_LATENCY_MS = positive_setting(os.environ, ENV_MAX_LATENCY, 500)
except ServeError as exc:
    refuse(str(exc))
BATCHING: dict[str, Any] = (
    {"batchable": True, "max_batch_size": 16384, "max_latency_ms": MAX_LATENCY_MS}
    if os.environ.get(ENV_BATCHING, "on") != "off"
    else {}
)
ROWS_API: dict[str, Any] = {"input_spec": RowsInput, "output_spec": JSONOutput, **BATCHING}


def checked_rows(raw: bytes) -> np.ndarray:
    """A prediction body parsed and checked against the contract (the middleware calls this)."""
    if SHAPE is None or CONTRACT is None:  # pinned_for refuses to start without a contract
        raise NotReady("the service has no input contract")
    parsed = SHAPE.parse(raw)
    rows: np.ndarray = CONTRACT.validate(parsed.columns, parsed.rows, parsed.locate)
    return rows


def checked_rows_for_probabilities(raw: bytes) -> np.ndarray:
    if not LOADED.probabilities:
        raise NotServable(f"{MODEL.tag} gives no class probabilities")
    return checked_rows(raw)


def count_refusal(refusal: Refusal) -> None:
    if LOADED.monitor is not None:
        LOADED.monitor.rejected(refusal.reasons)


# Serving settings, each measured by bench/serving.py:
# - workers: one process by default; MODELGATE_WORKERS=2 (or cpu_count) serves from more
#   cores, each worker batching its own requests.
# - traffic.timeout: BentoML's timeout middleware keeps every request's context (and its
#   tracing span) alive until the timer fires, so resident memory grows with rate x timeout;
#   a prediction takes milliseconds, 3 s is ample and keeps that window (and memory) small.
# - no access log line, and no tracing span for prediction requests (BentoML records every
#   span whatever the sample rate); Prometheus metrics stay on.
# - JSON outputs say their content type, so BentoML does not derive it from the JSON schema
#   on every response.
@bentoml.service(
    name="modelgate",
    workers=workers(),
    traffic={"timeout": 3},
    logging={"access": {"enabled": False}},
    tracing={"sample_rate": 0.0, "excluded_urls": ["/predict", "/predict_proba"]},
    monitoring={"enabled": False},
)
class ModelGate:
    bento_model = MODEL

    def __init__(self) -> None:
        if PINNED is None:
            refuse(
                f"{ENV_VAR} is not set: set it to the environment whose alias this bento "
                "serves (an environment of the promotion path, such as staging)"
            )
        assert CONTRACT is not None  # pinned_for refused to start without one
        self.name, self.version, self.run_id, self.env, self.evidence = PINNED
        self.contract = CONTRACT
        self.loaded = load(Path(self.bento_model.path) / MLFLOW_DIR)
        self.model = self.loaded.model
        classes = getattr(self.model, "classes_", None)
        self.classes = None if classes is None else [plain(c) for c in classes]
        # the imports and the model are long-lived: keep them out of every later collection,
        # whose cost otherwise grows with the start-up heap
        gc.collect()
        gc.freeze()
        metadata = MODEL.stored.info.metadata if MODEL.stored else {}
        self.reference = json.loads(metadata[META_DRIFT]) if META_DRIFT in metadata else None
        self.window = Window(DRIFT_WINDOW, self.contract.column_values)
        self.unbinned: deque[np.ndarray] = deque()  # batches not yet counted by feature bin
        self.monitor = Monitor(self.name, self.version, self.run_id, self.env)
        if self.reference is not None:
            self.monitor.every(self.refresh_drift)
            self.monitor.every(self.count_bins)
        self.monitor.start()
        LOADED.monitor = self.monitor
        LOADED.probabilities = hasattr(self.model, "predict_proba")
        LOADED.answers = answers_of(self.classes, LOADED.probabilities)
        LOADED.ready = True
        logger.info("modelgate: serving %s v%s as %s", self.name, self.version, self.env)

    async def __is_ready__(self) -> bool:
        return LOADED.ready

    @bentoml.api(**ROWS_API)  # type: ignore[untyped-decorator]
    async def predict(self, rows: np.ndarray) -> Any:
        """Labels, one per row, in order: the body is records (``{"rows": [...]}``), MLflow's
        ``{"dataframe_split": {"columns": [...], "data": [...]}}`` or ``{"columns": {...}}``."""
        if not len(rows):
            return np.empty(0, object)
        labels = self.call(self.model.predict, rows)
        if self.classes is not None or np.asarray(labels).dtype.kind != "f":
            # a class per row; a regressor's numbers would make a label per value
            self.monitor.predicted("predict", np.asarray(labels))
        return labels

    @bentoml.api(**ROWS_API)  # type: ignore[untyped-decorator]
    async def predict_proba(self, rows: np.ndarray) -> Any:
        """One {class: probability} per row, in order; the bodies of /predict."""
        if not len(rows):
            return []
        classes = [str(c) for c in self.classes or ()]
        probabilities = self.call(self.model.predict_proba, rows)
        self.monitor.predicted("predict_proba", np.asarray(classes)[probabilities.argmax(axis=1)])
        return [dict(zip(classes, p, strict=True)) for p in probabilities.tolist()]

    @bentoml.api(route="/drift")  # type: ignore[untyped-decorator]
    def drift(self) -> Annotated[dict[str, Any], JSON]:
        """Per-feature PSI of the recent inputs against the reference baked into the bento."""
        if self.reference is None:
            return {"method": "psi", "reference": None, "features": {}, "drifted": []}
        report = self.refresh_drift()
        return {**report, "reference_rows": self.reference.get("rows")}

    def refresh_drift(self) -> dict[str, Any]:
        from pytest_modelgate.stats.drift import column_drift_report

        columns, rows = self.window.columns()
        report = column_drift_report(self.reference or {"features": {}}, columns, rows)
        self.monitor.set_drift(
            {k: f["psi"] for k, f in report["features"].items()}, report["threshold"]
        )
        return report

    def count_bins(self) -> None:
        """Count the batches since the last refresh by feature bin (off the request path)."""
        batches = []
        while self.unbinned:
            batches.append(self.unbinned.popleft())
        if batches and self.reference is not None:
            columns = self.contract.column_values(np.concatenate(batches))
            self.monitor.count_bins(self.reference, columns)

    def call(self, method: Any, rows: np.ndarray) -> Any:
        """The model's answer for a batch, from one DataFrame; a failure is counted by its
        exception class."""
        self.window.add(rows)
        if self.reference is not None:
            self.unbinned.append(rows)
        try:
            return method(self.contract.frame(rows))
        except Exception as exc:
            self.monitor.failed(exc)
            raise

    @bentoml.api(route="/model_info")  # type: ignore[untyped-decorator]
    def model_info(self) -> Annotated[dict[str, Any], JSON]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "env": self.env,
            "alias": os.environ.get(ALIAS_VAR) or self.env,
            "evidence_sha256": self.evidence.get("report_sha256"),
            "gated_at": self.evidence.get("gated_at"),
            "bento": self.evidence.get("bento"),
            "flavour": self.loaded.flavour,
            "adapter": self.loaded.adapter,
            "probabilities": LOADED.probabilities,
        }


def answers_of(classes: list[Any] | None, probabilities: bool) -> Answers:
    label: dict[str, Any] = {"enum": classes} if classes is not None else {}
    return Answers(label, classes, probabilities)


def openapi() -> bytes:
    """The service's OpenAPI document (built once the model is loaded)."""
    if CONTRACT is None or LOADED.answers is None:
        raise NotReady("the model is not loaded yet: retry shortly")
    routes = {"/predict": "labels", "/predict_proba": "probabilities"}
    base = SERVICE.openapi_spec.asdict()
    return dump(document(base, CONTRACT, LIMITS.max_rows, routes, LOADED.answers))


# bentoml.service made the class a bentoml.Service (mypy sees the class)
SERVICE: Any = ModelGate
SERVICE.add_asgi_middleware(
    RequestLimits,
    limits=LIMITS,
    parsers={"/predict": checked_rows, "/predict_proba": checked_rows_for_probabilities},
    json_routes=[api.route for api in SERVICE.apis.values()],
    ready=lambda: LOADED.ready,
    openapi=openapi,
    refused=count_refusal,
)


def load(mlflow_dir: Path) -> Adapted:
    """The model through the same flavour adapter the gates called (``candidate.adapters``),
    so what is served answers what was gated."""
    from mlflow.models import Model

    from pytest_modelgate.candidate.adapters import load_model

    return load_model(str(mlflow_dir), list(Model.load(str(mlflow_dir)).flavors))
