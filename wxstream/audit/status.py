"""The delivery status of one outbound message, folded from its events.

Three topics tell a message's story: ``outbound.messages`` (requested, again on a
replay), ``outbound.deliveries`` (each attempt on each part and its outcome) and
``outbound.dead-letter`` (given up, with the reason). :func:`apply_event` folds one
event into a :class:`MessageStatus`. The worker's status view and the replay selection
both use it, so they agree on what "delivered" means.

A message is delivered when every part has a ``delivered`` or ``skipped`` outcome. A
long message is split into parts with ids ``<message id>#<index>/<count>``. It is
dead-lettered when its last dead letter is newer than its last request, failed when it
has a failed attempt and is neither delivered nor dead-lettered, and pending otherwise.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from schemas.topics import Topic

# The worker's faust table of statuses. faust names a table's changelog topic
# ``<app id>-<table>-changelog``, and the worker's app id is ``<topic prefix>worker``.
STATUS_TABLE = "message-status"

Status = Literal["pending", "failed", "delivered", "dead-lettered"]
STATUSES: tuple[Status, ...] = ("pending", "failed", "delivered", "dead-lettered")
MAX_ATTEMPTS_KEPT = 100
_PART_ID = re.compile(r"#(?P<index>\d+)/(?P<count>\d+)$")
_DONE_OUTCOMES = frozenset({"delivered", "skipped"})


def status_changelog_topic(topic_prefix: str) -> str:
    """Return the name of the compacted topic that contains the latest status of each message."""
    return f"{topic_prefix}worker-{STATUS_TABLE}-changelog"


def part_count(part_id: str) -> int:
    match = _PART_ID.search(part_id)
    return int(match["count"]) if match else 1


@dataclass
class MessageStatus:
    """The known facts about one outbound message, with times as RFC 3339 strings."""

    message_id: str
    conversation: str | None = None
    requested_at: str | None = None
    requests: int = 0
    parts: int | None = None
    delivered_parts: dict[str, str | None] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    failed_attempts: int = 0
    dead_letter: dict[str, Any] | None = None
    request_origin: dict[str, Any] | None = None

    @property
    def delivered(self) -> bool:
        if not self.delivered_parts:
            return False
        return len(self.delivered_parts) >= (self.parts or 1)

    @property
    def status(self) -> Status:
        if self.delivered:
            return "delivered"
        if self.dead_letter is not None and (
            self.requested_at is None or self.dead_letter.get("at", "") >= self.requested_at
        ):
            return "dead-lettered"
        if self.failed_attempts:
            return "failed"
        return "pending"

    @property
    def webex_message_ids(self) -> list[str]:
        return [value for value in self.delivered_parts.values() if value]

    def to_json(self) -> dict[str, Any]:
        """Return the API view: status first, then the facts behind it."""
        document: dict[str, Any] = {"messageId": self.message_id, "status": self.status}
        document["webexMessageIds"] = self.webex_message_ids
        document.update(
            {
                "conversation": self.conversation,
                "requestedAt": self.requested_at,
                "requests": self.requests,
                "parts": self.parts,
                "deliveredParts": len(self.delivered_parts),
                "deadLetter": self.dead_letter,
                "attempts": self.attempts,
            }
        )
        return document

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> MessageStatus:
        return cls(**json.loads(raw))


def message_id_of(topic: Topic, payload: dict[str, Any]) -> str | None:
    """Return the outbound message id an event is about, or None."""
    message_id = payload.get("messageId")
    if isinstance(message_id, str) and message_id:
        return message_id
    if topic is Topic.OUTBOUND_DEAD_LETTER and isinstance(payload.get("originalValue"), str):
        try:
            original = json.loads(payload["originalValue"])
        except ValueError:
            return None
        if isinstance(original, dict) and isinstance(original.get("messageId"), str):
            return str(original["messageId"])
    return None


def apply_event(
    status: MessageStatus | None,
    topic: Topic,
    payload: dict[str, Any],
    *,
    at: str,
    key: str | None = None,
    origin: dict[str, Any] | None = None,
) -> MessageStatus | None:
    """Fold one outbound event into the status of its message; None if it names none."""
    message_id = message_id_of(topic, payload)
    if message_id is None:
        return status
    status = status or MessageStatus(message_id=message_id)
    status.conversation = status.conversation or key

    if topic is Topic.OUTBOUND_MESSAGES:
        _apply_request(status, at, origin)
    elif topic is Topic.OUTBOUND_DELIVERIES:
        _apply_attempt(status, payload, at)
    elif topic is Topic.OUTBOUND_DEAD_LETTER:
        status.dead_letter = {
            "at": at,
            "reason": payload.get("reason"),
            "stage": payload.get("stage"),
            "statusCode": payload.get("statusCode"),
            "trackingId": payload.get("trackingId"),
        }
    return status


def _apply_request(status: MessageStatus, at: str, origin: dict[str, Any] | None) -> None:
    status.requests += 1
    if status.requested_at is None or at > status.requested_at:
        status.requested_at = at
    if status.request_origin is None:
        status.request_origin = origin


def _apply_attempt(status: MessageStatus, payload: dict[str, Any], at: str) -> None:
    part_id = str(payload.get("partId") or status.message_id)
    outcome = payload.get("outcome")
    status.parts = max(status.parts or 1, part_count(part_id))
    if outcome in _DONE_OUTCOMES:
        status.delivered_parts[part_id] = payload.get("webexMessageId")
    elif outcome in ("retrying", "dead-lettered"):
        status.failed_attempts += 1

    attempt = {
        name: payload[name]
        for name in (
            "partId",
            "attempt",
            "outcome",
            "statusCode",
            "latencyMs",
            "trackingId",
            "webexMessageId",
            "error",
            "retryAfterSeconds",
        )
        if payload.get(name) is not None
    }
    attempt["at"] = at
    status.attempts.append(attempt)
    del status.attempts[:-MAX_ATTEMPTS_KEPT]
