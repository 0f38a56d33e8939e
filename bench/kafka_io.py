"""Bulk writes and full reads of topics, with confluent-kafka, for set-up and reconciliation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from schemas.envelope import Record

TIMEOUT_SECONDS = 30.0


def durable_producer(bootstrap: str, linger_ms: int = 5) -> Producer:
    """Return a producer as durable as ingest's: idempotent, acks from all replicas.

    The default linger suits bulk set-up writes. The baselines pass wxstream's linger.
    """
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": linger_ms,
            "queue.buffering.max.messages": 200_000,
        }
    )


def produce_all(bootstrap: str, topic: str, records: Iterable[Record]) -> int:
    """Append every record and wait for all acknowledgements; return how many were written."""
    producer = durable_producer(bootstrap)
    failures: list[str] = []

    def on_delivery(error: object, message: object) -> None:
        if error is not None:
            failures.append(str(error))

    count = 0
    for record in records:
        produce_one(producer, topic, record, on_delivery)
        count += 1
    remaining = producer.flush(TIMEOUT_SECONDS * 4)
    if remaining or failures:
        raise RuntimeError(
            f"pre-filling {topic} failed: {remaining} records unacknowledged, "
            f"{len(failures)} delivery errors (first: {failures[:1]})"
        )
    return count


def produce_one(
    producer: Producer,
    topic: str,
    record: Record,
    on_delivery: Callable[[Any, Any], None],
    timestamp_ms: int | None = None,
) -> None:
    """Append one record (with an explicit CreateTime if given), waiting while the queue is full."""
    extra: dict[str, Any] = {} if timestamp_ms is None else {"timestamp": timestamp_ms}
    while True:
        try:
            producer.produce(
                topic,
                value=record.value,
                key=record.key_bytes,
                headers=list(record.headers),
                on_delivery=on_delivery,
                **extra,
            )
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.05)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Return the high watermark of each partition of ``topic``."""
    consumer = _consumer(bootstrap)
    try:
        metadata = consumer.list_topics(topic, timeout=TIMEOUT_SECONDS)
        partitions = metadata.topics[topic].partitions
        return {
            partition: consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=TIMEOUT_SECONDS
            )[1]
            for partition in partitions
        }
    finally:
        consumer.close()


def record_count(bootstrap: str, topic: str) -> int:
    return sum(end_offsets(bootstrap, topic).values())


def read_values(bootstrap: str, topic: str) -> Iterator[bytes]:
    """Yield the value of every record in ``topic`` up to its current end."""
    for message in read_messages(bootstrap, topic):
        value = message.value()
        if value is not None:
            yield value


def read_messages(bootstrap: str, topic: str) -> Iterator[Message]:
    """Yield every record in ``topic`` up to its current end."""
    ends = end_offsets(bootstrap, topic)
    consumer = _consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
        remaining = {p: end for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + TIMEOUT_SECONDS * 10
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end offsets {ends}")
            for message in consumer.consume(1000, timeout=1.0):
                if message.error() is not None:
                    raise KafkaException(message.error())
                partition = message.partition()
                if partition in remaining and message.offset() >= remaining[partition] - 1:
                    del remaining[partition]
                yield message
    finally:
        consumer.close()


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
    )
