"""Envelopes and payloads round-trip through a real Kafka broker unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.envelope import Envelope, Record, build_record
from schemas.events import (
    ALERT_RAISED,
    DELIVERY_ATTEMPTED,
    OUTBOUND_REQUESTED,
    UnsupportedEventError,
    decode_event,
    encode_event,
    model_for,
)
from schemas.payloads import BackendEvent, DeliveryAttempt, OutboundMessage
from wxstream.topics import admin_client


class OneTopic:
    """A single-partition topic with a producer and a consumer that reads record by record."""

    def __init__(self, bootstrap: str) -> None:
        self.name = f"roundtrip-{uuid.uuid4().hex[:8]}"
        admin = admin_client(bootstrap)
        admin.create_topics([NewTopic(self.name, num_partitions=1, replication_factor=1)])[
            self.name
        ].result(timeout=30)
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"roundtrip-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign([TopicPartition(self.name, 0, 0)])

    def roundtrip(self, record: Record):  # type: ignore[no-untyped-def]
        errors: list[object] = []
        self.producer.produce(
            self.name,
            key=record.key_bytes,
            value=record.value,
            headers=record.headers,
            on_delivery=lambda error, _msg: errors.append(error),
        )
        assert self.producer.flush(10) == 0
        assert errors == [None]
        for _ in range(60):
            message = self.consumer.poll(0.5)
            if message is not None and not message.error():
                return message
        raise AssertionError("the produced record was not consumed within 30 s")

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture(scope="module")
def one_topic(kafka) -> Iterator[OneTopic]:  # type: ignore[no-untyped-def]
    topic = OneTopic(kafka.bootstrap)
    yield topic
    topic.close()


def test_record_roundtrip_keeps_key_value_and_headers(one_topic: OneTopic) -> None:
    envelope = Envelope.new(
        type=ALERT_RAISED,
        source="tests",
        subject="room-1",
        correlationid="corr-1",
        causationid="cause-1",
        extensions={"requestid": "req-1", "receivedtime": "2026-01-01T00:00:00Z"},
    )
    record = encode_event(envelope, "room-1", BackendEvent(to="room-1", subject="disk full"))

    message = one_topic.roundtrip(record)

    assert message.key() == b"room-1"
    assert message.value() == record.value
    assert message.headers() == record.headers
    decoded_envelope, payload = decode_event(message.headers(), message.value())
    assert decoded_envelope == envelope
    assert payload == BackendEvent(to="room-1", subject="disk full")


def test_record_raw_bytes_are_kept_byte_for_byte(one_topic: OneTopic) -> None:
    raw = b'{"resource" : "messages",\n\t"data":{"id":"\\u00e9t\\u00e9"}}  '
    envelope = Envelope.new(type="com.webex.messages.created", source="tests", subject="r")

    message = one_topic.roundtrip(build_record(envelope, "r", raw))

    assert message.value() == raw


def test_record_empty_key_is_rejected() -> None:
    envelope = Envelope.new(type=ALERT_RAISED, source="tests")

    with pytest.raises(ValueError, match="record key is empty"):
        build_record(envelope, "", b"{}")


def test_envelope_unknown_version_is_unsupported() -> None:
    with pytest.raises(UnsupportedEventError, match="version 9"):
        model_for("wxstream.outbound.message.requested.v9")


def test_envelope_missing_attributes_are_named() -> None:
    with pytest.raises(ValueError, match="ce_source, ce_type"):
        decode_event([("ce_id", b"1"), ("ce_time", b"2026-01-01T00:00:00Z")], b"{}")


texts = st.text(max_size=60)
optional_texts = st.none() | texts
timestamps = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1), timezones=st.just(UTC)
)
extensions = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), texts, max_size=3
)
ids = st.text(min_size=1, max_size=40)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    event_id=ids,
    subject=optional_texts,
    time=timestamps,
    correlation=optional_texts,
    extra=extensions,
    key=ids,
    to=optional_texts,
    subject_line=optional_texts,
    message=optional_texts,
)
def test_envelope_and_backend_event_roundtrip(
    one_topic: OneTopic,
    event_id: str,
    subject: str | None,
    time: datetime,
    correlation: str | None,
    extra: dict[str, str],
    key: str,
    to: str | None,
    subject_line: str | None,
    message: str | None,
) -> None:
    extra = {name: value for name, value in extra.items() if name not in ("id", "type", "time")}
    envelope = Envelope(
        id=event_id,
        source="tests/✓",
        type=ALERT_RAISED,
        time=time,
        subject=subject,
        correlationid=correlation,
        extensions=extra,
    )
    payload = BackendEvent(to=to, subject=subject_line, message=message)

    consumed = one_topic.roundtrip(encode_event(envelope, key, payload))
    decoded_envelope, decoded_payload = decode_event(consumed.headers(), consumed.value())

    assert consumed.key().decode() == key
    assert decoded_envelope == envelope
    assert decoded_payload == payload


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    message_id=st.text(min_size=1, max_size=50),
    text=st.text(min_size=1, max_size=200),
    email=st.emails(),
    attempt=st.integers(min_value=0, max_value=100),
    latency=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_outbound_and_delivery_payloads_roundtrip(
    one_topic: OneTopic, message_id: str, text: str, email: str, attempt: int, latency: float
) -> None:
    outbound = OutboundMessage(message_id=message_id, to_person_email=email, text=text)
    attempt_payload = DeliveryAttempt(
        message_id=message_id,
        part_id=message_id,
        attempt=attempt,
        outcome="delivered",
        latency_ms=latency,
    )

    for event_type, payload in (
        (OUTBOUND_REQUESTED, outbound),
        (DELIVERY_ATTEMPTED, attempt_payload),
    ):
        envelope = Envelope.new(type=event_type, source="tests")
        consumed = one_topic.roundtrip(encode_event(envelope, outbound.conversation_key, payload))
        _, decoded = decode_event(consumed.headers(), consumed.value())
        assert decoded == payload


def test_outbound_message_requires_one_destination() -> None:
    with pytest.raises(ValueError, match="exactly one of roomId, toPersonId or toPersonEmail"):
        OutboundMessage(message_id="m", room_id="r", to_person_email="a@example.com", text="x")
    with pytest.raises(ValueError, match="got none"):
        OutboundMessage(message_id="m", text="x")
