"""A streaming, time-seeking reader over the catalog's topics.

A read is planned before it starts. For every partition of the requested topics the
reader captures the end offset (the high watermark) and, when a start time is given,
seeks with ``offsets_for_times`` to the first record at or after it. When an end time is
given, the end is also cut at the first record after it. Records appended after the
read started are never read, so a read of a busy log ends.

When the caller names the record keys it wants (conversation keys), only the partitions
those keys hash to are read, because every topic is keyed by conversation and written
with the murmur2 partitioner (except ``backend.events``, see
:data:`KEY_PARTITIONED_TOPICS`). Records are
yielded one at a time. Memory is bounded by librdkafka's fetch queue, which this reader
limits, and never grows with the size of the log.

NOTE: seeking trusts record timestamps (``CreateTime``) to grow with the offset inside
a partition. A record whose producer clock ran behind by more than the gap to its
neighbours can fall outside a seek, although its timestamp is inside the range.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from schemas.topics import Topic, TopicCatalog
from wxstream.audit.partitioner import partition_for_key

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
POLL_TIMEOUT_SECONDS = 0.5
# librdkafka prefetches up to this many kilobytes per consumer; it bounds the reader's memory.
FETCH_QUEUE_KBYTES = 4096
# The maximum size of one fetch response, in all and per partition. With librdkafka's
# default total of 50 MiB, one response could outgrow the prefetch bound many times over.
FETCH_MAX_BYTES = 4 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 1024 * 1024

ProgressCallback = Callable[["ReadStats"], None]

# Topics whose producers all use the murmur2 partitioner (ingest, faust, replay), so a
# key's partition can be computed. Any client may write ``backend.events`` directly,
# with any partitioner, so it is read in full and filtered by key.
KEY_PARTITIONED_TOPICS = frozenset(Topic) - {Topic.BACKEND_EVENTS}


class LogReadError(Exception):
    """The log could not be read: a topic is missing, or a broker request timed out."""


@dataclass(frozen=True)
class LogRecord:
    """One record read from the log, with where it was stored."""

    topic: Topic
    topic_name: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        """Return the value of the first header called ``name`` as text, or None."""
        for header_name, raw in self.headers:
            if header_name == name:
                return raw.decode("utf-8", errors="replace") if raw is not None else None
        return None

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", errors="replace") if self.key is not None else None


@dataclass(frozen=True)
class PartitionRange:
    """The offsets ``[start, end)`` a read covers in one partition."""

    topic: Topic
    topic_name: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


@dataclass
class ReadStats:
    """Counts of one read: records planned, read from Kafka and yielded to the caller."""

    planned: int = 0
    read: int = 0
    yielded: int = 0
    partitions: int = 0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def elapsed_seconds(self) -> float:
        return time.monotonic() - self.started_at


class StderrProgress:
    """Print the progress of long reads to a stream, at most once per ``interval`` seconds.

    Reads that plan fewer than ``min_planned`` records print nothing.
    """

    def __init__(
        self,
        label: str,
        *,
        interval: float = 2.0,
        min_planned: int = 0,
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.interval = interval
        self.min_planned = min_planned
        self.stream = stream or sys.stderr
        self._last = time.monotonic()

    def __call__(self, stats: ReadStats) -> None:
        now = time.monotonic()
        if stats.planned < self.min_planned or now - self._last < self.interval:
            return
        self._last = now
        share = 100.0 * stats.read / stats.planned if stats.planned else 100.0
        print(
            f"{self.label}: read {stats.read:,} of {stats.planned:,} records ({share:.0f}%), "
            f"{stats.yielded:,} matched, {stats.elapsed_seconds:.0f} s",
            file=self.stream,
            flush=True,
        )


class LogReader:
    """Read records of the catalog's topics between two times, partition-pruned by key."""

    def __init__(
        self,
        bootstrap: str,
        catalog: TopicCatalog,
        *,
        timeout: float = 30.0,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.catalog = catalog
        self.timeout = timeout
        self.progress = progress
        self.stats = ReadStats()

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                # Offsets are assigned explicitly and never committed; the group id is
                # required by the client but joins no group.
                "group.id": f"wxstream-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "queued.max.messages.kbytes": FETCH_QUEUE_KBYTES,
                "fetch.max.bytes": FETCH_MAX_BYTES,
                "max.partition.fetch.bytes": PARTITION_FETCH_MAX_BYTES,
                "socket.timeout.ms": int(self.timeout * 1000),
            }
        )

    def plan(
        self,
        consumer: Consumer,
        topics: Collection[Topic],
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        keys: Collection[bytes] | None = None,
    ) -> list[PartitionRange]:
        """Return the offset range of every partition the read covers, end offsets now."""
        ranges: list[PartitionRange] = []
        for topic in topics:
            name = self.catalog.name(topic)
            pruning_keys = keys if topic in KEY_PARTITIONED_TOPICS else None
            for partition in self._partitions(consumer, name, pruning_keys):
                ranges.append(self._range(consumer, topic, name, partition, since_ms, until_ms))
        return ranges

    def _partitions(
        self, consumer: Consumer, name: str, keys: Collection[bytes] | None
    ) -> list[int]:
        try:
            metadata = consumer.list_topics(name, timeout=self.timeout)
        except KafkaException as exc:
            raise LogReadError(f"could not read the metadata of {name}: {exc}") from exc
        described = metadata.topics.get(name)
        if described is None or described.error is not None or not described.partitions:
            raise LogReadError(
                f"topic {name} does not exist on {self.bootstrap}; check WXSTREAM_TOPIC_PREFIX "
                "or run `wxstream topics create`"
            )
        count = len(described.partitions)
        if keys is None:
            return list(range(count))
        return sorted({partition_for_key(key, count) for key in keys})

    def _range(
        self,
        consumer: Consumer,
        topic: Topic,
        name: str,
        partition: int,
        since_ms: int | None,
        until_ms: int | None,
    ) -> PartitionRange:
        low, high = self._watermarks(consumer, name, partition)
        start = low if since_ms is None else self._offset_at(consumer, name, partition, since_ms)
        end = high if until_ms is None else self._offset_at(consumer, name, partition, until_ms + 1)
        start = high if start < 0 else max(start, low)
        end = high if end < 0 else min(end, high)
        return PartitionRange(topic, name, partition, start, max(start, end))

    def _watermarks(self, consumer: Consumer, name: str, partition: int) -> tuple[int, int]:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=self.timeout
                )
                return int(low), int(high)
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise LogReadError(
                        f"could not read the offsets of {name}[{partition}]: {exc}"
                    ) from exc
                time.sleep(0.2)

    def _offset_at(self, consumer: Consumer, name: str, partition: int, timestamp_ms: int) -> int:
        """Return the first offset whose timestamp is at or after ``timestamp_ms``, or -1."""
        try:
            found = consumer.offsets_for_times(
                [TopicPartition(name, partition, timestamp_ms)], timeout=self.timeout
            )
        except KafkaException as exc:
            raise LogReadError(f"could not seek {name}[{partition}] by time: {exc}") from exc
        return int(found[0].offset)

    def read(
        self,
        topics: Collection[Topic],
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        keys: Collection[bytes] | None = None,
    ) -> Iterator[LogRecord]:
        """Yield the records of ``topics`` in the time range, with one of ``keys`` if given.

        Records come in offset order within a partition; partitions interleave.
        """
        self.stats = ReadStats()
        wanted = frozenset(keys) if keys is not None else None
        consumer = self._consumer()
        try:
            ranges = [
                r
                for r in self.plan(
                    consumer, topics, since_ms=since_ms, until_ms=until_ms, keys=wanted
                )
                if r.size
            ]
            self.stats.planned = sum(r.size for r in ranges)
            self.stats.partitions = len(ranges)
            logger.debug("reading %d records from %d partitions", self.stats.planned, len(ranges))
            if not ranges:
                return
            yield from self._consume(consumer, ranges, since_ms, until_ms, wanted)
        finally:
            consumer.close()

    def _consume(
        self,
        consumer: Consumer,
        ranges: list[PartitionRange],
        since_ms: int | None,
        until_ms: int | None,
        keys: frozenset[bytes] | None,
    ) -> Iterator[LogRecord]:
        pending = {(r.topic_name, r.partition): r for r in ranges}
        consumer.assign([TopicPartition(r.topic_name, r.partition, r.start) for r in ranges])
        last_progress = time.monotonic()

        while pending:
            messages = consumer.consume(BATCH_SIZE, timeout=POLL_TIMEOUT_SECONDS)
            if not messages:
                if time.monotonic() - last_progress > self.timeout:
                    raise LogReadError(
                        f"no records arrived from {self.bootstrap} for {self.timeout:.0f} s "
                        f"with {len(pending)} partitions left to read"
                    )
                continue
            last_progress = time.monotonic()

            for message in messages:
                coordinates = (message.topic() or "", message.partition() or 0)
                partition_range = pending.get(coordinates)
                if partition_range is None:
                    continue
                if message.error() is not None:
                    self._check_error(message)
                    self._finish(consumer, pending, coordinates)
                    continue
                offset = message.offset() or 0
                if offset >= partition_range.end:
                    self._finish(consumer, pending, coordinates)
                    continue
                self.stats.read += 1
                if offset + 1 >= partition_range.end:
                    self._finish(consumer, pending, coordinates)
                record = _accept(message, partition_range, since_ms, until_ms, keys)
                if record is not None:
                    self.stats.yielded += 1
                    yield record
            if self.progress is not None:
                self.progress(self.stats)

    def _check_error(self, message: Message) -> None:
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            raise LogReadError(
                f"reading {message.topic()}[{message.partition()}] failed: {error}; "
                "check that the broker is reachable"
            )

    def _finish(
        self,
        consumer: Consumer,
        pending: dict[tuple[str, int], PartitionRange],
        coordinates: tuple[str, int],
    ) -> None:
        if pending.pop(coordinates, None) is not None:
            consumer.pause([TopicPartition(*coordinates)])


def _accept(
    message: Message,
    partition_range: PartitionRange,
    since_ms: int | None,
    until_ms: int | None,
    keys: frozenset[bytes] | None,
) -> LogRecord | None:
    key = message.key()
    if keys is not None and key not in keys:
        return None
    timestamp_ms = message.timestamp()[1]
    if since_ms is not None and timestamp_ms < since_ms:
        return None
    if until_ms is not None and timestamp_ms > until_ms:
        return None
    return LogRecord(
        topic=partition_range.topic,
        topic_name=partition_range.topic_name,
        partition=partition_range.partition,
        offset=message.offset() or 0,
        timestamp_ms=timestamp_ms,
        key=key,
        value=message.value(),
        headers=_header_pairs(message),
    )


def _header_pairs(message: Message) -> tuple[tuple[str, bytes], ...]:
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return tuple(
        (name, value.encode() if isinstance(value, str) else value or b"") for name, value in pairs
    )
