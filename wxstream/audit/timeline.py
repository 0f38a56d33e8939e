"""Audit timelines: the records of one conversation, chain or outbound message, in time order.

A :class:`Selector` says which records belong to the timeline. Its conversation keys go
to the :class:`~wxstream.audit.logreader.LogReader`, which skips other keys without
decoding them and reads only the partitions those keys hash to. A correlation id is
matched on headers alone, and a message id on a byte search of the value before the
value is parsed. Each matching record becomes a :class:`TimelineEntry`.

The timeline is sorted after the read, so memory grows with the number of matching
records, not with the size of the log; ``max_entries`` bounds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.conversation import conversation_key
from schemas.envelope import Envelope, EnvelopeError
from schemas.events import (
    ALERT_RAISED,
    BOT_ADDED,
    CARD_SUBMITTED,
    MESSAGE_RECEIVED,
    WEBHOOK_TYPE_PREFIX,
)
from schemas.topics import Topic
from wxstream.audit.logreader import LogReader, LogRecord
from wxstream.audit.provenance import replay_of
from wxstream.audit.redaction import hide_bodies, safe_headers, strip_secrets
from wxstream.audit.timerange import TimeRange, from_millis

DEFAULT_MAX_ENTRIES = 100_000

# Flow order of the topics, used to order records that share a timestamp.
FLOW_ORDER = (
    Topic.WEBEX_WEBHOOKS,
    Topic.WEBEX_MESSAGES,
    Topic.BACKEND_EVENTS,
    Topic.INBOUND_DEAD_LETTER,
    Topic.OUTBOUND_MESSAGES,
    Topic.OUTBOUND_DELIVERIES,
    Topic.OUTBOUND_DEAD_LETTER,
)
OUTBOUND_TOPICS = (Topic.OUTBOUND_MESSAGES, Topic.OUTBOUND_DELIVERIES, Topic.OUTBOUND_DEAD_LETTER)


class AuditError(Exception):
    """An audit query is invalid or its result is too large; the message says what to change."""


def message_id_matches(candidate: object, wanted: str) -> bool:
    """Whether ``candidate`` is message ``wanted``, one of its parts or a forced replay of it."""
    if not isinstance(candidate, str):
        return False
    return candidate == wanted or candidate.startswith((wanted + "#", wanted + "~"))


@dataclass(frozen=True)
class Selector:
    """Which records a timeline holds: conversations, a chain, or one outbound message."""

    keys: frozenset[str] | None = None
    correlation_id: str | None = None
    message_id: str | None = None

    @classmethod
    def build(
        cls,
        *,
        rooms: Iterable[str] = (),
        persons: Iterable[str] = (),
        correlation_id: str | None = None,
        message_id: str | None = None,
        allow_everything: bool = False,
    ) -> Selector:
        """Build a selector; raise AuditError when it selects everything and that is not allowed."""
        keys = {conversation_key(room_id=room) for room in rooms if room}
        keys |= {conversation_key(person_email=email) for email in persons if email}
        selector = cls(frozenset(keys) or None, correlation_id or None, message_id or None)
        if selector.selects_everything and not allow_everything:
            raise AuditError(
                "no selection: give --room, --person, --correlation-id or --message-id"
            )
        return selector

    @property
    def selects_everything(self) -> bool:
        return self.keys is None and not self.correlation_id and not self.message_id

    @property
    def key_bytes(self) -> frozenset[bytes] | None:
        return frozenset(key.encode() for key in self.keys) if self.keys else None

    @property
    def topics(self) -> tuple[Topic, ...]:
        if self.message_id and not self.correlation_id:
            return OUTBOUND_TOPICS
        return FLOW_ORDER

    def matches_headers(self, record: LogRecord) -> bool:
        if self.correlation_id is None:
            return True
        return self.correlation_id in (record.header("ce_correlationid"), record.header("ce_id"))

    def matches_payload(self, record: LogRecord, payload: dict[str, Any] | None) -> bool:
        wanted = self.message_id
        if wanted is None:
            return True
        if record.value is None or wanted.encode() not in record.value or payload is None:
            return False
        return any(
            message_id_matches(payload.get(name), wanted) for name in ("messageId", "partId")
        )

    def matches(self, record: LogRecord) -> tuple[bool, dict[str, Any] | None]:
        """Whether the record belongs to the timeline, and its parsed value when parsed."""
        if not self.matches_headers(record):
            return False, None
        if self.message_id is not None:
            if record.value is None or self.message_id.encode() not in record.value:
                return False, None
            payload = parse_value(record.value)
            return self.matches_payload(record, payload), payload
        return True, None


@dataclass(frozen=True)
class TimelineEntry:
    """One record of a timeline, decoded, with secrets removed and bodies hidden unless asked."""

    time: datetime
    topic: Topic
    partition: int
    offset: int
    key: str | None
    kind: str
    event_type: str | None
    event_id: str | None
    correlation_id: str | None
    causation_id: str | None
    details: dict[str, Any] = field(default_factory=dict)
    replay: dict[str, Any] | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    payload: Any = None

    @property
    def sort_key(self) -> tuple[datetime, int, int, int]:
        return (self.time, FLOW_ORDER.index(self.topic), self.partition, self.offset)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "topic": self.topic.value,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "kind": self.kind,
            "type": self.event_type,
            "id": self.event_id,
            "correlationId": self.correlation_id,
            "causationId": self.causation_id,
            **self.details,
        }
        if self.replay is not None:
            document["replay"] = self.replay
        if self.extensions:
            document["extensions"] = self.extensions
        document["payload"] = self.payload
        return document


def parse_value(value: bytes | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _kind(topic: Topic, event_type: str | None) -> str:
    if topic is Topic.WEBEX_WEBHOOKS:
        return "webhook"
    if topic is Topic.WEBEX_MESSAGES:
        return {MESSAGE_RECEIVED: "message", CARD_SUBMITTED: "card", BOT_ADDED: "bot-added"}.get(
            event_type or "", "enriched"
        )
    if topic is Topic.BACKEND_EVENTS:
        return "alert" if event_type == ALERT_RAISED else "backend-event"
    if topic is Topic.OUTBOUND_MESSAGES:
        return "outbound"
    if topic is Topic.OUTBOUND_DELIVERIES:
        return "attempt"
    return "dead-letter"


_DETAIL_FIELDS: dict[Topic, tuple[str, ...]] = {
    Topic.WEBEX_WEBHOOKS: ("resource", "event"),
    Topic.WEBEX_MESSAGES: ("messageId", "actionId", "personEmail", "roomType"),
    Topic.BACKEND_EVENTS: ("to",),
    Topic.OUTBOUND_MESSAGES: ("messageId", "roomId", "toPersonEmail", "toPersonId", "parentId"),
    Topic.OUTBOUND_DELIVERIES: (
        "messageId",
        "partId",
        "attempt",
        "outcome",
        "statusCode",
        "latencyMs",
        "trackingId",
        "webexMessageId",
        "error",
        "retryAfterSeconds",
    ),
    Topic.OUTBOUND_DEAD_LETTER: (
        "reason",
        "stage",
        "messageId",
        "statusCode",
        "trackingId",
        "sourceTopic",
    ),
    Topic.INBOUND_DEAD_LETTER: ("reason", "stage", "statusCode", "trackingId", "sourceTopic"),
}


def _details(topic: Topic, payload: dict[str, Any] | None) -> dict[str, Any]:
    if payload is None:
        return {}
    details = {name: payload[name] for name in _DETAIL_FIELDS[topic] if name in payload}
    if topic is Topic.WEBEX_WEBHOOKS and isinstance(payload.get("data"), dict):
        details["dataId"] = payload["data"].get("id")
    return strip_secrets(details)


def build_entry(
    record: LogRecord, payload: dict[str, Any] | None, *, include_bodies: bool
) -> TimelineEntry:
    """Decode one record into a timeline entry."""
    if payload is None:
        payload = parse_value(record.value)
    try:
        envelope: Envelope | None = Envelope.from_headers(record.headers)
    except EnvelopeError:
        envelope = None
    event_type = envelope.type if envelope else record.header("ce_type")

    shown: Any = None
    if payload is not None:
        webhook = bool(event_type and event_type.startswith(WEBHOOK_TYPE_PREFIX))
        shown = strip_secrets(payload if include_bodies else hide_bodies(payload, webhook=webhook))
    elif record.value is not None and include_bodies:
        shown = record.value.decode("utf-8", errors="replace")

    extensions = {}
    if envelope is not None:
        extensions = safe_headers(
            (name, value.encode()) for name, value in envelope.extensions.items()
        )
    details = _details(record.topic, payload)
    if envelope is None:
        details["error"] = "headers are not a valid envelope"
    return TimelineEntry(
        time=from_millis(record.timestamp_ms),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key_text,
        kind=_kind(record.topic, event_type),
        event_type=event_type,
        event_id=envelope.id if envelope else record.header("ce_id"),
        correlation_id=envelope.correlationid if envelope else None,
        causation_id=envelope.causationid if envelope else None,
        details=details,
        replay=replay_of(envelope) if envelope else None,
        extensions={k: v for k, v in extensions.items() if not k.startswith("replay")},
        payload=shown,
    )


@dataclass(frozen=True)
class AuditQuery:
    """A timeline request: what to select, over which time range, showing bodies or not."""

    selector: Selector
    time_range: TimeRange = field(default_factory=TimeRange)
    include_bodies: bool = False
    max_entries: int = DEFAULT_MAX_ENTRIES


def iter_matches(reader: LogReader, query: AuditQuery) -> Iterator[TimelineEntry]:
    """Yield the query's entries in read order (not sorted)."""
    selector = query.selector
    records = reader.read(
        selector.topics,
        since_ms=query.time_range.since_ms,
        until_ms=query.time_range.until_ms,
        keys=selector.key_bytes,
    )
    for record in records:
        matched, payload = selector.matches(record)
        if matched:
            yield build_entry(record, payload, include_bodies=query.include_bodies)


def build_timeline(reader: LogReader, query: AuditQuery) -> list[TimelineEntry]:
    """Read the log and return the query's entries sorted by time, then flow order."""
    entries: list[TimelineEntry] = []
    for entry in iter_matches(reader, query):
        entries.append(entry)
        if len(entries) > query.max_entries:
            raise AuditError(
                f"more than {query.max_entries:,} records match; narrow the time range "
                "with --since and --until, or raise --max-entries"
            )
    entries.sort(key=lambda entry: entry.sort_key)
    return entries
