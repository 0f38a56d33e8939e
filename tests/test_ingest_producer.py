"""DurableProducer failure paths against a bootstrap address where no broker listens."""

from __future__ import annotations

import asyncio
import time

import pytest

from ingest.errors import AppendUnavailable
from ingest.metrics import IngestMetrics
from ingest.producer import DurableProducer, producer_config
from schemas.envelope import Record
from tests.kafka_harness import free_port
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
