"""The service's refusals of a request, as BentoML exceptions that carry their HTTP status.

Each one says what was wrong in its message and, in ``detail``, where: for a value that breaks
the input contract, its row, column, check and value. ``reasons`` are the bounded labels the
service counts it under (``modelgate_errors_total{kind="validation",reason}``). The request
limits middleware renders any of them as ``{"error": message, "detail": [...]}`` with its status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from bentoml.exceptions import BadInput, BentoMLException, ServiceUnavailable


class Refusal(BentoMLException):
    """A request the service will not answer; ``error_code`` is its HTTP status."""

    reason = "refused"

    def __init__(
        self,
        message: str,
        detail: Iterable[Mapping[str, Any]] = (),
        *,
        reasons: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = [dict(d) for d in detail]
        self.reasons = tuple(dict.fromkeys(reasons)) or (self.reason,)

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "detail": self.detail}


class InvalidBody(Refusal, BadInput):
    """The body is not JSON, not one of the accepted forms, or breaks the input contract."""

    reason = "invalid_body"


class TooLarge(Refusal):
    """The body is over the byte limit, or it holds more rows than the row limit."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    reason = "too_large"


class UnsupportedMediaType(Refusal):
    """A body that does not say ``Content-Type: application/json``."""

    error_code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    reason = "unsupported_media_type"


class NotReady(Refusal, ServiceUnavailable):
    """The model is not loaded (yet): try again shortly."""

    reason = "not_ready"


class NotServable(Refusal):
    """The model cannot answer this kind of request (for example it gives no probabilities)."""

    error_code = HTTPStatus.NOT_IMPLEMENTED
    reason = "not_servable"
