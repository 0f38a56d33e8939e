"""Idempotency keys of the ingest service: one request per key, in memory and over HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ingest.app import create_app
from ingest.errors import AppendUnavailable, Conflict
from ingest.idempotency import IdempotencyCache, request_fingerprint
from ingest.server import serve_in_thread
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import (
    ConsumedRecord,
    KafkaHandle,
    create_catalog_topics,
    read_topic,
    unique_prefix,
)
from wxstream.settings import load_settings

API_TOKEN = "api-token-for-idempotency-tests"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
ENDPOINT = "POST /api/v1/events"


class Appends:
    """An append callable that counts its calls, can be held open, and fails its first ones."""

    def __init__(self, failing_calls: int = 0) -> None:
        self.calls = 0
        self.failing_calls = failing_calls
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> None:
        self.calls += 1
        call = self.calls
        await self.release.wait()
        if call <= self.failing_calls:
            raise AppendUnavailable("the broker did not acknowledge")


def fingerprint(**document: Any) -> bytes:
    return request_fingerprint(document)


# --- the cache -------------------------------------------------------------------------


async def test_cache_repeat_returns_id_without_appending() -> None:
    cache = IdempotencyCache(max_keys=10)
    appends = Appends()

    first = await cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    second = await cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)

    assert first == "k1"
    assert second == "k1"
    assert appends.calls == 1


async def test_cache_other_request_with_used_key_conflicts() -> None:
    cache = IdempotencyCache(max_keys=10)
    appends = Appends()
    await cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)

    with pytest.raises(Conflict, match="'k1'") as raised:
        await cache.append_once(ENDPOINT, "k1", fingerprint(to="b"), "k1", appends)

    assert "new Idempotency-Key" in raised.value.message
    assert appends.calls == 1


async def test_cache_same_key_on_other_endpoint_is_independent() -> None:
    cache = IdempotencyCache(max_keys=10)
    appends = Appends()

    await cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    await cache.append_once("POST /api/v1/messages", "k1", fingerprint(to="b"), "k1", appends)

    assert appends.calls == 2


async def test_cache_conflicts_while_first_append_in_flight() -> None:
    cache = IdempotencyCache(max_keys=10)
    appends = Appends()
    appends.release.clear()
    first = asyncio.create_task(
        cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    )
    await asyncio.sleep(0)

    with pytest.raises(Conflict):
        await cache.append_once(ENDPOINT, "k1", fingerprint(to="b"), "k1", appends)
    appends.release.set()

    assert await first == "k1"
    assert appends.calls == 1


async def test_cache_repeat_waits_for_first_append_in_flight() -> None:
    cache = IdempotencyCache(max_keys=10)
    appends = Appends()
    appends.release.clear()
    first = asyncio.create_task(
        cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    )
    await asyncio.sleep(0)
    repeat = asyncio.create_task(
        cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    )
    await asyncio.sleep(0.01)

    assert not repeat.done()
    appends.release.set()
    assert await first == "k1"
    assert await repeat == "k1"
    assert appends.calls == 1


async def test_cache_failed_append_releases_key() -> None:
    cache = IdempotencyCache(max_keys=10)
    appends = Appends(failing_calls=1)

    with pytest.raises(AppendUnavailable):
        await cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    retried = await cache.append_once(ENDPOINT, "k1", fingerprint(to="b"), "k1", appends)

    assert retried == "k1"
    assert appends.calls == 2
    assert len(cache) == 1


async def test_cache_waiting_repeat_appends_after_first_fails() -> None:
    cache = IdempotencyCache(max_keys=10)
    appends = Appends(failing_calls=1)
    appends.release.clear()
    first = asyncio.create_task(
        cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    )
    await asyncio.sleep(0)
    repeat = asyncio.create_task(
        cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    )
    await asyncio.sleep(0)

    appends.release.set()
    with pytest.raises(AppendUnavailable):
        await first
    assert await repeat == "k1"
    assert appends.calls == 2


async def test_cache_evicts_least_recently_used_key() -> None:
    cache = IdempotencyCache(max_keys=2)
    appends = Appends()
    await cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)
    await cache.append_once(ENDPOINT, "k2", fingerprint(to="a"), "k2", appends)
    await cache.append_once(ENDPOINT, "k1", fingerprint(to="a"), "k1", appends)

    await cache.append_once(ENDPOINT, "k3", fingerprint(to="a"), "k3", appends)

    assert len(cache) == 2
    with pytest.raises(Conflict):
        await cache.append_once(ENDPOINT, "k1", fingerprint(to="b"), "k1", appends)
    assert await cache.append_once(ENDPOINT, "k2", fingerprint(to="b"), "k2", appends) == "k2"
    assert appends.calls == 4


def test_fingerprint_ignores_key_order_and_spacing() -> None:
    first = json.loads('{"to": "a", "subject": "s"}')
    second = json.loads('{"subject":"s","to":"a"}')

    assert request_fingerprint(first) == request_fingerprint(second)
    assert request_fingerprint(first) != request_fingerprint({"to": "a", "subject": "t"})


# --- over HTTP ---------------------------------------------------------------------------


@dataclass
class Service:
    url: str
    bootstrap: str
    catalog: TopicCatalog

    def records(self, topic: Topic) -> list[ConsumedRecord]:
        return read_topic(self.bootstrap, self.catalog.name(topic))

    def records_with_id(self, topic: Topic, event_id: str) -> list[ConsumedRecord]:
        return [
            record for record in self.records(topic) if record.header("ce_id") == event_id.encode()
        ]

    def post(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        headers = {**BEARER, "Idempotency-Key": key}
        return httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def service(kafka: KafkaHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("state"),
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=catalog.prefix,
        api_token=API_TOKEN,
        webhook_secret="webhook-secret-for-idempotency-tests",
    )
    with serve_in_thread(create_app(settings), settings) as url:
        yield Service(url, kafka.bootstrap, catalog)


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


def test_events_key_reused_for_other_destination_is_409(service: Service) -> None:
    key = new_key()
    room = f"room-{uuid.uuid4().hex}"
    alert = {"type": "alert", "to": "alice@example.com", "subject": "A"}

    first = service.post("/api/v1/events", alert, key)
    second = service.post("/api/v1/events", {**alert, "to": room}, key)

    assert first.status_code == 202
    assert first.json() == {"id": key}
    assert second.status_code == 409
    assert repr(key) in second.json()["error"]
    assert "new Idempotency-Key" in second.json()["error"]
    records = service.records_with_id(Topic.BACKEND_EVENTS, key)
    assert [record.key for record in records] == [b"person:alice@example.com"]


def test_events_key_repeated_with_same_body_appends_once(service: Service) -> None:
    key = new_key()
    alert = {"type": "alert", "to": f"room-{uuid.uuid4().hex}", "subject": "A"}

    first = service.post("/api/v1/events", alert, key)
    second = service.post("/api/v1/events", dict(reversed(alert.items())), key)

    assert first.status_code == 202
    assert second.status_code == 202
    assert second.json() == {"id": key}
    assert len(service.records_with_id(Topic.BACKEND_EVENTS, key)) == 1


def test_messages_key_reused_for_other_person_is_409(service: Service) -> None:
    key = new_key()

    first = service.post(
        "/api/v1/messages", {"toPersonEmail": "alice@example.com", "text": "hi"}, key
    )
    second = service.post(
        "/api/v1/messages", {"toPersonEmail": "bob@example.com", "text": "hi"}, key
    )

    assert first.status_code == 202
    assert second.status_code == 409
    assert repr(key) in second.json()["error"]
    records = service.records_with_id(Topic.OUTBOUND_MESSAGES, key)
    assert [record.key for record in records] == [b"person:alice@example.com"]


def test_messages_key_reused_with_other_text_is_409(service: Service) -> None:
    key = new_key()
    room = f"room-{uuid.uuid4().hex}"

    first = service.post("/api/v1/messages", {"roomId": room, "text": "first"}, key)
    second = service.post("/api/v1/messages", {"roomId": room, "text": "second"}, key)

    assert first.status_code == 202
    assert second.status_code == 409
    records = service.records_with_id(Topic.OUTBOUND_MESSAGES, key)
    assert [json.loads(record.value or b"")["text"] for record in records] == ["first"]


def test_messages_concurrent_first_requests_append_one_body(service: Service) -> None:
    key = new_key()
    room = f"room-{uuid.uuid4().hex}"
    bodies = [{"roomId": room, "text": f"body {number}"} for number in range(8)]

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(pool.map(lambda body: service.post("/api/v1/messages", body, key), bodies))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202] + [409] * (len(bodies) - 1)
    assert len(service.records_with_id(Topic.OUTBOUND_MESSAGES, key)) == 1


def test_openapi_documents_idempotency_scope(service: Service) -> None:
    document = httpx.get(f"{service.url}/openapi.json", timeout=10).json()

    for path in ("/api/v1/events", "/api/v1/messages"):
        operation = document["paths"][path]["post"]
        assert "409" in operation["responses"], path
        (parameter,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert "since it started" in parameter["description"], path
        assert "same conversation" in parameter["description"], path
