"""Helpers for the audit and replay tests: write real event records at chosen times."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from schemas.envelope import Envelope, Record
from schemas.events import (
    DELIVERY_ATTEMPTED,
    MESSAGE_RECEIVED,
    OUTBOUND_DEAD_LETTERED,
    OUTBOUND_REQUESTED,
    SOURCE_INGEST,
    SOURCE_WORKER,
    encode_event,
    webhook_type,
)
from schemas.payloads import (
    DeadLetter,
    DeliveryAttempt,
    OutboundMessage,
    ReceivedMessage,
)
from schemas.topics import Topic, TopicCatalog
from wxstream.settings import Settings, load_settings

BODY_TEXT = "show status please"
REPLY_TEXT = "All systems nominal"


def reader_settings(bootstrap: str, catalog: TopicCatalog, **extra: Any) -> Settings:
    return load_settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=catalog.prefix,
        topic_partitions=catalog.partitions,
        _env_file=None,
        **extra,
    )


def cli_env(bootstrap: str, catalog: TopicCatalog) -> dict[str, str]:
    return {
        "WXSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "WXSTREAM_TOPIC_PREFIX": catalog.prefix,
        "WXSTREAM_TOPIC_PARTITIONS": str(catalog.partitions),
    }


@dataclass
class LogWriter:
    """Append records to the catalog's topics with explicit timestamps and wait for acks."""

    bootstrap: str
    catalog: TopicCatalog
    producer: Producer = field(init=False)

    def __post_init__(self) -> None:
        self.producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "partitioner": "murmur2_random",
            }
        )

    def write(self, topic: Topic, record: Record, at: datetime | None = None) -> None:
        """Append a record stamped ``at``, or now when ``at`` is None."""
        self.producer.produce(
            self.catalog.name(topic),
            key=record.key_bytes,
            value=record.value,
            headers=record.headers,
            timestamp=int(at.timestamp() * 1000) if at is not None else 0,
        )

    def flush(self) -> None:
        remaining = self.producer.flush(30)
        assert remaining == 0, f"{remaining} records were not acknowledged"


def webhook_body(room_id: str, message_id: str, person_email: str) -> dict[str, Any]:
    return {
        "id": f"webhook-{uuid.uuid4().hex[:8]}",
        "name": "messages",
        "resource": "messages",
        "event": "created",
        "data": {
            "id": message_id,
            "roomId": room_id,
            "roomType": "direct",
            "personId": "person-ann",
            "personEmail": person_email,
        },
    }


@dataclass
class Chain:
    """The events of one conversation turn, from webhook to the final delivery attempt."""

    room_id: str
    webhook: Envelope
    received: Envelope
    outbound: Envelope
    message_id: str
    attempts: list[Envelope]
    times: list[datetime]


def write_chain(
    writer: LogWriter,
    room_id: str,
    start: datetime,
    *,
    outcomes: Sequence[str] = ("retrying", "delivered"),
    step: timedelta = timedelta(milliseconds=200),
    secret_header: bool = True,
) -> Chain:
    """Write webhook → received message → outbound request → delivery attempts.

    ``outcomes`` lists the attempts' outcomes; ``dead-lettered`` as the last one also
    writes the dead letter.
    """
    webex_message_id = f"msg-{uuid.uuid4().hex[:8]}"
    times = [start + step * index for index in range(3 + len(outcomes) + 1)]

    body = webhook_body(room_id, webex_message_id, "ann@example.com")
    webhook = Envelope(
        id=body["id"],
        source=SOURCE_INGEST,
        type=webhook_type("messages", "created"),
        time=times[0],
        subject=room_id,
        extensions={"signature": "verified", "requestid": uuid.uuid4().hex},
    )
    headers = webhook.to_headers()
    if secret_header:
        headers.append(("authorization", b"Bearer do-not-show-this"))
    writer.write(
        Topic.WEBEX_WEBHOOKS, Record(room_id, json.dumps(body).encode(), headers), times[0]
    )

    received = Envelope.new(
        type=MESSAGE_RECEIVED, source=SOURCE_WORKER, subject=room_id, cause=webhook
    )
    message = ReceivedMessage(
        message_id=webex_message_id,
        room_id=room_id,
        room_type="direct",
        person_id="person-ann",
        person_email="ann@example.com",
        text=BODY_TEXT,
    )
    writer.write(Topic.WEBEX_MESSAGES, encode_event(received, room_id, message), times[1])

    message_id = str(uuid.uuid4())
    outbound = Envelope.new(
        type=OUTBOUND_REQUESTED,
        source=SOURCE_WORKER,
        subject=room_id,
        id=message_id,
        cause=received,
    )
    reply = OutboundMessage(message_id=message_id, room_id=room_id, markdown=REPLY_TEXT)
    writer.write(Topic.OUTBOUND_MESSAGES, encode_event(outbound, room_id, reply), times[2])

    attempts = []
    for number, outcome in enumerate(outcomes, start=1):
        attempt_envelope = Envelope.new(
            type=DELIVERY_ATTEMPTED, source=SOURCE_WORKER, subject=room_id, cause=outbound
        )
        delivered = outcome == "delivered"
        attempt = DeliveryAttempt(
            message_id=message_id,
            part_id=message_id,
            attempt=number,
            outcome=outcome,  # type: ignore[arg-type]
            status_code=200 if delivered else 503,
            latency_ms=42.5,
            tracking_id=f"track-{number}",
            webex_message_id=f"webex-{message_id[:8]}" if delivered else None,
        )
        writer.write(
            Topic.OUTBOUND_DELIVERIES,
            encode_event(attempt_envelope, room_id, attempt),
            times[2 + number],
        )
        attempts.append(attempt_envelope)

    if outcomes and outcomes[-1] == "dead-lettered":
        write_outbound_dead_letter(writer, outbound, reply, times[-1])
    return Chain(room_id, webhook, received, outbound, message_id, attempts, times)


def write_outbound_dead_letter(
    writer: LogWriter, cause: Envelope, message: OutboundMessage, at: datetime
) -> Envelope:
    key = message.conversation_key
    envelope = Envelope.new(
        type=OUTBOUND_DEAD_LETTERED, source=SOURCE_WORKER, subject=key, cause=cause
    )
    original_headers = {name: value.decode() for name, value in cause.to_headers()}
    dead_letter = DeadLetter(
        reason="retries exhausted: POST /messages returned 503",
        stage="sender.deliver",
        source_topic=writer.catalog.name(Topic.OUTBOUND_MESSAGES),
        source_partition=0,
        source_offset=0,
        original_key=key,
        original_value=message.to_json_bytes().decode(),
        original_headers=original_headers,
        status_code=503,
        tracking_id="track-dead",
        message_id=message.message_id,
    )
    writer.write(Topic.OUTBOUND_DEAD_LETTER, encode_event(envelope, key, dead_letter), at)
    return envelope


def outbound_request(
    writer: LogWriter, room_id: str, at: datetime, text: str = REPLY_TEXT
) -> tuple[Envelope, OutboundMessage]:
    """Write one outbound request as the ingest service does (event id = message id)."""
    message_id = str(uuid.uuid4())
    envelope = Envelope(
        id=message_id, source=SOURCE_INGEST, type=OUTBOUND_REQUESTED, time=at, subject=room_id
    )
    message = OutboundMessage(message_id=message_id, room_id=room_id, markdown=text)
    writer.write(Topic.OUTBOUND_MESSAGES, encode_event(envelope, room_id, message), at)
    return envelope, message


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
