"""Replay from the log: re-enqueue outbound messages and redrive dead letters.

Both operations first read the log and fold the outbound events into per-message
statuses (:mod:`wxstream.audit.status`), then build one new record per selected item and
append them all, unless it is a dry run.

A re-enqueued message keeps its payload and message id, so the sender's table of
delivered ids still suppresses a message that was delivered after all. A message that
was delivered is skipped unless ``force`` is set. A forced replay gets the new message
id ``<original id>~<replay id>``, which the sender has never delivered, so Webex gets it
again, and the audit of the original id still finds it.

A replayed record is the original event delivered again, with the same envelope plus
the replay provenance headers (:mod:`wxstream.audit.provenance`). Only a forced replay
is a new event: its envelope id is the new message id, its source ``wxstream/replay``
and its cause the original event, in the same chain.

Memory grows with the number of outbound messages in the selected range (one status
each, plus the request record of each), not with the rest of the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.envelope import Envelope, EnvelopeError, Record
from schemas.events import OUTBOUND_REQUESTED
from schemas.topics import Topic, TopicCatalog
from wxstream.audit.logreader import LogReader, LogRecord
from wxstream.audit.provenance import (
    REPLAY_ID,
    REPLAY_ORIGIN,
    REPLAYED_AT,
    REPLAYED_BY,
    SOURCE_REPLAY,
    Origin,
    ReplayStamp,
)
from wxstream.audit.status import MessageStatus, apply_event, message_id_of
from wxstream.audit.timeline import (
    OUTBOUND_TOPICS,
    Selector,
    message_id_matches,
    parse_value,
)
from wxstream.audit.timerange import TimeRange, from_millis
from wxstream.audit.writer import ReplayWriter, Written

logger = logging.getLogger(__name__)

StatusFilter = Literal["all", "pending", "failed", "dead-lettered", "delivered"]
STATUS_FILTERS: tuple[StatusFilter, ...] = (
    "all",
    "pending",
    "failed",
    "dead-lettered",
    "delivered",
)
DeadLetterKind = Literal["all", "inbound", "outbound"]
INBOUND_TOPICS = (Topic.WEBEX_WEBHOOKS, Topic.WEBEX_MESSAGES, Topic.BACKEND_EVENTS)
MAX_MESSAGE_ID_LENGTH = 200
FORCED_ID_NAMESPACE = uuid.UUID("3c9d5e1a-7b2f-4e8d-a6c4-9f1e0b7d2a58")


class ReplayError(Exception):
    """A replay request is invalid; the message says what to change."""


@dataclass(frozen=True)
class ReplayItem:
    """One selected record and what the replay does with it."""

    action: Literal["send", "skip"]
    reason: str
    origin: Origin
    key: str
    target: str
    status: str | None = None
    message_id: str | None = None
    new_message_id: str | None = None
    record: Record | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "action": self.action,
            "reason": self.reason,
            "key": self.key,
            "target": self.target,
            "origin": {
                "topic": self.origin.topic,
                "partition": self.origin.partition,
                "offset": self.origin.offset,
                "eventId": self.origin.event_id,
            },
        }
        for name, value in (
            ("status", self.status),
            ("messageId", self.message_id),
            ("newMessageId", self.new_message_id),
        ):
            if value is not None:
                document[name] = value
        return document


@dataclass
class ReplayResult:
    """What one replay run selected, and where its records were written."""

    replay_id: str
    operator: str
    dry_run: bool
    items: list[ReplayItem]
    written: list[Written] = field(default_factory=list)
    records_read: int = 0

    @property
    def to_send(self) -> list[ReplayItem]:
        return [item for item in self.items if item.action == "send"]

    def to_json(self) -> dict[str, Any]:
        return {
            "replayId": self.replay_id,
            "operator": self.operator,
            "dryRun": self.dry_run,
            "selected": len(self.items),
            "sent": 0 if self.dry_run else len(self.written),
            "skipped": len(self.items) - len(self.to_send),
            "recordsRead": self.records_read,
            "items": [item.to_json() for item in self.items],
        }


def forced_message_id(message_id: str, replay_id: str) -> str:
    """Return the id under which a forced replay posts a delivered message again."""
    candidate = f"{message_id}~{replay_id}"
    if len(candidate) <= MAX_MESSAGE_ID_LENGTH:
        return candidate
    return str(uuid.uuid5(FORCED_ID_NAMESPACE, candidate))


def replayed_envelope(
    original: Envelope, stamp: ReplayStamp, origin: Origin, *, new_id: str | None = None
) -> Envelope:
    """Return the envelope of a replayed copy of ``original``.

    The copy is the same event delivered again: it keeps the id, because consumers
    derive their idempotency from it (the alert router skips ids it routed, the command
    router derives the reply id from it), and it gains the replay provenance. With
    ``new_id`` it is a new event caused by the original, in the same chain.
    """
    extensions = {
        name: value
        for name, value in original.extensions.items()
        if name not in (REPLAY_ID, REPLAY_ORIGIN, REPLAYED_BY, REPLAYED_AT)
    }
    extensions.update(stamp.extensions(origin))
    update: dict[str, Any] = {"extensions": extensions}
    if new_id is not None:
        update.update(
            id=new_id,
            source=SOURCE_REPLAY,
            time=stamp.at,
            correlationid=original.correlationid or original.id,
            causationid=original.id,
        )
    return original.model_copy(update=update)


def origin_of(record: LogRecord, event_id: str | None, message_id: str | None = None) -> Origin:
    return Origin(record.topic_name, record.partition, record.offset, event_id, message_id)


def _iso(record: LogRecord) -> str:
    return from_millis(record.timestamp_ms).isoformat(timespec="milliseconds")


# --- outbound statuses ------------------------------------------------------------------


@dataclass
class _Request:
    record: LogRecord
    envelope: Envelope


@dataclass
class OutboundScan:
    """Statuses of the outbound messages seen, with the earliest request of each in range."""

    statuses: dict[str, MessageStatus] = field(default_factory=dict)
    requests: dict[str, _Request] = field(default_factory=dict)
    dead_letters: dict[str, tuple[LogRecord, dict[str, Any]]] = field(default_factory=dict)
    records_read: int = 0


def scan_outbound(reader: LogReader, selector: Selector, time_range: TimeRange) -> OutboundScan:
    """Read the outbound topics from the range start to the end of the log.

    Outcomes are read past the range end, because a message requested inside the range
    can be delivered or dead-lettered after it. Requests and dead letters count only
    inside the range.
    """
    scan = OutboundScan()
    until_ms = time_range.until_ms
    records = reader.read(OUTBOUND_TOPICS, since_ms=time_range.since_ms, keys=selector.key_bytes)
    for record in records:
        matched, payload = selector.matches(record)
        if not matched:
            continue
        payload = payload if payload is not None else parse_value(record.value)
        if payload is None:
            continue
        message_id = _fold(scan, record, payload)
        in_range = until_ms is None or record.timestamp_ms <= until_ms
        if message_id is None or not in_range:
            continue
        if record.topic is Topic.OUTBOUND_MESSAGES and message_id not in scan.requests:
            envelope = _envelope(record)
            if envelope is not None:
                scan.requests[message_id] = _Request(record, envelope)
        elif record.topic is Topic.OUTBOUND_DEAD_LETTER:
            scan.dead_letters[message_id] = (record, payload)
    scan.records_read = reader.stats.read
    return scan


def _fold(scan: OutboundScan, record: LogRecord, payload: dict[str, Any]) -> str | None:
    message_id = message_id_of(record.topic, payload)
    if message_id is None:
        return None
    scan.statuses[message_id] = apply_event(  # type: ignore[assignment]
        scan.statuses.get(message_id),
        record.topic,
        payload,
        at=_iso(record),
        key=record.key_text,
    )
    return message_id


def _envelope(record: LogRecord) -> Envelope | None:
    try:
        return Envelope.from_headers(record.headers)
    except EnvelopeError:
        logger.warning(
            "skipping %s[%d]@%d: its headers are not a valid envelope",
            record.topic_name,
            record.partition,
            record.offset,
        )
        return None


# --- replay deliveries --------------------------------------------------------------------


def _status_selected(status: str, wanted: StatusFilter) -> bool:
    if wanted == "all":
        return True
    if wanted == "failed":
        return status in ("failed", "dead-lettered")
    return status == wanted


def plan_deliveries(
    scan: OutboundScan,
    stamp: ReplayStamp,
    *,
    status_filter: StatusFilter = "all",
    force: bool = False,
) -> list[ReplayItem]:
    """Decide, for every requested message in range, whether to re-enqueue it."""
    items: list[ReplayItem] = []
    for message_id, request in sorted(
        scan.requests.items(), key=lambda pair: pair[1].record.timestamp_ms
    ):
        status = scan.statuses[message_id].status
        if not _status_selected(status, status_filter):
            continue
        items.append(_delivery_item(message_id, request, status, stamp, force))
    return items


def _delivery_item(
    message_id: str, request: _Request, status: str, stamp: ReplayStamp, force: bool
) -> ReplayItem:
    record = request.record
    key = record.key_text or ""
    origin = origin_of(record, request.envelope.id, message_id)
    if status == "delivered" and not force:
        return ReplayItem(
            "skip",
            "already delivered; use --force to post it again",
            origin,
            key,
            record.topic_name,
            status,
            message_id,
        )

    value = record.value or b""
    new_id = None
    if status == "delivered":
        new_id = forced_message_id(message_id, stamp.replay_id)
        value = _with_message_id(value, new_id)
    envelope = replayed_envelope(request.envelope, stamp, origin, new_id=new_id)
    reason = "forced: delivered before" if new_id else f"not delivered ({status})"
    return ReplayItem(
        "send",
        reason,
        origin,
        key,
        record.topic_name,
        status,
        message_id,
        new_id,
        Record(key=key, value=value, headers=envelope.to_headers()),
    )


def _with_message_id(value: bytes, message_id: str) -> bytes:
    document = json.loads(value)
    document["messageId"] = message_id
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# --- redrive dead letters -------------------------------------------------------------------


def _dead_letter_value(payload: dict[str, Any]) -> bytes:
    text = str(payload.get("originalValue") or "")
    if payload.get("originalEncoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ReplayError(f"dead letter holds invalid base64: {exc}") from exc
    return text.encode()


def _dead_letter_headers(
    payload: dict[str, Any], stamp: ReplayStamp, origin: Origin, fallback_type: str | None
) -> list[tuple[str, bytes]]:
    original_headers = payload.get("originalHeaders") or {}
    try:
        original = Envelope.from_headers(original_headers)
    except EnvelopeError:
        if fallback_type is None:
            # The original headers are kept as they were, so the consumer that rejected
            # them decides again; only the provenance headers are added.
            headers = [(name, str(value).encode()) for name, value in original_headers.items()]
            return headers + [
                ("ce_" + name, value.encode()) for name, value in stamp.extensions(origin).items()
            ]
        original = Envelope.new(type=fallback_type, source=SOURCE_REPLAY, id=origin.message_id)
    return replayed_envelope(original, stamp, origin).to_headers()


def plan_outbound_redrive(
    scan: OutboundScan, stamp: ReplayStamp, catalog: TopicCatalog
) -> list[ReplayItem]:
    """Redrive each outbound message whose latest dead letter is still its final status."""
    items: list[ReplayItem] = []
    target = catalog.name(Topic.OUTBOUND_MESSAGES)
    for message_id, (record, payload) in sorted(
        scan.dead_letters.items(), key=lambda pair: pair[1][0].timestamp_ms
    ):
        status = scan.statuses[message_id].status
        event_id = record.header("ce_id")
        origin = origin_of(record, event_id, message_id)
        key = str(payload.get("originalKey") or record.key_text or "")
        if status != "dead-lettered":
            reason = f"now {status}; nothing to redrive"
            items.append(ReplayItem("skip", reason, origin, key, target, status, message_id))
            continue
        value = _dead_letter_value(payload)
        headers = _dead_letter_headers(payload, stamp, origin, OUTBOUND_REQUESTED)
        items.append(
            ReplayItem(
                "send",
                f"dead-lettered: {payload.get('reason')}",
                origin,
                key,
                target,
                status,
                message_id,
                record=Record(key=key, value=value, headers=headers),
            )
        )
    return items


def plan_inbound_redrive(
    records: Iterable[LogRecord], stamp: ReplayStamp, catalog: TopicCatalog
) -> list[ReplayItem]:
    """Send each inbound dead letter back to the topic it came from."""
    allowed = {catalog.name(topic) for topic in INBOUND_TOPICS}
    items: list[ReplayItem] = []
    for record in records:
        payload = parse_value(record.value)
        if payload is None:
            continue
        origin = origin_of(record, record.header("ce_id"))
        key = str(payload.get("originalKey") or record.key_text or "")
        target = str(payload.get("sourceTopic") or "")
        if target not in allowed:
            reason = f"source topic {target!r} is not an inbound topic of this catalog"
            items.append(ReplayItem("skip", reason, origin, key, target))
            continue
        value = _dead_letter_value(payload)
        headers = _dead_letter_headers(payload, stamp, origin, None)
        reason = f"dead-lettered at {payload.get('stage')}: {payload.get('reason')}"
        items.append(
            ReplayItem(
                "send",
                reason,
                origin,
                key,
                target,
                record=Record(key=key, value=value, headers=headers),
            )
        )
    return items


def read_inbound_dead_letters(
    reader: LogReader, selector: Selector, time_range: TimeRange
) -> list[LogRecord]:
    records = reader.read(
        (Topic.INBOUND_DEAD_LETTER,),
        since_ms=time_range.since_ms,
        until_ms=time_range.until_ms,
        keys=selector.key_bytes,
    )
    return [record for record in records if selector.matches(record)[0]]


# --- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayRequest:
    """The selection and options of one replay run."""

    selector: Selector
    time_range: TimeRange
    operator: str
    dry_run: bool = False
    status_filter: StatusFilter = "all"
    force: bool = False
    dead_letter_kind: DeadLetterKind = "all"


def execute(items: list[ReplayItem], writer: ReplayWriter | None, dry_run: bool) -> list[Written]:
    if dry_run or writer is None:
        return []
    sends = [(item.target, item.record) for item in items if item.action == "send" and item.record]
    written = writer.write(sends)
    for item in items:
        if item.action == "send":
            logger.info(
                "replayed %s[%d]@%d to %s",
                item.origin.topic,
                item.origin.partition,
                item.origin.offset,
                item.target,
            )
    return written


def replay_deliveries(
    reader: LogReader, writer: ReplayWriter | None, request: ReplayRequest
) -> ReplayResult:
    """Re-enqueue the selected outbound messages to ``outbound.messages``."""
    stamp = ReplayStamp(operator=request.operator)
    scan = scan_outbound(reader, request.selector, request.time_range)
    items = plan_deliveries(scan, stamp, status_filter=request.status_filter, force=request.force)
    written = execute(items, writer, request.dry_run)
    return ReplayResult(
        stamp.replay_id, stamp.operator, request.dry_run, items, written, scan.records_read
    )


def redrive_dead_letters(
    reader: LogReader, writer: ReplayWriter | None, request: ReplayRequest
) -> ReplayResult:
    """Send the selected dead letters back: inbound to their source topic, outbound to
    ``outbound.messages``."""
    stamp = ReplayStamp(operator=request.operator)
    items: list[ReplayItem] = []
    read = 0
    if request.dead_letter_kind in ("all", "outbound"):
        scan = scan_outbound(reader, request.selector, request.time_range)
        items += plan_outbound_redrive(scan, stamp, reader.catalog)
        read += scan.records_read
    if request.dead_letter_kind in ("all", "inbound") and not request.selector.message_id:
        records = read_inbound_dead_letters(reader, request.selector, request.time_range)
        items += plan_inbound_redrive(records, stamp, reader.catalog)
        read += reader.stats.read
    written = execute(items, writer, request.dry_run)
    return ReplayResult(stamp.replay_id, stamp.operator, request.dry_run, items, written, read)


__all__ = [
    "STATUS_FILTERS",
    "ReplayError",
    "ReplayItem",
    "ReplayRequest",
    "ReplayResult",
    "forced_message_id",
    "message_id_matches",
    "redrive_dead_letters",
    "replay_deliveries",
]
