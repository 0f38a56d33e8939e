"""The ingest service's copy of the worker's message status view.

The worker keeps the latest status of every outbound message in a compacted changelog
topic (see :mod:`processors.status`). :class:`StatusView` reads that topic from the
beginning in a background thread and keeps following it, storing each message's latest
status in SQLite on disk, so memory stays small however many messages there are. The
store is rebuilt from the topic at every start and deleted at shutdown, because the
topic is the source of truth.

Until the thread has read up to the end offsets it found when it started, a lookup may
miss a status the topic already contains, and :attr:`StatusView.caught_up` is false.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from ingest.kafka_log import ClientErrorLog
from wxstream.audit.status import MessageStatus

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
POLL_TIMEOUT_SECONDS = 0.5
RETRY_SECONDS = 2.0
FETCH_QUEUE_KBYTES = 4096


class StatusStore:
    """Latest status bytes by message id, in an SQLite file; safe to use from two threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE IF NOT EXISTS status (id TEXT PRIMARY KEY, value BLOB)")

    def apply(self, changes: list[tuple[str, bytes | None]]) -> None:
        """Store each (id, value) in one transaction; a None value deletes the id."""
        with self._lock:
            self._db.execute("BEGIN")
            for message_id, value in changes:
                if value is None:
                    self._db.execute("DELETE FROM status WHERE id = ?", (message_id,))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO status (id, value) VALUES (?, ?)",
                        (message_id, value),
                    )
            self._db.execute("COMMIT")

    def get(self, message_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM status WHERE id = ?", (message_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.path.unlink(missing_ok=True)


class StatusView:
    """Follows the status changelog topic into a :class:`StatusStore`."""

    def __init__(self, bootstrap: str, topic: str, store_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.store = StatusStore(store_dir / f"message-status-{uuid.uuid4().hex}.sqlite")
        self.caught_up = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="message-status-view", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.store.close()

    def get(self, message_id: str) -> MessageStatus | None:
        raw = self.store.get(message_id)
        return MessageStatus.from_bytes(raw) if raw is not None else None

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"wxstream-ingest-status-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "queued.max.messages.kbytes": FETCH_QUEUE_KBYTES,
                **ClientErrorLog(logger, "status view consumer").client_config(),
            }
        )
        try:
            ends = self._assign(consumer)
            if ends is not None:
                self._follow(consumer, ends)
        except Exception:
            logger.exception("the message status view stopped following %s", self.topic)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> dict[int, int] | None:
        """Wait until the topic exists, assign all of it from the start, return end offsets."""
        while not self._stop.is_set():
            try:
                metadata = consumer.list_topics(self.topic, timeout=5)
                described = metadata.topics.get(self.topic)
                if described is not None and described.error is None and described.partitions:
                    partitions = sorted(described.partitions)
                    ends = {
                        p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), 5)[1]
                        for p in partitions
                    }
                    consumer.assign(
                        [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions]
                    )
                    logger.info("following %s (%d partitions)", self.topic, len(partitions))
                    return ends
            except KafkaException as exc:
                logger.warning("waiting for %s: %s", self.topic, exc)
            self._stop.wait(RETRY_SECONDS)
        return None

    def _follow(self, consumer: Consumer, ends: dict[int, int]) -> None:
        behind = {partition for partition, end in ends.items() if end > 0}
        self.caught_up = not behind
        while not self._stop.is_set():
            changes: list[tuple[str, bytes | None]] = []
            for message in consumer.consume(BATCH_SIZE, timeout=POLL_TIMEOUT_SECONDS):
                partition = message.partition() or 0
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        logger.warning("reading %s failed: %s", self.topic, error)
                        time.sleep(RETRY_SECONDS)
                    behind.discard(partition)
                    continue
                key = message.key()
                if key:
                    changes.append((key.decode("utf-8", errors="replace"), message.value()))
                if (message.offset() or 0) + 1 >= ends.get(partition, 0):
                    behind.discard(partition)
            if changes:
                self.store.apply(changes)
            if not behind and not self.caught_up:
                self.caught_up = True
                logger.info("the message status view caught up with %s", self.topic)
