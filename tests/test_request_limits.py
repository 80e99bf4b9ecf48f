"""The request limits middleware on a small Starlette app, in process: what it refuses before
the app sees a request, and what it hands over when it lets one through."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pytest_modelgate.errors import ServeError
from pytest_modelgate.serving.limits import SCOPE_ROWS, Limits, RequestLimits, positive_setting
from pytest_modelgate.serving.refusals import InvalidBody, Refusal


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {"body": (await request.body()).decode(), "rows": request.scope.get(SCOPE_ROWS)}
    )


def parse(raw: bytes) -> Any:
    if raw == b"boom":
        raise RuntimeError("a fault in the service")
    if raw != b'{"ok": true}':
        raise InvalidBody("not ok", [{"loc": [], "type": "not_ok"}])
    return ["checked"]


def app(ready: bool = True, refused: list[Refusal] | None = None) -> Starlette:
    options = {
        "limits": Limits(max_body_bytes=100, max_rows=10),
        "parsers": {"/predict": parse},
        "json_routes": ["/info"],
        "ready": lambda: ready,
        "openapi": lambda: b'{"openapi": "3.1.0"}',
        "refused": (refused if refused is not None else []).append,
    }
    routes = [Route("/predict", echo, methods=["POST"]), Route("/info", echo, methods=["POST"])]
    return Starlette(routes=routes, middleware=[Middleware(RequestLimits, **options)])


def call(application: Starlette, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


JSON = {"content-type": "application/json"}


def test_a_checked_body_reaches_the_api_through_the_scope():
    response = call(app(), "POST", "/predict", content=b'{"ok": true}', headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"body": '{"ok": true}', "rows": ["checked"]}


@pytest.mark.parametrize("content_type", ["text/plain", "application/json; charset=latin-1", None])
def test_a_body_that_is_not_json_is_415_naming_what_was_sent(content_type):
    refused: list[Refusal] = []
    headers = {"content-type": content_type} if content_type else {}
    response = call(app(refused=refused), "POST", "/info", content=b"{}", headers=headers)
    assert response.status_code == 415
    assert "send the body as Content-Type: application/json" in response.json()["error"]
    assert [r.reasons for r in refused] == [("unsupported_media_type",)]


def test_a_declared_length_over_the_limit_is_413_and_an_empty_body_needs_no_type():
    response = call(app(), "POST", "/info", content=b"x" * 101, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"].startswith("Content-Length 101 is over the limit of 100")
    assert call(app(), "POST", "/info").status_code == 200


def test_a_refused_body_gets_its_status_and_detail():
    response = call(app(), "POST", "/predict", content=b"[]", headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "not ok", "detail": [{"loc": [], "type": "not_ok"}]}


def test_a_model_that_is_not_ready_is_503_with_retry_after():
    response = call(app(ready=False), "POST", "/predict", content=b'{"ok": true}', headers=JSON)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "not loaded yet" in response.json()["error"]


def test_a_fault_of_the_service_is_a_json_500_not_a_traceback():
    response = call(app(), "POST", "/predict", content=b"boom", headers=JSON)
    assert response.status_code == 500
    assert response.json() == {
        "error": "An unexpected error has occurred, please check the server log."
    }


def test_docs_json_is_the_services_own_document():
    response = call(app(), "GET", "/docs.json")
    assert response.json() == {"openapi": "3.1.0"}


@pytest.mark.parametrize("value", ["0", "-3", "lots"])
def test_a_limit_setting_that_is_not_a_positive_number_is_named(value):
    with pytest.raises(ServeError, match=f"MODELGATE_MAX_ROWS='{value}': expected a whole"):
        Limits.from_env({"MODELGATE_MAX_ROWS": value})


@pytest.mark.parametrize("text", ["0", "-3", "fast", "1.5"])
def test_a_bad_whole_number_setting_names_its_variable(text: str) -> None:
    with pytest.raises(ServeError, match=rf"MODELGATE_MAX_LATENCY_MS='{re.escape(text)}'"):
        positive_setting({"MODELGATE_MAX_LATENCY_MS": text}, "MODELGATE_MAX_LATENCY_MS", 500)


def test_an_unset_whole_number_setting_is_its_default() -> None:
    assert positive_setting({}, "MODELGATE_MAX_LATENCY_MS", 500) == 500
    assert positive_setting({"X": " 80 "}, "X", 500) == 80
