"""``POST /api/v1/messages``: request one outbound message, appended to ``outbound.messages``.

The message id is the ``Idempotency-Key`` header when given, else a new UUID. It is
both the event id and the payload's ``messageId``, and the sender skips ids it already
delivered, so retrying the request with the same key does not post twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from ingest.auth import require_bearer
from ingest.body import parse_json_object, read_body
from ingest.contract import (
    APPENDED_RESPONSES,
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_PARAMETER,
    AppendedBody,
    MessageRequest,
    RawRequestRoute,
    appended,
    json_body,
    security,
)
from ingest.errors import BadRequest, describe_validation_errors
from ingest.events import idempotency_key
from ingest.records import encode_record, ingest_envelope
from ingest.state import state_of
from schemas.envelope import Record
from schemas.events import OUTBOUND_REQUESTED
from schemas.payloads import OutboundMessage
from schemas.topics import Topic

MESSAGE_FIELDS = frozenset(MessageRequest.model_fields)

router = APIRouter(prefix="/api/v1", tags=["outbound messages"], route_class=RawRequestRoute)


def parse_message(document: dict[str, Any], message_id: str) -> OutboundMessage:
    """Validate a message request; raise BadRequest naming the invalid field."""
    if "messageId" in document:
        raise BadRequest(
            f"field 'messageId' is not accepted; send the id as {IDEMPOTENCY_KEY_HEADER}"
        )
    unknown = sorted(set(document) - MESSAGE_FIELDS)
    if unknown:
        raise BadRequest(
            "unknown field "
            + ", ".join(map(repr, unknown))
            + "; a message has "
            + ", ".join(sorted(MESSAGE_FIELDS))
        )
    try:
        return OutboundMessage.model_validate({**document, "messageId": message_id})
    except ValidationError as exc:
        raise BadRequest(describe_validation_errors(exc.errors())) from None


def message_record(message: OutboundMessage, request_id: str, received_at: datetime) -> Record:
    key = message.conversation_key
    envelope = ingest_envelope(
        id=message.message_id,
        type=OUTBOUND_REQUESTED,
        subject=key,
        request_id=request_id,
        received_at=received_at,
    )
    return encode_record(envelope, key, message.to_json_bytes())


@router.post(
    "/messages",
    summary="Request one outbound message",
    description=(
        "Exactly one of roomId, toPersonId or toPersonEmail, and text, markdown, a file "
        "or a card. Answers 202 with the message id after the broker acknowledged the "
        "append to outbound.messages."
    ),
    status_code=202,
    response_model=AppendedBody,
    responses=APPENDED_RESPONSES,
    openapi_extra={
        **json_body("MessageRequest"),
        **security("BearerAuth"),
        "parameters": [IDEMPOTENCY_PARAMETER],
    },
)
async def request_message(request: Request) -> Response:
    state = state_of(request)
    received_at = datetime.now(UTC)
    require_bearer(request, state.api_token)
    body = await read_body(request, state.settings.max_body_bytes)

    message_id = idempotency_key(request) or str(uuid.uuid4())
    message = parse_message(parse_json_object(body), message_id)
    record = message_record(message, request.state.request_id, received_at)

    await state.append(Topic.OUTBOUND_MESSAGES, record)
    return appended(202, message.message_id)
