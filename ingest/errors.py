"""Errors of the ingest service and the JSON error responses they become.

Every error response has the body ``{"error": "<message>", "requestId": "<id>"}``::

    IngestError              an HTTP error: status, message, extra response headers
    ├── BadRequest           400: the body or a header is invalid
    ├── Unauthorized         401: a token or webhook signature is missing or wrong
    ├── RequestTimeout       408: the body did not arrive within the read timeout
    ├── Conflict             409: an Idempotency-Key was already used for another request
    ├── PayloadTooLarge      413: the body or the Kafka record is over a size limit
    └── AppendUnavailable    503: the broker did not acknowledge the append; carries
                             ``retry_after`` seconds for the Retry-After header
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ingest.rejections import RejectionLog

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER_SECONDS = 2
INTERNAL_ERROR_MESSAGE = "internal error; see the service log"


class IngestError(Exception):
    """An error sent to the client as ``status`` with a JSON error body."""

    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(IngestError):
    status = 400


class Unauthorized(IngestError):
    status = 401


class Forbidden(IngestError):
    status = 403


class NotFound(IngestError):
    status = 404


class RequestTimeout(IngestError):
    status = 408


class Conflict(IngestError):
    status = 409


class PayloadTooLarge(IngestError):
    status = 413


class AppendUnavailable(IngestError):
    """The append was not acknowledged, so the client must retry it."""

    status = 503

    def __init__(self, message: str, retry_after: int = DEFAULT_RETRY_AFTER_SECONDS) -> None:
        super().__init__(message, {"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class Unavailable(IngestError):
    """A dependency other than the append (such as a log read) failed; retrying may help."""

    status = 503


def request_id_of(request: Request) -> str:
    """Return the id the request-context middleware gave the request, else ``""``."""
    request_id: str = request.scope.get("state", {}).get("request_id", "")
    return request_id


def error_response(
    status: int, message: str, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps({"error": message, "requestId": request_id}).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def rejection_response(
    rejections: RejectionLog,
    request: Request,
    status: int,
    message: str,
    headers: dict[str, str],
) -> Response:
    """Log the rejected request and return its JSON error response."""
    request_id = request_id_of(request)
    rejections.record(request.method, request.url.path, status, message, request_id)
    return error_response(status, message, request_id, headers)


def install_error_handlers(app: FastAPI, rejections: RejectionLog) -> None:
    """Respond to every expected error with the JSON error body and log it as a rejection."""

    def reject(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
        return rejection_response(rejections, request, status, message, headers)

    async def on_ingest_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IngestError)
        return reject(request, exc.status, exc.message, exc.headers)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return reject(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return reject(request, 400, describe_validation_errors(exc.errors()), {})

    async def on_unexpected_error(request: Request, exc: Exception) -> Response:
        # Starlette's ServerErrorMiddleware sends this response and raises the error
        # again. The request-context middleware in front of it logs the traceback.
        return error_response(500, INTERNAL_ERROR_MESSAGE, request_id_of(request))

    app.add_exception_handler(IngestError, on_ingest_error)
    app.add_exception_handler(Exception, on_unexpected_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def join_names(names: Iterable[str]) -> str:
    """Return ``'a'``, ``'a' and 'b'`` or ``'a', 'b' and 'c'``."""
    quoted = [repr(name) for name in names]
    if len(quoted) < 2:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def field_noun(names: list[str], noun: str = "field") -> str:
    """Return ``noun`` for one name and its plural for several."""
    return noun if len(names) == 1 else noun + "s"


def missing_fields(names: list[str], noun: str = "field") -> str:
    """Return ``missing field 'a'`` or ``missing fields 'a' and 'b'``."""
    return f"missing {field_noun(names, noun)} {join_names(names)}"


# The JSON names of the types that pydantic's type errors expect.
_EXPECTED_TYPES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}
_JSON_TYPES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def json_type_name(value: object) -> str:
    """Return the JSON type of a parsed value with its article, such as ``an array``."""
    return _JSON_TYPES.get(type(value), "another type")


def describe_validation_errors(errors: object, prefix: str = "") -> str:
    """Join pydantic errors into one line that names each invalid field.

    A type error reads ``field 'text' must be a string, got an integer``; any other
    error names the field and gives pydantic's reason. ``prefix`` goes before each field
    name, such as ``data.`` for the payload of a CloudEvent.
    """
    parts = [
        _describe_error(error, prefix)
        for error in (errors if isinstance(errors, list | tuple) else ())
        if isinstance(error, dict)
    ]
    return "; ".join(parts) or "invalid request"


def _describe_error(error: dict[str, Any], prefix: str) -> str:
    location = _location(error.get("loc", ()), prefix)
    reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    expected = _EXPECTED_TYPES.get(str(error.get("type")))
    if location and expected is not None:
        received = json_type_name(error.get("input"))
        return f"field {location!r} must be {expected}, got {received}"
    if location and error.get("type") == "missing":
        return f"missing field {location!r}"
    if location and error.get("type") == "value_error" and _field_name(location) in reason:
        return reason
    return f"field {location!r}: {reason}" if location else reason


def _field_name(location: str) -> str:
    return location.rsplit(".", 1)[-1].split("[", 1)[0]


def _location(parts: Iterable[object], prefix: str) -> str:
    location = prefix
    for part in parts:
        if part == "body":
            continue
        if isinstance(part, int):
            location += f"[{part}]"
        else:
            location += f".{part}" if location and not location.endswith(".") else str(part)
    return location
