"""Payload models of every event wxstream writes, one versioned event type each.

Payload JSON uses camelCase keys, as the Webex API does; Python code uses the
snake_case attribute names. Unknown keys are kept, so a producer that adds a field does
not break a consumer of the same major version.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

# Ids and destinations end up in record keys, headers and log lines, so they are bounded
# and may not contain characters that break a line: C0 and C1 controls, DEL, U+2028, U+2029.
MAX_ID_CHARS = 512
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def check_identifier(value: str, name: str, max_chars: int = MAX_ID_CHARS) -> str:
    """Return ``value``; raise ValueError naming ``name`` if too long or with control characters."""
    if len(value) > max_chars:
        raise ValueError(f"{name} has {len(value)} characters; the maximum is {max_chars}")
    control = _CONTROL_CHARACTER.search(value)
    if control is not None:
        raise ValueError(
            f"{name} contains the control character {control.group()!r} at position "
            f"{control.start()}; remove it"
        )
    return value


def check_email(value: str, name: str) -> str:
    """Return ``value``; raise ValueError unless it looks like ``local@domain.tld``.

    The check is deliberately loose (one ``@``, a local part, a dotted domain, no
    whitespace): Webex decides whether the person exists.
    """
    check_identifier(value, name)
    local, _, domain = value.partition("@")
    labels = domain.split(".")
    if (
        value.count("@") != 1
        or not local
        or len(labels) < 2
        or not all(labels)
        or any(character.isspace() for character in value)
    ):
        raise ValueError(f"{name} is {value!r}, which is not an email address like ann@example.com")
    return value


def check_file_url(value: str, name: str) -> str:
    """Return ``value``; raise ValueError unless it is an http(s) URL with a host."""
    check_identifier(value, name)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError(
            f"{name} is {value[:100]!r}, which is not an http(s) URL; Webex fetches each file "
            "from a URL such as https://example.com/report.pdf"
        )
    return value


def check_card_attachment(value: dict[str, Any], name: str) -> dict[str, Any]:
    """Return ``value``; raise ValueError unless it is an adaptive card attachment."""
    content_type = value.get("contentType")
    if content_type != ADAPTIVE_CARD_CONTENT_TYPE:
        raise ValueError(
            f"{name}.contentType is {content_type!r}; Webex accepts only "
            f"{ADAPTIVE_CARD_CONTENT_TYPE!r}"
        )
    if not isinstance(value.get("content"), dict):
        raise ValueError(f"{name}.content must be an object holding the adaptive card")
    return value


class Payload(BaseModel):
    """Base of all payload models: camelCase JSON, extra keys allowed and kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
    )

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


# --- webex.webhooks -----------------------------------------------------------------


class WebhookData(Payload):
    """The ``data`` object of a webhook callback; only ``id`` is always present."""

    id: str = Field(min_length=1)
    room_id: str | None = None
    room_type: str | None = None
    person_id: str | None = None
    person_email: str | None = None
    mentioned_people: list[str] | None = None
    created: str | None = None


class WebhookNotification(Payload):
    """A Webex webhook callback body. ``id`` is the webhook's id, not the event's."""

    id: str | None = None
    name: str | None = None
    target_url: str | None = None
    resource: str = Field(min_length=1)
    event: str = Field(min_length=1)
    filter: str | None = None
    org_id: str | None = None
    created_by: str | None = None
    app_id: str | None = None
    owned_by: str | None = None
    status: str | None = None
    created: str | None = None
    actor_id: str | None = None
    data: WebhookData

    @property
    def dedup_key(self) -> str:
        """The identity of the event behind the callback: resource, event and data id."""
        return f"{self.resource}:{self.event}:{self.data.id}"


# --- webex.messages -----------------------------------------------------------------


class ReceivedMessage(Payload):
    """A message fetched from Webex after a ``messages:created`` callback."""

    message_id: str
    room_id: str
    room_type: Literal["direct", "group"] | str
    person_id: str
    person_email: str | None = None
    text: str | None = None
    markdown: str | None = None
    html: str | None = None
    mentioned_people: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    created: str | None = None


class CardSubmitted(Payload):
    """An adaptive card submission fetched from ``GET /attachment/actions/{id}``."""

    action_id: str
    message_id: str
    room_id: str
    room_type: str | None = None
    person_id: str
    person_email: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    created: str | None = None


class BotAdded(Payload):
    """The bot became a member of a room."""

    room_id: str
    room_type: str | None = None
    actor_id: str | None = None
    membership_id: str | None = None


# --- backend.events -----------------------------------------------------------------


class BackendEvent(Payload):
    """A back-end event. An alert has ``to`` and ``subject``; other events may add ``data``.

    ``to`` with an ``@`` is a person's email, anything else a room id.
    """

    to: str | None = None
    subject: str | None = None
    message: str | None = None
    markdown: str | None = None
    data: dict[str, Any] | None = None


# --- outbound.messages --------------------------------------------------------------


class OutboundMessage(Payload):
    """One message to deliver. ``message_id`` is stable across retries and replays."""

    message_id: str = Field(min_length=1, max_length=200)
    room_id: str | None = None
    to_person_id: str | None = None
    to_person_email: str | None = None
    text: str | None = None
    markdown: str | None = None
    parent_id: str | None = None
    files: list[str] | None = None
    attachments: list[dict[str, Any]] | None = None

    @field_validator("room_id", "to_person_id", "parent_id")
    @classmethod
    def _check_ids(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_identifier(value, to_camel(str(info.field_name)))

    @field_validator("to_person_email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        return None if value is None else check_email(value, "toPersonEmail")

    @field_validator("files")
    @classmethod
    def _check_files(cls, value: list[str] | None) -> list[str] | None:
        for index, url in enumerate(value or ()):
            check_file_url(url, f"files[{index}]")
        return value

    @field_validator("attachments")
    @classmethod
    def _check_attachments(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, attachment in enumerate(value or ()):
            check_card_attachment(attachment, f"attachments[{index}]")
        return value

    @model_validator(mode="after")
    def _check_destination_and_body(self) -> OutboundMessage:
        destinations = [
            name for name in ("room_id", "to_person_id", "to_person_email") if getattr(self, name)
        ]
        if len(destinations) != 1:
            raise ValueError(
                "exactly one of roomId, toPersonId or toPersonEmail is required, got "
                + (", ".join(to_camel(name) for name in destinations) or "none")
            )
        if not (self.text or self.markdown or self.files or self.attachments):
            raise ValueError("a message needs text, markdown, files or attachments")
        if self.files is not None and len(self.files) > 1:
            raise ValueError("Webex accepts one file per message")
        if self.attachments is not None and len(self.attachments) > 1:
            raise ValueError("Webex accepts one card attachment per message")
        return self

    @property
    def conversation_key(self) -> str:
        from schemas.conversation import conversation_key

        return conversation_key(
            room_id=self.room_id,
            person_email=self.to_person_email,
            person_id=self.to_person_id,
        )


# --- outbound.deliveries ------------------------------------------------------------

DeliveryOutcome = Literal["delivered", "retrying", "dead-lettered", "skipped"]


class DeliveryAttempt(Payload):
    """One attempt to deliver one part of an outbound message, and its outcome."""

    message_id: str
    part_id: str
    attempt: int = Field(ge=0)
    outcome: DeliveryOutcome
    status_code: int | None = None
    latency_ms: float | None = None
    tracking_id: str | None = None
    webex_message_id: str | None = None
    error: str | None = None
    retry_after_seconds: float | None = None


# --- dead letters -------------------------------------------------------------------


class DeadLetter(Payload):
    """A record that could not be processed, with the reason and where it came from.

    ``original_value`` is the original record value as text when it is UTF-8, otherwise
    base64 with ``original_encoding`` = ``base64``.
    """

    reason: str
    stage: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    original_key: str | None = None
    original_value: str
    original_encoding: Literal["utf-8", "base64"] = "utf-8"
    original_headers: dict[str, str] = Field(default_factory=dict)
    status_code: int | None = None
    error_body: str | None = None
    tracking_id: str | None = None
    message_id: str | None = None
