"""A durable producer for replayed records, waiting for every acknowledgement."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from schemas.envelope import Record
from schemas.topics import Topic, TopicCatalog

logger = logging.getLogger(__name__)


class ReplayWriteError(Exception):
    """The broker did not acknowledge every replayed record; the message says how many."""


@dataclass(frozen=True)
class Written:
    """Where the broker stored one replayed record."""

    topic: str
    partition: int
    offset: int


class ReplayWriter:
    """Append records with ``acks=all`` and the partitioner that faust and ingest use."""

    def __init__(self, bootstrap: str, catalog: TopicCatalog, *, timeout: float = 30.0) -> None:
        self.catalog = catalog
        self.timeout = timeout
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": "wxstream-replay",
                "enable.idempotence": True,
                "acks": "all",
                "partitioner": "murmur2_random",
                "message.timeout.ms": int(timeout * 1000),
            }
        )

    def write(self, items: Sequence[tuple[Topic | str, Record]]) -> list[Written]:
        """Append the records in order and return where each was stored."""
        results: list[Written | None] = [None] * len(items)
        errors: list[str] = []

        def on_delivery(index: int, error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(f"{message.topic()}: {error}")
                return
            results[index] = Written(
                message.topic() or "", message.partition() or 0, message.offset() or 0
            )

        for index, (topic, record) in enumerate(items):
            name = self.catalog.name(topic) if isinstance(topic, Topic) else topic
            self._producer.produce(
                name,
                key=record.key_bytes,
                value=record.value,
                headers=list(record.headers),
                on_delivery=functools.partial(on_delivery, index),
            )
            self._producer.poll(0)
        remaining = self._producer.flush(self.timeout)

        if remaining or errors or any(result is None for result in results):
            raise ReplayWriteError(
                f"{remaining + len(errors)} of {len(items)} replayed records were not "
                f"acknowledged within {self.timeout:.0f} s: {'; '.join(errors[:3]) or 'timed out'}"
            )
        return [result for result in results if result is not None]
