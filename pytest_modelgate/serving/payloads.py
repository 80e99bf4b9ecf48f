"""The input and output specs of the prediction APIs (``bentoml.api(input_spec=...,
output_spec=...)``): checked rows in, JSON out, with no pydantic model built per row.

``RowsInput`` takes the rows the request limits middleware already parsed and checked (a numpy
array in the ASGI scope) instead of validating the body again. ``JSONOutput`` writes the
API's answer for one request with orjson: a numpy array of labels, or a list of probability
mappings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bentoml import IODescriptor

from pytest_modelgate.serving.limits import SCOPE_ROWS, dump
from pytest_modelgate.serving.refusals import InvalidBody

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


# bentoml has no type information: its classes are Any to mypy
class RowsInput(IODescriptor):  # type: ignore[misc]
    """One request's checked rows; the API receives them as its ``rows`` argument."""

    rows: Any = None

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> IODescriptor:
        rows = request.scope.get(SCOPE_ROWS)
        if rows is None:  # the middleware checks every prediction request; this is a fault
            raise InvalidBody("the request was not checked by the service's request limits")
        return cls.model_construct(rows=rows)


class JSONOutput(IODescriptor):  # type: ignore[misc]
    """One request's answer as JSON bytes; numpy arrays are written without a Python list."""

    @classmethod
    async def to_http_response(cls, obj: Any, serde: Any) -> Response:
        from starlette.responses import Response

        if getattr(obj, "dtype", None) is not None and obj.dtype.kind not in "fiub":
            obj = obj.tolist()  # orjson writes numeric and boolean numpy arrays only
        return Response(dump(obj), media_type="application/json")
