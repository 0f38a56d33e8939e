"""The HTTP contract shared by the endpoints: bodies, responses and the OpenAPI document.

Handlers read raw bodies themselves (a webhook's signature covers its exact bytes, and
the old alert contract responds 400, not 422), so the request body models here only
document the API. ``install_openapi`` adds them, the security schemes and the
``X-Request-Id`` header to the generated document.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from schemas.payloads import WebhookNotification

REQUEST_ID_HEADER = "X-Request-Id"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


class RawRequestRoute(APIRoute):
    """A route whose endpoint takes the Request and returns a Response itself.

    FastAPI still documents the route, but requests skip its dependency resolution and
    response validation, which cost about as much as the rest of a webhook request.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


class AppendedBody(BaseModel):
    """The response body once the broker acknowledged the append."""

    id: str = Field(description="the id of the appended event")


class ErrorBody(BaseModel):
    """Every error response."""

    model_config = ConfigDict(populate_by_name=True)

    error: str = Field(description="what failed and what to do")
    request_id: str = Field(alias="requestId", description="the X-Request-Id of the request")


class PingBody(BaseModel):
    """The response body of the old bot's ping."""

    hello: str
    apiversion: int
    utctime: str = Field(description="current UTC time, 'YYYY-MM-DD HH:MM:SS.ffffff'")


class AlertRequest(BaseModel):
    """The old alert contract. ``to`` with an ``@`` is a person's email, else a room id."""

    to: str
    subject: str
    message: str | None = None


class PlainEventRequest(BaseModel):
    """A back-end event as a plain object. Type ``alert`` becomes an alert event."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200)
    to: str | None = None
    subject: str | None = None
    message: str | None = None
    markdown: str | None = None
    data: dict[str, Any] | None = None


class CloudEventRequest(BaseModel):
    """A back-end event as a structured-mode CloudEvent 1.0; ``data`` is the payload."""

    specversion: str = Field(pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(min_length=1, max_length=200)
    subject: str | None = None
    time: str | None = Field(default=None, description="RFC 3339 time")
    datacontenttype: str | None = Field(default=None, description="a JSON media type")
    data: dict[str, Any] | None = Field(
        default=None, description="the payload: to, subject, message, markdown, data"
    )


class MessageRequest(BaseModel):
    """One message to deliver: exactly one destination, and text, markdown, a file or a card.

    Field names are the Webex API's camelCase names.
    """

    model_config = ConfigDict(extra="forbid")

    roomId: str | None = None
    toPersonId: str | None = None
    toPersonEmail: str | None = None
    text: str | None = None
    markdown: str | None = None
    parentId: str | None = None
    files: list[str] | None = Field(default=None, max_length=1)
    attachments: list[dict[str, Any]] | None = Field(default=None, max_length=1)


DOCUMENTED_MODELS: tuple[type[BaseModel], ...] = (
    AlertRequest,
    PlainEventRequest,
    CloudEventRequest,
    MessageRequest,
    WebhookNotification,
)

SECURITY_SCHEMES = {
    "SparkSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Spark-Signature",
        "description": "lowercase hex HMAC-SHA1 of the raw body, keyed with the webhook secret",
    },
    "TokenHeader": {"type": "apiKey", "in": "header", "name": "Token"},
    "BearerAuth": {"type": "http", "scheme": "bearer"},
}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
APPENDED_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("invalid JSON, or a field that is missing or invalid (named in the error)"),
    401: _error("missing or invalid credentials"),
    408: _error("the body did not arrive within the read timeout; nothing was appended"),
    413: _error("the body or the record is over the size limit"),
    503: {**_error("the broker did not acknowledge the append; retry"), "headers": RETRY_AFTER},
}


def json_body(*model_names: str) -> dict[str, Any]:
    """Return an OpenAPI requestBody fragment for one model or a choice of models."""
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in model_names]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def security(*scheme_names: str) -> dict[str, Any]:
    """Return an OpenAPI security fragment in which any one of the schemes suffices."""
    return {"security": [{name: []} for name in scheme_names]}


IDEMPOTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **APPENDED_RESPONSES,
    409: _error(
        "the Idempotency-Key was already used for a different request to this endpoint; "
        "send the new request with a new key"
    ),
}

IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_KEY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$"},
    "description": (
        "becomes the event id, so a retried request yields the same id. A repeat of the "
        "same body returns 202 with that id without appending again; another body with "
        "the same key returns 409. This check covers the keys one ingest process has seen "
        "since it started, up to WXSTREAM_IDEMPOTENCY_CACHE_KEYS (default 100000, least "
        "recently used evicted first). Beyond that, and across ingest processes, a repeat "
        "is appended again with the same id, and the worker deduplicates it only when it "
        "goes to the same conversation."
    ),
}


def appended(status: int, event_id: str) -> Response:
    """Answer ``{"id": <event id>}`` for an acknowledged record."""
    return Response(json.dumps({"id": event_id}), status, media_type="application/json")


def install_openapi(app: FastAPI) -> None:
    """Generate the OpenAPI document with the documented bodies and security schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        _, definitions = models_json_schema(
            [(model, "validation") for model in DOCUMENTED_MODELS],
            ref_template="#/components/schemas/{model}",
        )
        components.setdefault("schemas", {}).update(definitions.get("$defs", {}))
        components["securitySchemes"] = SECURITY_SCHEMES
        _add_request_id(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_request_id(schema: dict[str, Any]) -> None:
    parameter = {
        "name": REQUEST_ID_HEADER,
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 128},
        "description": "request id to log and return; generated when absent",
    }
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.setdefault("parameters", []).append(parameter)
