"""Event types, their payload models and versions, and decoding of Kafka records.

A type ends in ``.v<N>``. A consumer that meets a version it has no model for raises
:class:`UnsupportedEventError`, and the caller dead-letters the record instead of
crashing. Webex callbacks keep the type ``com.webex.<resource>.<event>`` because their
body is Webex's own, stored byte for byte.
"""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import ValidationError

from schemas.envelope import Envelope, EnvelopeError, Headers, Record, build_record
from schemas.payloads import (
    BackendEvent,
    BotAdded,
    CardSubmitted,
    DeadLetter,
    DeliveryAttempt,
    OutboundMessage,
    Payload,
    ReceivedMessage,
    WebhookNotification,
)

SOURCE_INGEST = "wxstream/ingest"
SOURCE_WORKER = "wxstream/worker"

WEBHOOK_TYPE_PREFIX = "com.webex."
MESSAGE_RECEIVED = "wxstream.webex.message.received.v1"
CARD_SUBMITTED = "wxstream.webex.card.submitted.v1"
BOT_ADDED = "wxstream.webex.bot.added.v1"
ALERT_RAISED = "wxstream.backend.alert.raised.v1"
OUTBOUND_REQUESTED = "wxstream.outbound.message.requested.v1"
DELIVERY_ATTEMPTED = "wxstream.outbound.delivery.attempted.v1"
OUTBOUND_DEAD_LETTERED = "wxstream.outbound.message.dead-lettered.v1"
INBOUND_DEAD_LETTERED = "wxstream.inbound.event.dead-lettered.v1"

PAYLOAD_MODELS: dict[str, type[Payload]] = {
    MESSAGE_RECEIVED: ReceivedMessage,
    CARD_SUBMITTED: CardSubmitted,
    BOT_ADDED: BotAdded,
    ALERT_RAISED: BackendEvent,
    OUTBOUND_REQUESTED: OutboundMessage,
    DELIVERY_ATTEMPTED: DeliveryAttempt,
    OUTBOUND_DEAD_LETTERED: DeadLetter,
    INBOUND_DEAD_LETTERED: DeadLetter,
}

_VERSIONED = re.compile(r"^(?P<base>.+)\.v(?P<version>\d+)$")

PayloadT = TypeVar("PayloadT", bound=Payload)


class EventDecodeError(ValueError):
    """A record cannot be read as the event its headers claim; dead-letter it."""


class UnsupportedEventError(EventDecodeError):
    """A record has an event type or version this consumer has no model for."""


def webhook_type(resource: str, event: str) -> str:
    return f"{WEBHOOK_TYPE_PREFIX}{resource}.{event}"


def type_version(event_type: str) -> tuple[str, int] | None:
    """Split ``a.b.v2`` into ``("a.b", 2)``; None for an unversioned type."""
    match = _VERSIONED.match(event_type)
    if match is None:
        return None
    return match["base"], int(match["version"])


def encode_event(envelope: Envelope, key: str, payload: Payload) -> Record:
    """Build the Kafka record of an event whose payload is a model."""
    return build_record(envelope, key, payload.to_json_bytes())


def model_for(event_type: str) -> type[Payload]:
    model = PAYLOAD_MODELS.get(event_type)
    if model is not None:
        return model
    if event_type.startswith(WEBHOOK_TYPE_PREFIX):
        return WebhookNotification
    parts = type_version(event_type)
    if parts is not None and any(t.startswith(parts[0] + ".v") for t in PAYLOAD_MODELS):
        raise UnsupportedEventError(
            f"event type {event_type!r} has version {parts[1]}, which this release cannot "
            "read; upgrade the consumer"
        )
    raise UnsupportedEventError(f"unknown event type {event_type!r}")


def decode_headers(headers: Headers | None) -> Envelope:
    try:
        return Envelope.from_headers(headers)
    except EnvelopeError as exc:
        raise EventDecodeError(str(exc)) from exc


def decode_payload(envelope: Envelope, value: bytes | None, model: type[PayloadT]) -> PayloadT:
    """Validate a record value against ``model``; raises EventDecodeError when invalid."""
    if value is None:
        raise EventDecodeError(f"event {envelope.id} has no value")
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        raise EventDecodeError(
            f"event {envelope.id} of type {envelope.type} is invalid: "
            + "; ".join(_describe(error) for error in exc.errors())
        ) from exc


def decode_event(headers: Headers | None, value: bytes | None) -> tuple[Envelope, Payload]:
    """Decode any wxstream record into its envelope and payload model."""
    envelope = decode_headers(headers)
    return envelope, decode_payload(envelope, value, model_for(envelope.type))


def _describe(error: object) -> str:
    details = error if isinstance(error, dict) else {}
    location = ".".join(str(part) for part in details.get("loc", ())) or "value"
    return f"{location}: {details.get('msg', 'invalid')}"
