"""DurableProducer failure paths: no broker listening, and a fatal producer error."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import KafkaError

from ingest.errors import AppendUnavailable
from ingest.metrics import IngestMetrics
from ingest.producer import DurableProducer, producer_config
from schemas.envelope import Record
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import free_port, read_topic
from wxstream.settings import load_settings

APPEND_TIMEOUT_SECONDS = 1.0


def unreachable_producer(**overrides: object) -> DurableProducer:
    settings = load_settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        append_timeout_seconds=APPEND_TIMEOUT_SECONDS,
    )
    config = {**producer_config(settings), **overrides}
    return DurableProducer(config, APPEND_TIMEOUT_SECONDS, IngestMetrics())


def record(number: int) -> Record:
    return Record(key=f"room-{number}", value=b"{}", headers=[("ce_id", str(number).encode())])


def test_append_without_broker_fails_within_timeout() -> None:
    producer = unreachable_producer()
    producer.start()

    started = time.monotonic()
    with pytest.raises(AppendUnavailable) as raised:
        asyncio.run(producer.append("topic", record(1)))
    elapsed = time.monotonic() - started

    assert elapsed < APPEND_TIMEOUT_SECONDS + 0.5
    assert raised.value.headers["Retry-After"] == "2"
    assert producer.close(timeout=0.1) == 0


def test_append_wait_ends_at_deadline() -> None:
    # librdkafka reports the record failed only after 10 s, so the wait's own deadline
    # has to end it.
    producer = unreachable_producer(**{"message.timeout.ms": 10_000})
    producer.start()

    started = time.monotonic()
    with pytest.raises(AppendUnavailable) as raised:
        asyncio.run(producer.append("topic", record(1)))
    elapsed = time.monotonic() - started

    assert f"within {APPEND_TIMEOUT_SECONDS:g} s" in raised.value.message
    assert elapsed < APPEND_TIMEOUT_SECONDS + 0.5
    producer.close(timeout=0.1)


def test_close_fails_open_waits() -> None:
    settings = load_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    config = {**producer_config(settings), "message.timeout.ms": 60_000}
    metrics = IngestMetrics()
    producer = DurableProducer(config, 30.0, metrics)

    def in_flight() -> float | None:
        return metrics.registry.get_sample_value("wxstream_ingest_appends_in_flight")

    async def append_then_close() -> float:
        waiting = asyncio.ensure_future(producer.append("topic", record(1)))
        await asyncio.sleep(0.2)
        assert in_flight() == 1
        closed = time.monotonic()
        assert await asyncio.to_thread(producer.close, 0.1) == 1
        with pytest.raises(AppendUnavailable):
            await asyncio.wait_for(waiting, timeout=10)
        return time.monotonic() - closed

    assert asyncio.run(append_then_close()) < 5
    assert in_flight() == 0


def test_append_full_queue_is_unavailable_with_retry_after() -> None:
    producer = unreachable_producer(**{"queue.buffering.max.messages": 1})
    producer.start()

    async def append_two() -> BaseException | None:
        first = asyncio.ensure_future(producer.append("topic", record(1)))
        await asyncio.sleep(0)
        try:
            await producer.append("topic", record(2))
        except AppendUnavailable as exc:
            return exc
        finally:
            await asyncio.gather(first, return_exceptions=True)
        return None

    error = asyncio.run(append_two())

    assert isinstance(error, AppendUnavailable)
    assert "queue is full" in error.message
    assert error.headers["Retry-After"] == "1"
    producer.close(timeout=0.1)


def test_check_ready_reports_unreachable_broker() -> None:
    producer = unreachable_producer()

    problem = producer.check_ready(["topic"], timeout=0.5)

    assert problem is not None
    assert "not reachable" in problem
    producer.close(timeout=0.1)


def test_fatal_error_renews_producer(kafka_bootstrap: str, catalog: TopicCatalog) -> None:
    settings = load_settings(kafka_bootstrap_servers=kafka_bootstrap, append_timeout_seconds=10)
    metrics = IngestMetrics()
    producer = DurableProducer(producer_config(settings), 10.0, metrics)
    topic = catalog.name(Topic.BACKEND_EVENTS)
    fatal = KafkaError(KafkaError._FATAL, "fenced by the test", fatal=True)

    async def scenario() -> tuple[list[object], object, list[int], str | None]:
        producer.start()
        await producer.append(topic, record(0))
        # Records still queued when the producer fails are each either acknowledged or
        # failed with AppendUnavailable, never left waiting.
        queued = [asyncio.ensure_future(producer.append(topic, record(n))) for n in range(1, 21)]
        await asyncio.sleep(0)
        # librdkafka reports fatal errors through the error callback during poll().
        first_generation = producer._generation
        producer._on_error(fatal, first_generation)
        try:
            during: object = await producer.append(topic, record(21))
        except AppendUnavailable as exc:
            during = exc
        outcomes = await asyncio.gather(*queued, return_exceptions=True)
        # A late fatal error from the retired producer leaves its successor in place.
        producer._on_error(fatal, first_generation)
        after = [(await producer.append(topic, record(n))).offset for n in range(22, 25)]
        ready = await asyncio.to_thread(producer.check_ready, [topic], 5.0)
        return outcomes, during, after, ready

    outcomes, during, after, ready = asyncio.run(scenario())
    producer.close(timeout=5)

    assert isinstance(during, AppendUnavailable)
    assert "being replaced" in during.message
    for outcome in outcomes:
        if isinstance(outcome, AppendUnavailable):
            # Reported by the retired producer at once, not left to the append timeout.
            assert "within" not in outcome.message, outcome.message
        else:
            assert hasattr(outcome, "offset"), outcome
    assert len(after) == 3
    assert ready is None
    assert metrics.registry.get_sample_value("wxstream_ingest_producer_renewals_total") == 1
    ids = [r.header("ce_id") for r in read_topic(kafka_bootstrap, topic)]
    acknowledged = [str(n).encode() for n, o in enumerate(outcomes, 1) if hasattr(o, "offset")]
    assert set(acknowledged) <= set(ids)
    assert {b"0", b"22", b"23", b"24"} <= set(ids)
    assert b"21" not in ids
