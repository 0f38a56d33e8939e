"""``POST /api/v1/events``: one back-end event, appended to ``backend.events``.

Two body forms are accepted. A structured-mode CloudEvent (it has ``specversion``)
keeps its id, source, type and time, and its ``data`` object is the payload. A plain
object ``{type, to?, subject?, message?, markdown?, data?}`` gets a new id; type
``alert`` becomes the alert event type, and any other type is kept as it is. Either way
the payload is a BackendEvent. An ``Idempotency-Key`` header becomes the event id, so a
retried request yields the same id. Among the keys this process has seen, a repeat of
the same body is not appended again, and another body with a used key is rejected with
409 (see ``ingest.idempotency``). Other repeats are deduplicated by the worker within one
conversation. Routing is decided downstream, so an event without ``to`` is accepted.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from ingest.contract import (
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_PARAMETER,
    IDEMPOTENT_RESPONSES,
    AppendedBody,
    RawRequestRoute,
    appended,
    json_body,
    security,
)
from ingest.errors import (
    BadRequest,
    describe_validation_errors,
    field_noun,
    join_names,
    json_type_name,
    missing_fields,
    request_id_of,
)
from ingest.idempotency import IdempotentRequest
from ingest.records import (
    INGEST_EXTENSIONS,
    check_destination,
    destination_key,
    ingest_record,
)
from ingest.state import read_bearer_json
from schemas.envelope import SPEC_VERSION, Record
from schemas.events import ALERT_RAISED, SOURCE_INGEST
from schemas.payloads import BackendEvent, check_identifier
from schemas.topics import Topic

EVENTS_ENDPOINT = "POST /api/v1/events"
ALERT_TYPE = "alert"
EVENT_KEY_PREFIX = "event:"
PLAIN_FIELDS = frozenset({"type", "to", "subject", "message", "markdown", "data"})
# Optional core attributes that are copied to the envelope as they are.
PASSED_ATTRIBUTES = ("dataschema", "correlationid", "causationid")
CLOUDEVENT_FIELDS = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"}
).union(PASSED_ATTRIBUTES)
MAX_EXTENSIONS = 20
MAX_ATTRIBUTE_CHARS = 1000

# Ids and types become Kafka header values: printable ASCII without spaces.
_TOKEN = re.compile(r"^[\x21-\x7e]{1,200}$")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")

router = APIRouter(prefix="/api/v1", tags=["back-end events"], route_class=RawRequestRoute)


@dataclass(frozen=True)
class EventRequest:
    """A validated back-end event, ready to become a record."""

    id: str
    type: str
    payload: BackendEvent
    source: str = SOURCE_INGEST
    subject: str | None = None
    time: datetime | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The conversation of ``to``, else the CloudEvent subject, else ``event:<id>``."""
        if self.payload.to:
            return destination_key(self.payload.to)
        return self.subject or EVENT_KEY_PREFIX + self.id


def idempotency_key(request: Request) -> str | None:
    value = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if value is None:
        return None
    return _token(value, IDEMPOTENCY_KEY_HEADER)


def parse_event(document: dict[str, Any], key: str | None) -> EventRequest:
    """Validate either body form; raise BadRequest naming the invalid field."""
    if "specversion" in document:
        return parse_cloudevent(document, key)
    return parse_plain_event(document, key)


def parse_plain_event(document: dict[str, Any], key: str | None) -> EventRequest:
    unknown = sorted(set(document) - PLAIN_FIELDS)
    if unknown:
        raise BadRequest(
            f"unknown {field_noun(unknown)} {join_names(unknown)}; a plain event has the "
            f"fields {join_names(sorted(PLAIN_FIELDS))}, or send a CloudEvent with specversion"
        )
    if document.get("type") is None:
        raise BadRequest(missing_fields(["type"]))
    event_type = _token(document["type"], "type")
    fields = {name: value for name, value in document.items() if name != "type"}
    return EventRequest(
        id=key or str(uuid.uuid4()),
        type=ALERT_RAISED if event_type == ALERT_TYPE else event_type,
        payload=_payload(fields, ""),
    )


def parse_cloudevent(document: dict[str, Any], key: str | None) -> EventRequest:
    if document["specversion"] != SPEC_VERSION:
        raise BadRequest(
            f"specversion {document['specversion']!r} is invalid; use {SPEC_VERSION!r}"
        )
    missing = [name for name in ("id", "source", "type") if document.get(name) is None]
    if missing:
        raise BadRequest(missing_fields(missing, "CloudEvent attribute"))

    event_id = _token(document["id"], "id")
    if key is not None and key != event_id:
        raise BadRequest(f"{IDEMPOTENCY_KEY_HEADER} differs from the CloudEvent id; send one id")
    _check_content_type(document.get("datacontenttype"))
    if "data_base64" in document:
        raise BadRequest("data_base64 is not accepted; send the payload as a JSON object in data")

    return EventRequest(
        id=event_id,
        type=_token(document["type"], "type"),
        source=_text(document["source"], "source"),
        subject=_optional_text(document.get("subject"), "subject"),
        time=_time(document.get("time")),
        attributes={
            name: _text(document[name], name)
            for name in PASSED_ATTRIBUTES
            if document.get(name) is not None
        },
        extensions=_extensions(document),
        payload=_payload(_data(document.get("data")), "data."),
    )


def event_record(event: EventRequest, request_id: str, received_at: datetime) -> Record:
    _, record = ingest_record(
        key=event.key,
        value=event.payload.to_json_bytes(),
        id=event.id,
        type=event.type,
        source=event.source,
        time=event.time,
        request_id=request_id,
        received_at=received_at,
        extensions=event.extensions,
        **event.attributes,
    )
    return record


def _payload(fields: dict[str, Any], prefix: str) -> BackendEvent:
    try:
        payload = BackendEvent.model_validate(fields)
    except ValidationError as exc:
        raise BadRequest(describe_validation_errors(exc.errors(), prefix)) from None
    if payload.to is not None:
        check_destination(payload.to, prefix + "to")
    return payload


def _data(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"field 'data' must be an object, got {json_type_name(value)}")
    return value


def _token(value: object, name: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise BadRequest(f"{name} must be 1-200 printable ASCII characters without spaces")
    return value


def _text(value: object, name: str) -> str:
    """Return an attribute value, which becomes a Kafka header and may key the record."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be a string of 1-{MAX_ATTRIBUTE_CHARS} characters")
    try:
        return check_identifier(value, name, MAX_ATTRIBUTE_CHARS)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _optional_text(value: object, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(_text(value, "time"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadRequest(f"time {value!r} is not an RFC 3339 time with a UTC offset")
    return parsed.astimezone(UTC)


def _check_content_type(value: object) -> None:
    if value is None:
        return
    media_type = str(value).split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise BadRequest(f"datacontenttype {value!r} is not accepted; use application/json")


def _extensions(document: dict[str, Any]) -> dict[str, str]:
    names = [name for name in document if name not in CLOUDEVENT_FIELDS]
    if len(names) > MAX_EXTENSIONS:
        raise BadRequest(
            f"the event has {len(names)} extension attributes; at most {MAX_EXTENSIONS}"
        )
    extensions = {}
    for name in names:
        if not _EXTENSION_NAME.fullmatch(name):
            raise BadRequest(
                f"attribute name {name!r} is invalid: use 1-20 lowercase letters or digits"
            )
        if name in INGEST_EXTENSIONS:
            raise BadRequest(f"attribute {name!r} is set by the ingest service; leave it out")
        value = document[name]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BadRequest(f"extension attribute {name!r} must be a string or an integer")
        extensions[name] = _text(str(value), name)
    return extensions


@router.post(
    "/events",
    summary="Append a back-end event",
    description=(
        "Takes a structured CloudEvent 1.0 or a plain object. Answers 202 with the event id "
        "after the broker acknowledged the append to backend.events."
    ),
    status_code=202,
    response_model=AppendedBody,
    responses=IDEMPOTENT_RESPONSES,
    openapi_extra={
        **json_body("CloudEventRequest", "PlainEventRequest"),
        **security("BearerAuth"),
        "parameters": [IDEMPOTENCY_PARAMETER],
    },
)
async def append_event(request: Request) -> Response:
    state, received_at, document = await read_bearer_json(request)
    key = idempotency_key(request)
    event = parse_event(document, key)
    record = event_record(event, request_id_of(request), received_at)

    attempt = IdempotentRequest(EVENTS_ENDPOINT, key, document, event.id)
    event_id = await state.append_idempotent(Topic.BACKEND_EVENTS, record, attempt)
    return appended(202, event_id)
