"""The ingest service's durable Kafka producer, bridged to asyncio.

One confluent-kafka producer per process, idempotent with ``acks=all``. ``append``
returns only after the broker acknowledged the record. Delivery reports are served on
the event loop itself: while appends wait, a task calls ``poll(0)`` about every
millisecond, so each report resolves its request's future directly, with no thread
handing reports across and no contention for the GIL. The same task fails each wait
that reaches the append timeout, so no request needs a timer of its own. librdkafka's
``message.timeout.ms`` is set below that timeout, so a record that was not
acknowledged is reported failed before the HTTP request gives up on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ingest.errors import AppendUnavailable, IngestError, PayloadTooLarge
from ingest.kafka_log import ClientErrorLog
from ingest.metrics import IngestMetrics
from schemas.envelope import Record
from wxstream.settings import Settings

logger = logging.getLogger(__name__)

# Reports are polled this often while appends wait. With none waiting, a poll once a
# second still serves librdkafka's error callbacks.
BUSY_POLL_SECONDS = 0.001
IDLE_POLL_SECONDS = 1.0
QUEUE_FULL_RETRY_AFTER_SECONDS = 1
# How long a producer replaced after a fatal error gets to report its remaining records.
RETIRE_FLUSH_SECONDS = 5.0
# Share of the append timeout that librdkafka may spend delivering a record, leaving
# the rest for the delivery report to reach the waiting request.
MESSAGE_TIMEOUT_SHARE = 0.8

_SIZE_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
    }
)


@dataclass(frozen=True)
class Acknowledgement:
    """The topic, partition and offset of an acknowledged record."""

    topic: str
    partition: int
    offset: int


def message_timeout_ms(append_timeout_seconds: float, linger_ms: int = 0) -> int:
    return max(linger_ms + 1, int(append_timeout_seconds * 1000 * MESSAGE_TIMEOUT_SHARE))


def producer_config(settings: Settings) -> dict[str, Any]:
    """Return the librdkafka configuration of the durable producer."""
    timeout_ms = message_timeout_ms(settings.append_timeout_seconds, settings.producer_linger_ms)
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": "wxstream-ingest",
        "enable.idempotence": True,
        "acks": "all",
        # Matches the partition that faust (aiokafka) computes for the same key.
        "partitioner": "murmur2_random",
        "linger.ms": settings.producer_linger_ms,
        # Each request waits for its acknowledgement, so Nagle's delay is pure latency.
        "socket.nagle.disable": True,
        "message.timeout.ms": timeout_ms,
        "request.timeout.ms": min(timeout_ms, 30000),
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
    }


class DurableProducer:
    """Append records and await each one's acknowledgement from asyncio code."""

    def __init__(
        self, config: dict[str, Any], append_timeout: float, metrics: IngestMetrics
    ) -> None:
        self._errors = ClientErrorLog(logger, "producer")
        self._config = {**config, **self._errors.client_config()}
        self._generation = 0
        self._fatal: KafkaError | None = None
        self._producer = self._new_producer()
        self._append_timeout = append_timeout
        self._metrics = metrics
        self._stopping = threading.Event()
        self._waiting = 0
        # Read when the metrics are scraped, so an append takes no lock for the gauge.
        metrics.appends_in_flight.set_function(lambda: self._waiting)
        # (deadline, future) of every wait in the order the waits began. They all have
        # the same timeout, so the deadlines never decrease along the queue.
        self._deadlines: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._appended = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._loop_thread: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, metrics: IngestMetrics) -> DurableProducer:
        return cls(producer_config(settings), settings.append_timeout_seconds, metrics)

    def start(self) -> None:
        """Start serving delivery reports, when called on a running event loop.

        Otherwise the first append starts it, on the loop it runs on.
        """
        with contextlib.suppress(RuntimeError):
            self._ensure_pump(asyncio.get_running_loop())

    def close(self, timeout: float) -> int:
        """Flush for at most ``timeout`` seconds, stop polling and return the records left.

        The flush blocks, so the service calls this from a worker thread. Reports that
        the flush serves there reach their requests through ``call_soon_threadsafe``.
        """
        remaining = int(self._producer.flush(timeout))
        self._stopping.set()
        pump = self._pump
        if pump is not None and not pump.done():
            # Wake an idle pump so that it ends at once. A closed loop has cancelled it
            # already.
            with contextlib.suppress(RuntimeError):
                pump.get_loop().call_soon_threadsafe(self._appended.set)
        return remaining

    async def append(self, topic: str, record: Record) -> Acknowledgement:
        """Append ``record`` to ``topic`` and wait for the broker's acknowledgement.

        Raises AppendUnavailable when the record was not acknowledged within the append
        timeout or the local queue is full, and PayloadTooLarge when the record is over
        the producer's or the broker's size limit.
        """
        loop = asyncio.get_running_loop()
        self._ensure_pump(loop)
        if self._fatal is not None:
            raise AppendUnavailable(
                f"the Kafka producer failed with a fatal error ({self._fatal.str()}) and "
                "is being replaced; retry later"
            )
        future: asyncio.Future[tuple[KafkaError | None, Message]] = loop.create_future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if threading.get_ident() == self._loop_thread:
                _settle(future, error, message)
                return
            # Served by a flush at shutdown. A closed event loop raises RuntimeError,
            # and then no request waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, error, message)

        started = time.perf_counter()
        self._produce(topic, record, on_delivery)
        error, message = await self._wait(topic, future)
        if error is not None:
            raise self._failure(topic, error)

        self._metrics.append_histogram(topic).observe(time.perf_counter() - started)
        return Acknowledgement(topic, int(message.partition() or 0), int(message.offset() or 0))

    def check_ready(self, topics: list[str], timeout: float) -> str | None:
        """Fetch metadata (blocking); return why appends would fail, or None when ready."""
        if self._fatal is not None:
            return (
                f"the Kafka producer failed with a fatal error ({self._fatal.str()}) and is "
                "being replaced"
            )
        try:
            metadata = self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            return f"the Kafka broker is not reachable: {_describe(exc)}"
        missing = [
            name
            for name in topics
            if name not in metadata.topics or metadata.topics[name].error is not None
        ]
        if missing:
            return "topics do not exist: " + ", ".join(missing) + "; run 'wxstream topics create'"
        return None

    def _produce(self, topic: str, record: Record, on_delivery: Any) -> None:
        try:
            self._producer.produce(
                topic,
                value=record.value,
                key=record.key_bytes,
                headers=cast(list[tuple[str, str | bytes | None]], record.headers),
                on_delivery=on_delivery,
            )
        except BufferError as exc:
            self._metrics.append_failures.labels(topic, "queue_full").inc()
            raise AppendUnavailable(
                "the producer's local queue is full; retry later",
                retry_after=QUEUE_FULL_RETRY_AFTER_SECONDS,
            ) from exc
        except KafkaException as exc:
            raise self._failure(topic, exc.args[0]) from exc

    async def _wait(
        self, topic: str, future: asyncio.Future[tuple[KafkaError | None, Message]]
    ) -> tuple[KafkaError | None, Message]:
        self._waiting += 1
        self._deadlines.append((future.get_loop().time() + self._append_timeout, future))
        self._appended.set()
        try:
            return await future
        except TimeoutError:
            self._metrics.append_failures.labels(topic, "timeout").inc()
            raise AppendUnavailable(
                f"the broker did not acknowledge the append to {topic} within "
                f"{self._append_timeout:g} s; retry later"
            ) from None
        finally:
            self._waiting -= 1

    def _failure(self, topic: str, error: KafkaError) -> IngestError:
        if error.code() in _SIZE_ERRORS:
            self._metrics.append_failures.labels(topic, "too_large").inc()
            return PayloadTooLarge(
                f"the record is larger than topic {topic} accepts ({error.str()}); "
                "send a smaller body"
            )
        self._metrics.append_failures.labels(topic, error.name().lower()).inc()
        return AppendUnavailable(
            f"the broker did not acknowledge the append to {topic}: {error.str()}; retry later"
        )

    def _ensure_pump(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pump is not None and not self._pump.done() and self._pump.get_loop() is loop:
            return
        self._loop_thread = threading.get_ident()
        self._appended = asyncio.Event()
        # Waits begun on another loop cannot be woken from this one.
        self._deadlines.clear()
        self._pump = loop.create_task(self._serve_reports(), name="ingest-delivery-reports")

    async def _serve_reports(self) -> None:
        """Poll delivery reports and end overdue waits until the producer is closed.

        Whatever ends this task, every wait still open is failed, so none outlives it.
        """
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                served = self._producer.poll(0)
                self._fail_overdue(loop.time())
                if self._fatal is not None:
                    self._renew()
                    continue
                if served:
                    # More reports may follow at once, so the woken requests run first.
                    await asyncio.sleep(0)
                elif self._waiting:
                    await asyncio.sleep(BUSY_POLL_SECONDS)
                else:
                    self._appended.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(IDLE_POLL_SECONDS):
                            await self._appended.wait()
        finally:
            self._fail_overdue(math.inf)

    def _fail_overdue(self, now: float) -> None:
        """Fail each wait whose deadline is at or before ``now`` with TimeoutError."""
        deadlines = self._deadlines
        while deadlines:
            deadline, future = deadlines[0]
            if not future.done():
                if deadline > now:
                    return
                future.set_exception(TimeoutError())
            deadlines.popleft()

    def _new_producer(self) -> Producer:
        """Create a producer whose error callback knows which generation it belongs to."""
        self._generation += 1
        generation = self._generation

        def on_error(error: KafkaError) -> None:
            self._on_error(error, generation)

        return Producer({**self._config, "error_cb": on_error})

    def _renew(self) -> None:
        """Replace a producer that failed fatally and retire the old one on a worker thread."""
        retired, error = self._producer, self._fatal
        self._producer = self._new_producer()
        self._fatal = None
        self._metrics.producer_renewals.inc()
        logger.warning(
            "replaced the Kafka producer after its fatal error (%s); the appends still "
            "queued in the old one fail with 503, and their clients retry them",
            error.str() if error is not None else "unknown",
        )
        asyncio.get_running_loop().run_in_executor(None, _retire, retired)

    def _on_error(self, error: KafkaError, generation: int) -> None:
        """Log client-level errors (served by poll), each code at most every 10 seconds.

        A fatal error of the current producer is recorded, and the reports task then
        replaces the producer. A retired producer's fatal errors are only logged, so they
        cannot replace its healthy successor.
        """
        if not error.fatal():
            self._errors(error)
            return
        if generation != self._generation:
            logger.warning("the retired Kafka producer reported a fatal error: %s", error.str())
        elif self._fatal is None:
            self._fatal = error
            logger.error("the Kafka producer failed with a fatal error: %s", error.str())


def _retire(producer: Producer) -> None:
    """Fail the records still queued in a producer and serve their delivery reports.

    A record already sent may still have reached the log. Its client gets 503 and
    retries, which appends it twice. The enricher drops a second copy of a callback by
    its Webex ids, and a back-end event retried with its Idempotency-Key keeps its id.
    """
    with contextlib.suppress(KafkaException, RuntimeError):
        producer.purge(in_queue=True, in_flight=True)
        producer.flush(RETIRE_FLUSH_SECONDS)


def _settle(
    future: asyncio.Future[tuple[KafkaError | None, Message]],
    error: KafkaError | None,
    message: Message,
) -> None:
    if not future.done():
        future.set_result((error, message))


def _describe(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)
