"""POST /webhooks/webex against a real broker, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from ingest.app import create_app
from ingest.server import serve_in_thread
from ingest.signature import sign
from schemas.envelope import Envelope
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import (
    ConsumedRecord,
    KafkaHandle,
    create_catalog_topics,
    read_topic,
    unique_prefix,
)
from wxstream.settings import load_settings

SECRET = b"webhook-secret-for-tests"
API_TOKEN = "api-token-for-tests"
MAX_BODY_BYTES = 2048


@dataclass
class Service:
    url: str
    bootstrap: str
    catalog: TopicCatalog

    def records(self, key: str) -> list[ConsumedRecord]:
        """Return the records of webex.webhooks whose key is ``key``."""
        topic = self.catalog.name(Topic.WEBEX_WEBHOOKS)
        return [
            record for record in read_topic(self.bootstrap, topic) if record.key == key.encode()
        ]


@pytest.fixture(scope="module")
def service(kafka: KafkaHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("state"),
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=catalog.prefix,
        api_token=API_TOKEN,
        webhook_secret=SECRET.decode(),
        max_body_bytes=MAX_BODY_BYTES,
    )
    with serve_in_thread(create_app(settings), settings) as url:
        yield Service(url, kafka.bootstrap, catalog)


def callback(room_id: str | None = None, **data: object) -> bytes:
    body = {
        "id": "webhook-1",
        "name": "messages",
        "resource": "messages",
        "event": "created",
        "data": {
            "id": f"msg-{uuid.uuid4().hex}",
            **({"roomId": room_id} if room_id else {}),
            **data,
        },
    }
    return json.dumps(body).encode()


def post(
    service: Service, body: bytes, signature: str | None = None, **headers: str
) -> httpx.Response:
    if signature is None:
        signature = sign(SECRET, body)
    all_headers = {"X-Spark-Signature": signature, "Content-Type": "application/json", **headers}
    return httpx.post(
        f"{service.url}/webhooks/webex", content=body, headers=all_headers, timeout=10
    )


def new_room() -> str:
    return f"room-{uuid.uuid4().hex}"


def header(record: ConsumedRecord, name: str) -> str:
    value = record.header(name)
    assert value is not None, f"record has no {name} header"
    return value.decode()


def test_webhook_appends_exact_body_before_responding(service: Service) -> None:
    room = new_room()
    body = callback(room)

    response = post(service, body, **{"X-Request-Id": "req-webhook-1"})

    assert response.status_code == 200
    records = service.records(room)  # read once, without waiting: it must be there already
    assert len(records) == 1
    record = records[0]
    assert record.value == body
    assert header(record, "ce_id") == response.json()["id"]
    assert header(record, "ce_source") == "wxstream/ingest"
    assert header(record, "ce_type") == "com.webex.messages.created"
    assert header(record, "ce_subject") == room
    assert header(record, "ce_signature") == "verified"
    assert header(record, "ce_requestid") == "req-webhook-1"
    assert response.headers["X-Request-Id"] == "req-webhook-1"
    envelope = Envelope.from_headers(record.headers)
    assert envelope.header("receivedat") is not None
    assert envelope.time.tzinfo is not None


def test_webhook_old_path_appends_too(service: Service) -> None:
    room = new_room()
    body = callback(room)

    response = httpx.post(
        f"{service.url}/api/v1/webhook",
        content=body,
        headers={"X-Spark-Signature": sign(SECRET, body)},
        timeout=10,
    )

    assert response.status_code == 200
    assert [record.value for record in service.records(room)] == [body]


def test_webhook_signature_covers_raw_bytes(service: Service) -> None:
    room = "room-\u00e9\u00e8-" + uuid.uuid4().hex
    escaped_room = json.dumps(room)  # ASCII with \u escapes
    body = (
        '{ "resource" :\t"messages",\r\n  "event":"created" ,'
        f'"data" : {{"id":"msg-\\ud83d\\ude00-{uuid.uuid4().hex}",'
        f'  "roomId": {escaped_room}}}}}  \n'
    ).encode()
    reserialised = json.dumps(json.loads(body)).encode()
    assert sign(SECRET, reserialised) != sign(SECRET, body)

    accepted = post(service, body)
    rejected = post(service, reserialised, signature=sign(SECRET, body))

    assert accepted.status_code == 200
    assert rejected.status_code == 401
    records = service.records(room)
    assert [record.value for record in records] == [body]


def test_webhook_keys_by_person_when_no_room(service: Service) -> None:
    email = f"Ann.{uuid.uuid4().hex}@Example.com"

    response = post(service, callback(personEmail=email, personId="person-1"))

    assert response.status_code == 200
    assert len(service.records(f"person:{email.lower()}")) == 1


def test_webhook_keys_by_person_id_then_data_id(service: Service) -> None:
    person_id = f"person-{uuid.uuid4().hex}"
    data_id = f"membership-{uuid.uuid4().hex}"
    by_person = callback(personId=person_id)
    orphan = json.dumps({"resource": "rooms", "event": "updated", "data": {"id": data_id}})

    assert post(service, by_person).status_code == 200
    assert post(service, orphan.encode()).status_code == 200

    assert len(service.records(f"person:{person_id}")) == 1
    assert len(service.records(f"webhook:{data_id}")) == 1


def signed(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"X-Spark-Signature": sign(SECRET, body)}


def altered(body: bytes, change: Callable[[dict[str, Any]], object]) -> bytes:
    document = json.loads(body)
    change(document)
    return json.dumps(document).encode()


def bad_webhook(case: str, room: str) -> tuple[bytes, dict[str, str]]:
    """Return a body and headers that are invalid in the way ``case`` names."""
    good = callback(room, personEmail=f"{room}@example.com")
    data = json.loads(good)["data"]
    cases: dict[str, Callable[[], tuple[bytes, dict[str, str]]]] = {
        "missing signature": lambda: (good, {}),
        "wrong signature": lambda: (good, {"X-Spark-Signature": "0" * 40}),
        "uppercase signature": lambda: (good, {"X-Spark-Signature": sign(SECRET, good).upper()}),
        "signature of another body": lambda: (good, signed(callback(room))[1]),
        "invalid json": lambda: signed(good[:-3]),
        "json array": lambda: signed(b"[" + good + b"]"),
        "missing resource": lambda: signed(altered(good, lambda d: d.pop("resource"))),
        "missing event": lambda: signed(altered(good, lambda d: d.pop("event"))),
        "missing data.id": lambda: signed(altered(good, lambda d: d["data"].pop("id"))),
        "data not an object": lambda: signed(altered(good, lambda d: d.update(data=[data]))),
        "roomId not a string": lambda: signed(altered(good, lambda d: d["data"].update(roomId=42))),
        "body over limit": lambda: signed(
            altered(good, lambda d: d.update(padding="x" * MAX_BODY_BYTES))
        ),
    }
    return cases[case]()


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("missing signature", 401),
        ("wrong signature", 401),
        ("uppercase signature", 401),
        ("signature of another body", 401),
        ("invalid json", 400),
        ("json array", 400),
        ("missing resource", 400),
        ("missing event", 400),
        ("missing data.id", 400),
        ("data not an object", 400),
        ("roomId not a string", 400),
        ("body over limit", 413),
    ],
)
def test_webhook_rejects_bad_input(service: Service, case: str, status: int) -> None:
    room = new_room()
    body, headers = bad_webhook(case, room)

    response = httpx.post(
        f"{service.url}/webhooks/webex", content=body, headers=headers, timeout=10
    )

    assert response.status_code == status
    assert response.json()["error"]
    assert response.json()["requestId"] == response.headers["X-Request-Id"]
    assert service.records(room) == []
    assert service.records(f"person:{room}@example.com") == []


def test_webhook_error_names_missing_fields(service: Service) -> None:
    body = json.dumps({"resource": "messages", "data": {"roomId": "r"}}).encode()

    response = post(service, body)

    assert response.status_code == 400
    assert "event" in response.json()["error"]
    assert "data.id" in response.json()["error"]
    assert "resource" not in response.json()["error"]


def test_webhook_chunked_body_over_limit_is_413(service: Service) -> None:
    room = new_room()
    body = callback(room, padding="y" * (MAX_BODY_BYTES * 2))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    response = httpx.post(
        f"{service.url}/webhooks/webex",
        content=chunks(),
        headers={"X-Spark-Signature": sign(SECRET, body)},
        timeout=10,
    )

    assert response.status_code == 413
    assert service.records(room) == []


def test_webhook_chunked_body_within_limit_is_appended(service: Service) -> None:
    room = new_room()
    body = callback(room)

    response = httpx.post(
        f"{service.url}/webhooks/webex",
        content=iter([body[:10], body[10:]]),
        headers={"X-Spark-Signature": sign(SECRET, body)},
        timeout=10,
    )

    assert response.status_code == 200
    assert [record.value for record in service.records(room)] == [body]


def raw_request(service: Service, request: bytes) -> bytes:
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_webhook_malformed_content_length_is_400(service: Service) -> None:
    request = (
        b"POST /webhooks/webex HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Length: twelve\r\nConnection: close\r\n\r\n{}"
    )

    response = raw_request(service, request)

    assert response.startswith(b"HTTP/1.1 400")
    assert httpx.get(f"{service.url}/healthz", timeout=10).status_code == 200


def test_webhook_without_content_length_is_400(service: Service) -> None:
    signature = sign(SECRET, b"").encode()
    request = (
        b"POST /webhooks/webex HTTP/1.1\r\nHost: localhost\r\n"
        b"X-Spark-Signature: " + signature + b"\r\nConnection: close\r\n\r\n"
    )

    response = raw_request(service, request)

    assert response.startswith(b"HTTP/1.1 400")
    assert b"empty" in response


def test_webhook_thousand_concurrent_posts_all_appended_once(service: Service) -> None:
    room = new_room()
    bodies = [callback(room, sequence=number) for number in range(1000)]

    async def post_all() -> list[int]:
        connector = aiohttp.TCPConnector(limit=1000)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def post_one(body: bytes) -> int:
                headers = {"X-Spark-Signature": sign(SECRET, body)}
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*(post_one(body) for body in bodies))

    url = f"{service.url}/webhooks/webex"
    statuses = asyncio.run(post_all())

    assert statuses == [200] * 1000
    records = service.records(room)
    assert len(records) == 1000
    assert sorted(record.value for record in records) == sorted(bodies)


def test_webhook_unsigned_mode_records_verdict(kafka: KafkaHandle, tmp_path: Path) -> None:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    settings = load_settings(
        state_dir=tmp_path,
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=catalog.prefix,
        api_token=API_TOKEN,
        allow_unsigned_webhooks=True,
    )
    room = new_room()

    with serve_in_thread(create_app(settings), settings) as url:
        response = httpx.post(f"{url}/webhooks/webex", content=callback(room), timeout=10)

    assert response.status_code == 200
    records = Service(url, kafka.bootstrap, catalog).records(room)
    assert len(records) == 1
    assert header(records[0], "ce_signature") == "unsigned"
