"""Outbound messages built from command replies and alerts, with stable ids.

An outbound message's id is a UUID 5 of the id of the event it replies to, so processing
the same input again produces the same id and the sender's delivered-ids table
suppresses a second post.
"""

from __future__ import annotations

import uuid
from typing import Any

from processors.commands import Reply
from schemas.envelope import Envelope
from schemas.payloads import BotAdded, CardSubmitted, OutboundMessage, ReceivedMessage

# Namespace of outbound message ids derived from input event ids. Changing it would give
# every replayed input a new id, so replays would post again.
OUTBOUND_ID_NAMESPACE = uuid.UUID("6b0e7d4c-5f0a-4c1e-9d57-2f4f3c0b8a11")
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def stable_message_id(input_event_id: str, purpose: str = "reply") -> str:
    """Return the outbound id for the ``purpose`` message caused by one input event."""
    return str(uuid.uuid5(OUTBOUND_ID_NAMESPACE, f"{purpose}:{input_event_id}"))


def caller_mention(person_email: str | None, person_id: str) -> str:
    """Return markdown that mentions the caller, by email when known, else by person id."""
    if person_email:
        name = _escape_name(person_email.partition("@")[0])
        return f"<@personEmail:{person_email}|{name}>"
    return f"<@personId:{person_id}|{_escape_name(person_id[:8])}>"


def _escape_name(name: str) -> str:
    return name.replace("|", " ").replace(">", " ").replace("<", " ")


def reply_message(
    *,
    message_id: str,
    room_id: str,
    reply: Reply,
    parent_id: str | None = None,
    mention: str | None = None,
) -> OutboundMessage:
    """Build the outbound message of a reply, in the room and thread of the input."""
    markdown = f"{mention} {reply.markdown}" if mention else reply.markdown
    fields: dict[str, Any] = {
        "message_id": message_id,
        "room_id": room_id,
        "markdown": markdown,
        "parent_id": parent_id,
    }
    if reply.text:
        fields["text"] = reply.text
    if reply.card is not None:
        fields["attachments"] = [{"contentType": ADAPTIVE_CARD, "content": dict(reply.card)}]
    return OutboundMessage(**fields)


def reply_for(
    cause: Envelope, payload: ReceivedMessage | CardSubmitted | BotAdded, reply: Reply
) -> OutboundMessage:
    """Build the outbound message of a reply to ``payload``, whose event is ``cause``.

    In a group room the reply mentions the caller, and a reply to a threaded message
    stays in that thread. The message id derives from the cause's id.
    """
    mention = None
    parent_id = None
    if isinstance(payload, ReceivedMessage | CardSubmitted) and payload.room_type == "group":
        mention = caller_mention(payload.person_email, payload.person_id)
    if isinstance(payload, ReceivedMessage):
        parent_id = payload.parent_id
    return reply_message(
        message_id=stable_message_id(cause.id),
        room_id=payload.room_id,
        reply=reply,
        parent_id=parent_id,
        mention=mention,
    )
