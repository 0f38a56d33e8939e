"""ASGI middleware: request ids, request metrics and a JSON response to unexpected errors.

A pure ASGI middleware rather than Starlette's BaseHTTPMiddleware, which would copy
every request through an extra task and stream on the hot path.
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.errors import INTERNAL_ERROR_MESSAGE, error_response
from ingest.metrics import UNMATCHED_ROUTE, IngestMetrics

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
# A client's request id is echoed in headers and logs, so only plain tokens are kept.
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_from(scope: Scope) -> str:
    """Return the client's X-Request-Id when it is a plain token, else a new UUID."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return str(uuid.uuid4())


class RequestContextMiddleware:
    """Set ``request.state.request_id``, return it as X-Request-Id and count requests."""

    def __init__(self, app: ASGIApp, metrics: IngestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500
        started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception(
                "unexpected error in %s %r (request %s)", scope["method"], scope["path"], request_id
            )
            if not started:
                response = error_response(500, INTERNAL_ERROR_MESSAGE, request_id)
                await response(scope, receive, send_with_request_id)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", UNMATCHED_ROUTE)
            self.metrics.request_counter(label, scope["method"], str(status)).inc()
