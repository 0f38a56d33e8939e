"""The old bot's API: ``POST /api/v1/alert`` and ``GET /api/v1/ping``.

The shell script that Zabbix runs posts ``{"to": ..., "subject": ..., "message": ...}``
with a ``Token`` header; it keeps working unchanged. An alert is appended to
``backend.events`` as an alert event keyed by the conversation of its destination.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ingest.auth import require_token_or_bearer
from ingest.body import parse_json_object, read_body
from ingest.contract import (
    APPENDED_RESPONSES,
    AppendedBody,
    ErrorBody,
    PingBody,
    RawRequestRoute,
    appended,
    json_body,
    security,
)
from ingest.errors import BadRequest, json_type_name, missing_fields, request_id_of
from ingest.records import check_destination, destination_key, ingest_record
from ingest.state import state_of
from schemas.envelope import Record
from schemas.events import ALERT_RAISED
from schemas.payloads import BackendEvent
from schemas.topics import Topic

API_VERSION = 1
HELLO = "Hello!"
REQUIRED_FIELDS = ("to", "subject")

router = APIRouter(prefix="/api/v1", tags=["old bot API"], route_class=RawRequestRoute)


def parse_alert(document: dict[str, Any]) -> BackendEvent:
    """Validate an alert body; raise BadRequest naming each missing or invalid field."""
    missing = [name for name in REQUIRED_FIELDS if document.get(name) is None]
    if missing:
        raise BadRequest(missing_fields(missing))
    for name in ("to", "subject", "message"):
        value = document.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"field {name!r} must be a string, got {json_type_name(value)}")
    to = check_destination(document["to"], "to")
    return BackendEvent(to=to, subject=document["subject"], message=document.get("message"))


def alert_record(alert: BackendEvent, request_id: str, received_at: datetime) -> tuple[str, Record]:
    """Return the new event id and the record of an alert event."""
    return ingest_record(
        key=destination_key(alert.to or ""),
        value=alert.to_json_bytes(),
        type=ALERT_RAISED,
        request_id=request_id,
        received_at=received_at,
    )


@router.post(
    "/alert",
    summary="Raise an alert (old contract)",
    description=(
        "Appends an alert event to backend.events. `to` with an `@` is a person's email "
        "and must look like one; anything else is a room id. `to` may have at most 512 "
        "characters and no control characters. Answers 202 after the broker acknowledged."
    ),
    status_code=202,
    response_model=AppendedBody,
    responses=APPENDED_RESPONSES,
    openapi_extra={**json_body("AlertRequest"), **security("TokenHeader", "BearerAuth")},
)
async def raise_alert(request: Request) -> Response:
    state = state_of(request)
    received_at = datetime.now(UTC)
    require_token_or_bearer(request, state.api_token)
    body = await read_body(
        request, state.settings.max_body_bytes, state.settings.body_read_timeout_seconds
    )

    alert = parse_alert(parse_json_object(body))
    event_id, record = alert_record(alert, request_id_of(request), received_at)

    await state.append(Topic.BACKEND_EVENTS, record)
    return appended(202, event_id)


@router.get(
    "/ping",
    summary="Check the API token (old contract)",
    response_model=PingBody,
    responses={401: {"model": ErrorBody, "description": "missing or invalid API token"}},
    openapi_extra=security("TokenHeader", "BearerAuth"),
)
async def ping(request: Request) -> Response:
    require_token_or_bearer(request, state_of(request).api_token)
    # The old bot sent str() of a naive UTC datetime; clients may parse that format.
    utctime = str(datetime.now(UTC).replace(tzinfo=None))
    return JSONResponse({"hello": HELLO, "apiversion": API_VERSION, "utctime": utctime})
