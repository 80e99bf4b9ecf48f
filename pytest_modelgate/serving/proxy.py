"""The front of ``modelgate serve ENV --follow``: one listening port that forwards each request
to the bento currently serving the environment, so that switching bentos refuses nothing.

A switch points new requests at the new bento; requests already forwarded to the old one finish
there (``Backend.inflight`` counts them), and the old bento is stopped only once they have.
Written as a plain ASGI app over httpx (both come with BentoML) because a general reverse proxy
(nginx, envoy) is another process and configuration to ship, and the switch must follow the
registry, which only this process reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

# hop-by-hop headers (RFC 9110 7.6.1), and those httpx recomputes for the decoded body
DROPPED = {
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"host", b"content-length", b"content-encoding",
}  # fmt: skip
TIMEOUT_S = 120.0


@dataclass(eq=False)  # one backend is one server: compared by identity
class Backend:
    url: str
    version: int
    client: Any = None  # httpx.AsyncClient, made in the event loop that uses it
    inflight: int = 0


@dataclass
class Switchboard:
    """The ASGI app; ``current`` is replaced (one assignment) by the thread that follows."""

    current: Backend | None = None
    loop: asyncio.AbstractEventLoop | None = None
    retired: list[Backend] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                known = {id(b): b for b in [*self.retired, self.current] if b is not None}
                for backend in known.values():
                    if backend.client is not None:
                        await backend.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def discard(self, backend: Backend) -> None:
        """Forget a stopped backend, closing its connections in the loop that opened them."""
        if backend in self.retired:
            self.retired.remove(backend)
        if backend.client is not None and self.loop is not None and not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(backend.client.aclose(), self.loop)

    async def _forward(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import httpx

        backend = self.current
        if backend is None:
            await _answer(send, 503, b'{"error": "no bento is serving yet"}')
            return
        backend.inflight += 1
        try:
            body = await _body(receive)
            if backend.client is None:
                limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
                backend.client = httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits)
            target = backend.url + scope["raw_path"].decode("latin-1")
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            headers = [(k, v) for k, v in scope["headers"] if k.lower() not in DROPPED]
            try:
                answer = await backend.client.request(
                    scope["method"], target, content=body, headers=headers
                )
            except httpx.HTTPError as exc:
                await _answer(
                    send,
                    502,
                    f'{{"error": "the bento did not answer: {type(exc).__name__}"}}'.encode(),
                )
                return
            kept = [(k, v) for k, v in answer.headers.raw if k.lower() not in DROPPED]
            await _answer(send, answer.status_code, answer.content, kept)
        finally:
            backend.inflight -= 1


async def _body(receive: Any) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = headers if headers is not None else [(b"content-type", b"application/json")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
