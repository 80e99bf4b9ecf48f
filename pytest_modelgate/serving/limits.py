"""Strict HTTP in front of the BentoML app: content type, body size, readiness and refusals.

BentoML 1.4 reads a request body whole, has no size limit, and answers 500 for any exception
that is not its own. This ASGI middleware (the service adds it with ``add_asgi_middleware``)
sees each request before BentoML does:

- a POST body that is not ``Content-Type: application/json`` gets 415 (an empty body needs no
  content type);
- a declared ``Content-Length`` over the byte limit gets 413 before any of the body is read; a
  streamed body is counted as it arrives and refused the moment it passes the limit;
- on a prediction route, the body is parsed and checked here, so a refusal (400 invalid body,
  413 too many rows, 503 not ready) never reaches BentoML's batching and never fails a batch
  neighbour. The checked rows reach the API through the ASGI scope (``SCOPE_ROWS``);
- ``GET /docs.json`` answers the service's OpenAPI document, which lists every status above.

Each refusal is a ``Refusal`` (a BentoML exception with its status), sent as
``{"error": message, "detail": [...]}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pytest_modelgate.errors import ServeError
from pytest_modelgate.serving.refusals import (
    NotReady,
    Refusal,
    TooLarge,
    UnsupportedMediaType,
)

ENV_MAX_BODY = "MODELGATE_MAX_BODY_BYTES"
ENV_MAX_ROWS = "MODELGATE_MAX_ROWS"
DEFAULT_MAX_BODY = 4 * 2**20
DEFAULT_MAX_ROWS = 10_000
SCOPE_ROWS = "modelgate.rows"
DOCS_PATH = "/docs.json"
JSON_TYPE = "application/json"
UNEXPECTED = "An unexpected error has occurred, please check the server log."
logger = logging.getLogger("modelgate.service")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Parser = Callable[[bytes], Any]


@dataclass(frozen=True)
class Limits:
    """How large a request may be: bytes of body, rows of input."""

    max_body_bytes: int = DEFAULT_MAX_BODY
    max_rows: int = DEFAULT_MAX_ROWS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        return cls(
            positive_setting(environ, ENV_MAX_BODY, DEFAULT_MAX_BODY),
            positive_setting(environ, ENV_MAX_ROWS, DEFAULT_MAX_ROWS),
        )


def positive_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    """A whole-number setting >= 1 read from ``environ``; a bad value names the variable."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ServeError(f"{name}={text!r}: expected a whole number >= 1")
    return value


class RequestLimits:
    """The ASGI middleware; ``parsers`` maps a prediction route to the function that turns its
    body into checked rows (raising a ``Refusal``); ``json_routes`` are the POST routes whose
    bodies must be JSON; ``ready`` says whether the model can answer; ``openapi`` gives the
    OpenAPI document's bytes; ``refused`` is told of every refusal (for the metrics)."""

    def __init__(
        self,
        app: App,
        *,
        limits: Limits,
        parsers: Mapping[str, Parser],
        json_routes: Collection[str] = (),
        ready: Callable[[], bool] = lambda: True,
        openapi: Callable[[], bytes] | None = None,
        refused: Callable[[Refusal], None] = lambda _: None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.parsers = dict(parsers)
        self.json_routes = frozenset(json_routes) | frozenset(parsers)
        self.ready = ready
        self.openapi = openapi
        self.refused = refused
        self._document: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == DOCS_PATH and self.openapi is not None:
            return await self._docs(send)
        length, media, streamed = _body_headers(scope)
        parser = self.parsers.get(path) if method == "POST" else None
        try:
            if length is not None and length > self.limits.max_body_bytes:
                raise self._too_large(f"Content-Length {length}")
            has_body = bool(length) or streamed
            if has_body and method == "POST" and path in self.json_routes:
                _check_media_type(media)
            if not has_body and parser is None:
                return await self.app(scope, receive, send)
            body = await self._read(receive)
            if body is None:
                return None  # the client went away
            if parser is not None:
                if not self.ready():
                    raise NotReady("the model is not loaded yet: retry shortly")
                scope[SCOPE_ROWS] = parser(body)
        except Refusal as refusal:
            self.refused(refusal)
            return await send_refusal(send, refusal)
        except Exception:  # a fault of ours, not of the request: logged, answered as BentoML does
            logger.exception("modelgate: checking a request to %s failed", path)
            return await _send_json(send, 500, dump({"error": UNEXPECTED}))
        await self.app(scope, _replay(body, receive), send)
        return None

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, counted as it arrives; over the limit it is refused at once."""
        chunks, size, limit = [], 0, self.limits.max_body_bytes
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._too_large(f"a body of more than {size} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self, what: str) -> TooLarge:
        limit = self.limits.max_body_bytes
        return TooLarge(
            f"{what} is over the limit of {limit} bytes ({ENV_MAX_BODY}): split the request",
            [{"loc": [], "type": "body_too_large", "limit": limit}],
            reasons=["body_too_large"],
        )

    async def _docs(self, send: Send) -> None:
        if self._document is None and self.openapi is not None:
            try:
                self._document = self.openapi()
            except Refusal as refusal:
                return await send_refusal(send, refusal)
        await _send_json(send, 200, self._document or b"{}")
        return None


def _body_headers(scope: Scope) -> tuple[int | None, bytes | None, bool]:
    """(Content-Length, Content-Type, whether the body is chunked) from the raw headers."""
    length, media, streamed = None, None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"content-type":
            media = value
        elif name == b"transfer-encoding":
            streamed = True
    return length, media, streamed


def _check_media_type(media: bytes | None) -> None:
    text = (media or b"").decode("latin-1")
    kind, _, params = text.partition(";")
    charset = params.partition("charset=")[2].strip().strip('"').lower()
    if kind.strip().lower() != JSON_TYPE or charset not in ("", "utf-8", "utf8"):
        shown = text or "no Content-Type"
        raise UnsupportedMediaType(
            f"{shown} is not accepted: send the body as Content-Type: {JSON_TYPE}",
            [{"loc": ["headers", "content-type"], "type": "unsupported_media_type"}],
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def send_refusal(send: Send, refusal: Refusal) -> None:
    extra = [(b"retry-after", b"1")] if isinstance(refusal, NotReady) else []
    await _send_json(send, int(refusal.error_code), dump(refusal.body()), extra)


def dump(value: Any) -> bytes:
    """JSON bytes; integers past 64 bits (which a refusal may quote) go through the standard
    library, which writes them as JSON allows."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(value, default=str).encode()


async def _send_json(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", JSON_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
