"""Decide what a webhook callback becomes, and build the enriched events from Webex data.

The enricher agent calls :func:`plan` to decide what to do with a callback before it calls Webex,
so the bot's own messages and other bots' messages are dropped without a fetch.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from processors.mentions import same_person
from schemas.payloads import BotAdded, CardSubmitted, ReceivedMessage, WebhookNotification

BOT_EMAIL_DOMAIN = "@webex.bot"
# Namespace of enriched event ids derived from a callback's (resource, event, data.id).
ENRICHED_ID_NAMESPACE = uuid.UUID("0f4d2a5e-8c3b-4f7a-b1e6-6d9c2e5a7b30")


class Action(enum.Enum):
    """The enricher's action for one callback."""

    FETCH_MESSAGE = "fetch message"
    FETCH_CARD_ACTION = "fetch card action"
    BOT_ADDED = "bot added"
    DROP = "drop"
    KEEP_IN_LOG = "keep in log"


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str


def is_bot_email(email: str | None) -> bool:
    return bool(email) and str(email).strip().lower().endswith(BOT_EMAIL_DOMAIN)


def plan(notification: WebhookNotification, bot_id: str, *, allow_bot_messages: bool) -> Plan:
    """Decide what to do with a callback, from the callback alone."""
    kind = (notification.resource, notification.event)
    data = notification.data
    from_bot = data.person_id is not None and same_person(data.person_id, bot_id)

    if kind == ("messages", "created"):
        if from_bot:
            return Plan(Action.DROP, "the bot's own message")
        if is_bot_email(data.person_email) and not allow_bot_messages:
            return Plan(Action.DROP, "message from another bot")
        return Plan(Action.FETCH_MESSAGE, "new message")
    if kind == ("attachmentActions", "created"):
        if from_bot:
            return Plan(Action.DROP, "the bot's own card action")
        return Plan(Action.FETCH_CARD_ACTION, "card submitted")
    if kind == ("memberships", "created") and from_bot:
        return Plan(Action.BOT_ADDED, "bot added to a room")
    return Plan(Action.KEEP_IN_LOG, f"{notification.resource}:{notification.event} needs no action")


def enriched_event_id(notification: WebhookNotification) -> str:
    """Return the id of the enriched event, the same for every delivery of one Webex event."""
    return str(uuid.uuid5(ENRICHED_ID_NAMESPACE, notification.dedup_key))


def received_message(
    message: Mapping[str, Any], notification: WebhookNotification
) -> ReceivedMessage:
    """Build the received-message event from ``GET /messages/{id}``, filled from the callback."""
    data = notification.data
    return ReceivedMessage(
        message_id=str(message.get("id") or data.id),
        room_id=str(message.get("roomId") or data.room_id or ""),
        room_type=str(message.get("roomType") or data.room_type or ""),
        person_id=str(message.get("personId") or data.person_id or ""),
        person_email=message.get("personEmail") or data.person_email,
        text=message.get("text"),
        markdown=message.get("markdown"),
        html=message.get("html"),
        mentioned_people=list(message.get("mentionedPeople") or data.mentioned_people or []),
        files=list(message.get("files") or []),
        parent_id=message.get("parentId"),
        created=message.get("created") or data.created,
    )


def card_submitted(
    action: Mapping[str, Any],
    notification: WebhookNotification,
    person: Mapping[str, Any] | None,
) -> CardSubmitted:
    """Build the card-submitted event from ``GET /attachment/actions/{id}`` and the person."""
    data = notification.data
    emails = (person or {}).get("emails") or []
    inputs = action.get("inputs")
    return CardSubmitted(
        action_id=str(action.get("id") or data.id),
        message_id=str(action.get("messageId") or ""),
        room_id=str(action.get("roomId") or data.room_id or ""),
        room_type=data.room_type,
        person_id=str(action.get("personId") or data.person_id or ""),
        person_email=str(emails[0]) if emails else data.person_email,
        inputs=dict(inputs) if isinstance(inputs, Mapping) else {},
        created=action.get("created") or data.created,
    )


def bot_added(notification: WebhookNotification) -> BotAdded:
    data = notification.data
    return BotAdded(
        room_id=data.room_id or "",
        room_type=data.room_type,
        actor_id=notification.actor_id,
        membership_id=data.id,
    )


class IncompleteEventError(ValueError):
    """Webex returned data without a field the enriched event needs."""


def require_fields(event: ReceivedMessage | CardSubmitted | BotAdded) -> None:
    """Raise IncompleteEventError naming each required field that came back empty."""
    names = ("room_id", "person_id") if not isinstance(event, BotAdded) else ("room_id",)
    missing = [name for name in names if not getattr(event, name)]
    if missing:
        raise IncompleteEventError(f"Webex returned no {', '.join(missing)} for this event")
