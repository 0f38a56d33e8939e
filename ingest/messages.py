"""``POST /api/v1/messages``: request one outbound message, appended to ``outbound.messages``.

The message id is the ``Idempotency-Key`` header when given, else a new UUID. It is
both the event id and the payload's ``messageId``. A repeat of the same body with a key
this process has seen is not appended again, and another body with that key is
rejected with 409 (see ``ingest.idempotency``). Beyond that, the sender skips ids it
already delivered within one conversation, so a retry to the same destination does not
post twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from ingest.contract import (
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_PARAMETER,
    IDEMPOTENT_RESPONSES,
    AppendedBody,
    MessageRequest,
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
    request_id_of,
)
from ingest.events import idempotency_key
from ingest.idempotency import IdempotentRequest
from ingest.records import ingest_record
from ingest.state import read_bearer_json
from schemas.envelope import Record
from schemas.events import OUTBOUND_REQUESTED
from schemas.payloads import OutboundMessage
from schemas.topics import Topic

MESSAGES_ENDPOINT = "POST /api/v1/messages"
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
            f"unknown {field_noun(unknown)} {join_names(unknown)}; a message has the fields "
            f"{join_names(sorted(MESSAGE_FIELDS))}"
        )
    try:
        return OutboundMessage.model_validate({**document, "messageId": message_id})
    except ValidationError as exc:
        raise BadRequest(describe_validation_errors(exc.errors())) from None


def message_record(message: OutboundMessage, request_id: str, received_at: datetime) -> Record:
    _, record = ingest_record(
        key=message.conversation_key,
        value=message.to_json_bytes(),
        id=message.message_id,
        type=OUTBOUND_REQUESTED,
        request_id=request_id,
        received_at=received_at,
    )
    return record


@router.post(
    "/messages",
    summary="Request one outbound message",
    description=(
        "Exactly one of roomId, toPersonId or toPersonEmail, and text, markdown, a file "
        "or a card. toPersonEmail must look like an email, a file must be an http(s) URL "
        "and a card an attachment of contentType application/vnd.microsoft.card.adaptive "
        "with an object content. Ids have at most 512 characters and no control "
        "characters. Answers 202 with the message id after the broker acknowledged the "
        "append to outbound.messages."
    ),
    status_code=202,
    response_model=AppendedBody,
    responses=IDEMPOTENT_RESPONSES,
    openapi_extra={
        **json_body("MessageRequest"),
        **security("BearerAuth"),
        "parameters": [IDEMPOTENCY_PARAMETER],
    },
)
async def request_message(request: Request) -> Response:
    state, received_at, document = await read_bearer_json(request)
    key = idempotency_key(request)
    message = parse_message(document, key or str(uuid.uuid4()))
    record = message_record(message, request_id_of(request), received_at)

    attempt = IdempotentRequest(MESSAGES_ENDPOINT, key, document, message.message_id)
    message_id = await state.append_idempotent(Topic.OUTBOUND_MESSAGES, record, attempt)
    return appended(202, message_id)
