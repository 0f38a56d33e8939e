"""A real Kafka broker for the test session, and helpers to read topics back.

The bootstrap address comes from, in order: ``WXSTREAM_TEST_KAFKA_BOOTSTRAP``; a
testcontainers Kafka when a Docker engine responds; the project's own launcher on free
ports with a temporary data folder. A broker that fails to start fails the tests with
its log; tests never skip because Kafka is absent.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from schemas.topics import TopicCatalog
from wxstream.broker import BrokerConfig, LocalBroker
from wxstream.settings import default_cache_dir
from wxstream.topics import ensure_topics

TEST_PARTITIONS = 3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@dataclass
class KafkaHandle:
    """A running broker for tests: its bootstrap address and, when ours, its launcher."""

    bootstrap: str
    broker: LocalBroker | None = None
    container: object | None = None

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop and start the broker, keeping its data; only for the project's launcher."""
        if self.broker is None:
            raise RuntimeError("restart needs the project's own broker launcher")
        self.broker.stop(timeout=30)
        time.sleep(down_seconds)
        self.broker.start(timeout=120)

    def stop(self) -> None:
        if self.broker is None:
            raise RuntimeError("stop needs the project's own broker launcher")
        self.broker.stop(timeout=30)

    def start(self) -> None:
        if self.broker is None:
            raise RuntimeError("start needs the project's own broker launcher")
        self.broker.start(timeout=120)


@contextmanager
def session_kafka(tmp_root: Path) -> Iterator[KafkaHandle]:
    configured = os.environ.get("WXSTREAM_TEST_KAFKA_BOOTSTRAP")
    if configured:
        yield KafkaHandle(bootstrap=configured)
        return

    if docker_available():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

        with KafkaContainer().with_kraft() as container:
            yield KafkaHandle(bootstrap=container.get_bootstrap_server(), container=container)
        return

    cache_dir = Path(os.environ.get("WXSTREAM_KAFKA_CACHE_DIR", default_cache_dir() / "kafka"))
    config = BrokerConfig(
        version=os.environ.get("WXSTREAM_KAFKA_VERSION", "4.1.1"),
        cache_dir=cache_dir,
        data_dir=tmp_root / "kafka",
        port=free_port(),
        controller_port=free_port(),
        heap="512m",
        internal_partitions=TEST_PARTITIONS,
    )
    broker = LocalBroker(config, progress=lambda line: print(f"[kafka] {line}", flush=True))
    try:
        broker.start(timeout=120)
    except Exception as exc:
        raise RuntimeError(
            f"the test Kafka broker failed to start: {exc}\n--- broker log ---\n"
            f"{broker.log_tail(80)}"
        ) from exc
    try:
        yield KafkaHandle(bootstrap=config.bootstrap, broker=broker)
    finally:
        broker.stop(timeout=30)


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


def create_catalog_topics(
    bootstrap: str, prefix: str, partitions: int = TEST_PARTITIONS
) -> TopicCatalog:
    catalog = TopicCatalog(prefix=prefix, partitions=partitions)
    results = ensure_topics(bootstrap, catalog)
    bad = [result for result in results if not result.ok]
    if bad:
        raise RuntimeError(f"test topics do not match the catalog: {bad}")
    return catalog


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int

    def header(self, name: str) -> bytes | None:
        for header_name, value in self.headers:
            if header_name == name:
                return value
        return None


def _high_watermark(consumer: Consumer, topic: str, partition: int, timeout: float) -> int:
    """Return the end offset, retrying while a new partition's leader is still loading."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            return int(high)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> list[ConsumedRecord]:
    """Read every record currently in ``topic``, from the beginning to the end offsets."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        partitions = sorted(metadata.topics[topic].partitions)
        ends = {}
        for partition in partitions:
            ends[partition] = _high_watermark(consumer, topic, partition, timeout)
        pending = {p for p, high in ends.items() if high > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list[ConsumedRecord] = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                raise RuntimeError(f"reading {topic} failed: {message.error()}")
            records.append(
                ConsumedRecord(
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    value=message.value(),
                    headers=list(message.headers() or []),
                    timestamp_ms=message.timestamp()[1],
                )
            )
            if message.offset() + 1 >= ends[message.partition()]:
                pending.discard(message.partition())
        if pending:
            raise TimeoutError(f"could not read {topic} to its end within {timeout} s")
        return records
    finally:
        consumer.close()


def wait_for_records(
    bootstrap: str, topic: str, count: int, timeout: float = 30.0
) -> list[ConsumedRecord]:
    """Poll ``topic`` until it contains at least ``count`` records; raise on timeout."""
    deadline = time.monotonic() + timeout
    records: list[ConsumedRecord] = []
    while time.monotonic() < deadline:
        records = read_topic(bootstrap, topic)
        if len(records) >= count:
            return records
        time.sleep(0.3)
    raise TimeoutError(f"{topic} has {len(records)} records after {timeout} s, expected {count}")
