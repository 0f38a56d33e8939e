"""``POST /webhooks/webex``: Webex callbacks, appended byte for byte to ``webex.webhooks``.

The signature is checked on the raw bytes before anything else, and the JSON is parsed
only to read the fields that key and type the record. Untrusted senders are not
filtered here, so the log keeps every authentic callback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from ingest.body import header_value, parse_json_object, read_body
from ingest.contract import (
    APPENDED_RESPONSES,
    AppendedBody,
    RawRequestRoute,
    appended,
    json_body,
    security,
)
from ingest.errors import BadRequest, Unauthorized, json_type_name, missing_fields, request_id_of
from ingest.records import ingest_record
from ingest.signature import SIGNATURE_HEADER, UNSIGNED, VERIFIED, signature_matches
from ingest.state import IngestState, state_of
from schemas.conversation import conversation_key
from schemas.envelope import SIGNATURE_EXTENSION, Record
from schemas.events import webhook_type
from schemas.payloads import check_identifier
from schemas.topics import Topic

WEBHOOK_PATH = "/webhooks/webex"
OLD_WEBHOOK_PATH = "/api/v1/webhook"
FALLBACK_KEY_PREFIX = "webhook:"
SIGNATURE_HEADER_NAME = SIGNATURE_HEADER.lower().encode("ascii")
MAX_NAME_CHARS = 64
# Resource and event names such as "attachmentActions" or "created". Webex Calling's
# resources, such as "telephony_calls", also have underscores.
_RESOURCE_NAME = re.compile(rf"^[A-Za-z_]{{1,{MAX_NAME_CHARS}}}$")

router = APIRouter(tags=["webhooks"], route_class=RawRequestRoute)


@dataclass(frozen=True)
class WebhookFields:
    """The callback fields that key and type the record; the body itself is not changed."""

    resource: str
    event: str
    data_id: str
    room_id: str | None
    person_id: str | None
    person_email: str | None

    @property
    def key(self) -> str:
        """The conversation key, else ``webhook:<data.id>`` so the key is never empty."""
        if self.room_id or self.person_email or self.person_id:
            return conversation_key(
                room_id=self.room_id, person_email=self.person_email, person_id=self.person_id
            )
        return FALLBACK_KEY_PREFIX + self.data_id


def parse_webhook(body: bytes) -> WebhookFields:
    """Read the keying fields of a callback; raise BadRequest naming what is missing."""
    document = parse_json_object(body)
    data = document.get("data")
    if data is not None and not isinstance(data, dict):
        raise BadRequest(f"field 'data' must be an object, got {json_type_name(data)}")
    data = data or {}

    missing = [
        name
        for name, value in (
            ("resource", document.get("resource")),
            ("event", document.get("event")),
            ("data.id", data.get("id")),
        )
        if value is None or value == ""
    ]
    if missing:
        raise BadRequest(missing_fields(missing))

    return WebhookFields(
        resource=_name(document, "resource"),
        event=_name(document, "event"),
        data_id=_identifier(_required_string(data, "id", "data.id"), "data.id"),
        room_id=_optional_string(data, "roomId"),
        person_id=_optional_string(data, "personId"),
        person_email=_optional_string(data, "personEmail"),
    )


def _name(document: dict[str, Any], name: str) -> str:
    value = _required_string(document, name, name)
    if not _RESOURCE_NAME.fullmatch(value):
        raise BadRequest(
            f"field {name!r} is {value[:80]!r}; it must be 1-{MAX_NAME_CHARS} letters or "
            "underscores, such as 'messages' or 'created'"
        )
    return value


def _required_string(document: dict[str, Any], name: str, label: str) -> str:
    value = document[name]
    if not isinstance(value, str):
        raise BadRequest(f"field {label!r} must be a string, got {json_type_name(value)}")
    return value


def _optional_string(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return _identifier(value, f"data.{name}") if value else None
    raise BadRequest(f"field 'data.{name}' must be a string, got {json_type_name(value)}")


def _identifier(value: str, label: str) -> str:
    try:
        return check_identifier(value, f"field {label!r}")
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def verify(state: IngestState, request: Request, body: bytes) -> str:
    """Return the signature verdict, or raise Unauthorized for a missing or wrong one."""
    if state.webhook_secret is None:
        return UNSIGNED
    header = header_value(request.scope, SIGNATURE_HEADER_NAME)
    if not header:
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
    if not signature_matches(state.webhook_secret, body, header):
        raise Unauthorized(f"invalid {SIGNATURE_HEADER}: it does not match the body")
    return VERIFIED


def webhook_record(
    fields: WebhookFields, body: bytes, verdict: str, request_id: str, received_at: datetime
) -> tuple[str, Record]:
    """Return the new event id and the record of the callback's exact bytes."""
    return ingest_record(
        key=fields.key,
        value=body,
        type=webhook_type(fields.resource, fields.event),
        request_id=request_id,
        received_at=received_at,
        extensions={SIGNATURE_EXTENSION: verdict},
    )


@router.post(
    WEBHOOK_PATH,
    summary="Receive a Webex webhook callback",
    description=(
        "Verifies X-Spark-Signature on the raw body, then appends the exact bytes to "
        "webex.webhooks keyed by the conversation. Answers after the broker acknowledged."
    ),
    response_model=AppendedBody,
    responses=APPENDED_RESPONSES,
    openapi_extra={**json_body("WebhookNotification"), **security("SparkSignature")},
)
@router.post(
    OLD_WEBHOOK_PATH,
    summary="Receive a Webex webhook callback (old path)",
    description=f"The same as POST {WEBHOOK_PATH}, at the old bot's path.",
    response_model=AppendedBody,
    responses=APPENDED_RESPONSES,
    openapi_extra={**json_body("WebhookNotification"), **security("SparkSignature")},
)
async def receive_webhook(request: Request) -> Response:
    state = state_of(request)
    received_at = datetime.now(UTC)
    body = await read_body(
        request, state.settings.max_body_bytes, state.settings.body_read_timeout_seconds
    )

    verdict = verify(state, request, body)
    fields = parse_webhook(body)
    envelope_id, record = webhook_record(fields, body, verdict, request_id_of(request), received_at)

    await state.append(Topic.WEBEX_WEBHOOKS, record)
    return appended(200, envelope_id)
