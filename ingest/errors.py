"""Errors of the ingest service and the JSON error responses they become.

Every error response has the body ``{"error": "<message>", "requestId": "<id>"}``::

    IngestError              an HTTP error: status, message, extra response headers
    ├── BadRequest           400: the body or a header is invalid
    ├── Unauthorized         401: a token or webhook signature is missing or wrong
    ├── PayloadTooLarge      413: the body or the Kafka record is over a size limit
    └── AppendUnavailable    503: the broker did not acknowledge the append; carries
                             ``retry_after`` seconds for the Retry-After header
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ingest.rejections import RejectionLog

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER_SECONDS = 2


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


class PayloadTooLarge(IngestError):
    status = 413


class AppendUnavailable(IngestError):
    """The append was not acknowledged, so the client must retry it."""

    status = 503

    def __init__(self, message: str, retry_after: int = DEFAULT_RETRY_AFTER_SECONDS) -> None:
        super().__init__(message, {"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_response(
    status: int, message: str, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps({"error": message, "requestId": request_id}).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def install_error_handlers(app: FastAPI, rejections: RejectionLog) -> None:
    """Respond to every expected error with the JSON error body and log it as a rejection."""

    def reject(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
        request_id = request_id_of(request)
        rejections.record(request.method, request.url.path, status, message, request_id)
        return error_response(status, message, request_id, headers)

    async def on_ingest_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IngestError)
        return reject(request, exc.status, exc.message, exc.headers)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return reject(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return reject(request, 400, describe_validation_errors(exc.errors()), {})

    app.add_exception_handler(IngestError, on_ingest_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def describe_validation_errors(errors: object) -> str:
    """Join pydantic errors into one line that names each invalid field."""
    parts = []
    for error in errors if isinstance(errors, list | tuple) else ():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{location}: {reason}" if location else reason)
    return "; ".join(parts) or "invalid request"
