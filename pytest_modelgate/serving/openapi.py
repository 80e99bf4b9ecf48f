"""The service's OpenAPI document: BentoML's, made exact about what the service takes and
answers.

BentoML 1.4 writes OpenAPI 3.0.2 with one pydantic-made schema per API and the same error
responses (400, 404, 500) for every API. This document is OpenAPI 3.1 (JSON Schema 2020-12,
so a positional row of ``dataframe_split.data`` is typed with ``prefixItems``). For each
prediction route it states the three body forms with every column's type, bounds and pandera
checks and the row limit; for every route, each status the service answers and its body.
JSON Schema cannot say that the lists of the column form have one length: that form's
description says so.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_modelgate.serving.columns import Contract

OPENAPI = "3.1.0"
REF = "#/components/schemas/"
TEXT = {"text/plain": {"schema": {"type": "string"}}}


@dataclass(frozen=True)
class Answers:
    """What the prediction routes answer with: the JSON schema of one label, the classes when
    the model has them (the probabilities' keys), and whether it gives probabilities."""

    label: Mapping[str, Any]
    classes: Sequence[Any] | None
    probabilities: bool


def body_schemas(contract: Contract, max_rows: int) -> dict[str, dict[str, Any]]:
    """The three body forms a prediction takes, as named component schemas."""
    values = {c.name: c.json_schema() for c in contract.columns}
    names = list(contract.names)
    required = [c.name for c in contract.columns if c.required]
    row = {
        "type": "object",
        "properties": values,
        "required": required,
        "additionalProperties": False,
    }
    split = {
        "type": "object",
        "properties": {
            "columns": {"const": names, "description": "the model's columns, in this order"},
            "data": {
                "type": "array",
                "maxItems": max_rows,
                "items": {
                    "type": "array",
                    "prefixItems": [values[n] for n in names],
                    "items": False,
                    "minItems": len(names),
                },
            },
            "index": {"type": "array", "description": "ignored (pandas writes it)"},
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }
    columns = {
        "type": "object",
        "description": f"one list per column, every list of the same length (at most {max_rows})",
        "properties": {
            n: {"type": "array", "items": values[n], "maxItems": max_rows} for n in names
        },
        "required": required,
        "additionalProperties": False,
    }
    return {
        "Records": _one_key("rows", {"type": "array", "items": row, "maxItems": max_rows}),
        "DataframeSplit": _one_key("dataframe_split", split),
        "Columns": _one_key("columns", columns),
    }


def _one_key(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {key: schema},
        "required": [key],
        "additionalProperties": False,
    }


REFUSAL = {
    "type": "object",
    "description": "what was refused and why; detail names row, column, check and value",
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["error"],
}
REFUSALS = {
    400: "the body is not JSON, not one of the body forms, or breaks the input contract",
    413: "the body is over the byte limit, or holds more rows than the row limit",
    415: "the body is not sent as Content-Type: application/json",
    500: "an error of the service's own (for a prediction: the model failed on its batch)",
    503: "the model is not ready, or the service is past its batching latency",
    504: "the request was not answered within the traffic timeout",
}


def document(
    base: Mapping[str, Any],
    contract: Contract,
    max_rows: int,
    prediction_routes: Mapping[str, str],
    answers: Answers,
) -> dict[str, Any]:
    """The service's document from BentoML's (``service.openapi_spec.asdict()``);
    ``prediction_routes`` maps each prediction route to "labels" or "probabilities"."""
    doc = copy.deepcopy(dict(base))
    doc["openapi"] = OPENAPI
    schemas = {
        **body_schemas(contract, max_rows),
        "Refusal": REFUSAL,
        "Labels": {"type": "array", "items": dict(answers.label)},
        "Probabilities": _probabilities(answers.classes),
    }
    doc["components"] = {"schemas": schemas}
    for path, item in doc["paths"].items():
        if "post" in item:
            kind = prediction_routes.get(path)
            item["post"] = _post(item["post"], kind, answers)
        elif "get" in item:
            item["get"]["responses"] = _infra(path)
    return doc


def _post(operation: dict[str, Any], kind: str | None, answers: Answers) -> dict[str, Any]:
    statuses = dict(REFUSALS)
    if kind is None:  # BentoML parses these bodies: an object, or nothing at all
        bentoml_responses = operation["responses"]
        ok = bentoml_responses.get(200) or bentoml_responses.get("200")  # keyed by number
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        operation["requestBody"] = {"required": False, "content": {"application/json": body}}
        statuses.pop(503)
    else:
        ok = {"description": f"{kind}, one per row, in order", "content": _json(kind.title())}
        forms = [{"$ref": REF + name} for name in ("Records", "DataframeSplit", "Columns")]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": forms}}},
        }
        if kind == "probabilities" and not answers.probabilities:
            ok = None
            statuses[501] = "the model gives no class probabilities"
    responses: dict[str, Any] = {"200": ok} if ok is not None else {}
    for status, text in sorted(statuses.items()):
        responses[str(status)] = {"description": text, "content": _json("Refusal")}
    operation["responses"] = responses
    return operation


def _infra(path: str) -> dict[str, Any]:
    ok = {"description": "the text Prometheus scrapes" if path == "/metrics" else "ok"}
    responses = {"200": {**ok, "content": TEXT}}
    if path in ("/readyz", "/livez"):
        responses["503"] = {"description": "not ready (or not alive)", "content": TEXT}
    return responses


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF + name}}}


def _probabilities(classes: Sequence[Any] | None) -> dict[str, Any]:
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    row: dict[str, Any] = {"type": "object", "additionalProperties": probability}
    if classes is not None:
        keys = [str(c) for c in classes]
        row = {
            "type": "object",
            "properties": dict.fromkeys(keys, probability),
            "required": keys,
            "additionalProperties": False,
        }
    return {"type": "array", "items": row}
