"""Back-end API of the ingest service: alert, ping, events and messages, over real HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ingest.app import create_app
from ingest.server import serve_in_thread
from schemas.events import ALERT_RAISED, OUTBOUND_REQUESTED, decode_event
from schemas.payloads import BackendEvent, OutboundMessage
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import (
    ConsumedRecord,
    KafkaHandle,
    create_catalog_topics,
    read_topic,
    unique_prefix,
)
from wxstream.settings import load_settings

API_TOKEN = "api-token-for-tests"
TOKEN = {"Token": API_TOKEN}
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
MAX_BODY_BYTES = 4096


@dataclass
class Service:
    url: str
    bootstrap: str
    catalog: TopicCatalog

    def records(self, topic: Topic, key: str) -> list[ConsumedRecord]:
        """Return the records of ``topic`` whose key is ``key``."""
        consumed = read_topic(self.bootstrap, self.catalog.name(topic))
        return [record for record in consumed if record.key == key.encode()]

    def post(self, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(f"{self.url}{path}", content=content, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def service(kafka: KafkaHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("state"),
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=catalog.prefix,
        api_token=API_TOKEN,
        webhook_secret="webhook-secret",
        max_body_bytes=MAX_BODY_BYTES,
    )
    with serve_in_thread(create_app(settings), settings) as url:
        yield Service(url, kafka.bootstrap, catalog)


def new_room() -> str:
    return f"room-{uuid.uuid4().hex}"


def header(record: ConsumedRecord, name: str) -> str:
    value = record.header(name)
    assert value is not None, f"record has no {name} header"
    return value.decode()


# --- POST /api/v1/alert ---------------------------------------------------------------


def test_alert_appends_alert_event_for_room(service: Service) -> None:
    room = new_room()
    alert = {"to": room, "subject": "Disk full", "message": "/var is at 99%"}

    response = service.post("/api/v1/alert", alert, {**TOKEN, "X-Request-Id": "zabbix-1"})

    assert response.status_code == 202
    records = service.records(Topic.BACKEND_EVENTS, room)
    assert len(records) == 1
    envelope, payload = decode_event(records[0].headers, records[0].value)
    assert envelope.id == response.json()["id"]
    assert envelope.type == ALERT_RAISED
    assert envelope.subject == room
    assert envelope.header("requestid") == "zabbix-1"
    assert isinstance(payload, BackendEvent)
    assert payload.to == room
    assert payload.subject == "Disk full"
    assert payload.message == "/var is at 99%"


def test_alert_keys_email_destination_by_person(service: Service) -> None:
    email = f"Oncall.{uuid.uuid4().hex}@Example.com"

    response = service.post("/api/v1/alert", {"to": email, "subject": "Down"}, TOKEN)

    assert response.status_code == 202
    records = service.records(Topic.BACKEND_EVENTS, f"person:{email.lower()}")
    assert len(records) == 1
    assert json.loads(records[0].value or b"") == {"to": email, "subject": "Down"}


def test_alert_accepts_bearer_token(service: Service) -> None:
    room = new_room()

    response = service.post("/api/v1/alert", {"to": room, "subject": "s"}, BEARER)

    assert response.status_code == 202
    assert len(service.records(Topic.BACKEND_EVENTS, room)) == 1


@pytest.mark.parametrize(
    ("case", "status", "named"),
    [
        ("missing token", 401, "token"),
        ("wrong token", 401, "token"),
        ("token of another length", 401, "token"),
        ("not json", 400, "JSON"),
        ("missing to", 400, "'to'"),
        ("missing subject", 400, "'subject'"),
        ("blank to", 400, "'to'"),
        ("subject not a string", 400, "'subject'"),
        ("body over limit", 413, "limit"),
    ],
)
def test_alert_rejects_bad_input(service: Service, case: str, status: int, named: str) -> None:
    room = new_room()
    body: Any = {"to": room, "subject": "s", "message": "m"}
    headers = dict(TOKEN)
    if case == "missing token":
        headers = {}
    elif case == "wrong token":
        headers = {"Token": API_TOKEN[:-1] + "X"}
    elif case == "token of another length":
        headers = {"Token": API_TOKEN + "extra"}
    elif case == "not json":
        body = b"to=" + room.encode()
    elif case == "missing to":
        del body["to"]
        body["data"] = room
    elif case == "missing subject":
        del body["subject"]
    elif case == "blank to":
        body["to"] = "   "
        body["room"] = room
    elif case == "subject not a string":
        body["subject"] = ["s"]
    elif case == "body over limit":
        body["message"] = "m" * MAX_BODY_BYTES

    response = service.post("/api/v1/alert", body, headers)

    assert response.status_code == status
    assert named in response.json()["error"]
    assert response.json()["requestId"] == response.headers["X-Request-Id"]
    assert service.records(Topic.BACKEND_EVENTS, room) == []


def test_alert_error_names_both_missing_fields(service: Service) -> None:
    response = service.post("/api/v1/alert", {"message": "m"}, TOKEN)

    assert response.status_code == 400
    assert "'to'" in response.json()["error"]
    assert "'subject'" in response.json()["error"]


# --- GET /api/v1/ping -----------------------------------------------------------------


def test_ping_returns_old_contract(service: Service) -> None:
    response = httpx.get(f"{service.url}/api/v1/ping", headers=TOKEN, timeout=10)

    assert response.status_code == 200
    assert set(response.json()) == {"hello", "apiversion", "utctime"}
    assert response.json()["apiversion"] == 1


@pytest.mark.parametrize("headers", [{}, {"Token": "wrong"}, {"Authorization": "Bearer wrong"}])
def test_ping_rejects_missing_or_wrong_token(service: Service, headers: dict[str, str]) -> None:
    response = httpx.get(f"{service.url}/api/v1/ping", headers=headers, timeout=10)

    assert response.status_code == 401
    assert response.json()["error"]


def test_ping_accepts_bearer_token(service: Service) -> None:
    response = httpx.get(f"{service.url}/api/v1/ping", headers=BEARER, timeout=10)

    assert response.status_code == 200


# --- POST /api/v1/events --------------------------------------------------------------


def test_events_plain_alert_maps_to_alert_type(service: Service) -> None:
    room = new_room()
    event = {"type": "alert", "to": room, "subject": "CI failed", "markdown": "**red**"}

    response = service.post("/api/v1/events", event, BEARER)

    assert response.status_code == 202
    records = service.records(Topic.BACKEND_EVENTS, room)
    assert len(records) == 1
    envelope, payload = decode_event(records[0].headers, records[0].value)
    assert envelope.id == response.json()["id"]
    assert envelope.type == ALERT_RAISED
    assert envelope.source == "wxstream/ingest"
    assert isinstance(payload, BackendEvent)
    assert payload.markdown == "**red**"


def test_events_plain_other_type_kept(service: Service) -> None:
    event_id = f"deploy-{uuid.uuid4().hex}"
    event = {"type": "ci.deploy.finished", "data": {"version": "1.2.3"}}

    response = service.post("/api/v1/events", event, {**BEARER, "Idempotency-Key": event_id})

    assert response.status_code == 202
    assert response.json() == {"id": event_id}
    records = service.records(Topic.BACKEND_EVENTS, f"event:{event_id}")
    assert len(records) == 1
    assert header(records[0], "ce_type") == "ci.deploy.finished"
    assert header(records[0], "ce_id") == event_id
    assert json.loads(records[0].value or b"") == {"data": {"version": "1.2.3"}}


def test_events_idempotency_key_repeat_appends_once(service: Service) -> None:
    room = new_room()
    key = f"retry-{uuid.uuid4().hex}"
    event = {"type": "alert", "to": room, "subject": "s"}

    first = service.post("/api/v1/events", event, {**BEARER, "Idempotency-Key": key})
    second = service.post("/api/v1/events", event, {**BEARER, "Idempotency-Key": key})

    assert first.status_code == 202
    assert second.status_code == 202
    assert first.json()["id"] == key
    assert second.json()["id"] == key
    records = service.records(Topic.BACKEND_EVENTS, room)
    assert [header(record, "ce_id") for record in records] == [key]


def test_events_structured_cloudevent_keeps_attributes(service: Service) -> None:
    room = new_room()
    event_id = f"ce-{uuid.uuid4().hex}"
    cloudevent = {
        "specversion": "1.0",
        "id": event_id,
        "source": "https://ci.example.com/pipelines",
        "type": "com.example.ci.failed",
        "time": "2025-03-01T12:00:00+01:00",
        "datacontenttype": "application/json",
        "correlationid": "chain-1",
        "traceparent": "00-abc-def-01",
        "data": {"to": room, "subject": "Pipeline 7 failed"},
    }

    response = service.post("/api/v1/events", cloudevent, BEARER)

    assert response.status_code == 202
    assert response.json() == {"id": event_id}
    records = service.records(Topic.BACKEND_EVENTS, room)
    assert len(records) == 1
    assert header(records[0], "ce_source") == "https://ci.example.com/pipelines"
    assert header(records[0], "ce_type") == "com.example.ci.failed"
    assert header(records[0], "ce_time") == "2025-03-01T11:00:00.000000Z"
    assert header(records[0], "ce_correlationid") == "chain-1"
    assert header(records[0], "ce_traceparent") == "00-abc-def-01"
    assert json.loads(records[0].value or b"") == {"to": room, "subject": "Pipeline 7 failed"}


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("missing type", "'type'"),
        ("type with spaces", "type"),
        ("unknown plain field", "'colour'"),
        ("to not a string", "to"),
        ("data not an object", "data"),
        ("blank to", "'to'"),
        ("wrong specversion", "specversion"),
        ("cloudevent without source", "'source'"),
        ("cloudevent data not an object", "data"),
        ("cloudevent naive time", "time"),
        ("cloudevent xml content", "datacontenttype"),
        ("cloudevent bad extension name", "Trace-Id"),
        ("cloudevent sets requestid", "'requestid'"),
        ("idempotency key differs from id", "Idempotency-Key"),
        ("idempotency key with spaces", "Idempotency-Key"),
    ],
)
def test_events_rejects_invalid_event(service: Service, case: str, named: str) -> None:
    room = new_room()
    plain: dict[str, Any] = {"type": "alert", "to": room, "subject": "s"}
    cloudevent: dict[str, Any] = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "ci",
        "type": "ci.failed",
        "data": {"to": room},
    }
    headers = dict(BEARER)
    body: dict[str, Any] = plain
    if case == "missing type":
        del plain["type"]
    elif case == "type with spaces":
        plain["type"] = "ci failed"
    elif case == "unknown plain field":
        plain["colour"] = "red"
    elif case == "to not a string":
        plain["to"] = [room]
        plain["subject"] = room
    elif case == "data not an object":
        plain["data"] = [room]
    elif case == "blank to":
        plain["to"] = " "
        plain["subject"] = room
    elif case == "idempotency key with spaces":
        headers["Idempotency-Key"] = "a key"
    else:
        body = cloudevent
    if case == "wrong specversion":
        cloudevent["specversion"] = "0.3"
    elif case == "cloudevent without source":
        del cloudevent["source"]
    elif case == "cloudevent data not an object":
        cloudevent["data"] = room
    elif case == "cloudevent naive time":
        cloudevent["time"] = "2025-03-01T12:00:00"
    elif case == "cloudevent xml content":
        cloudevent["datacontenttype"] = "application/xml"
    elif case == "cloudevent bad extension name":
        cloudevent["Trace-Id"] = "x"
    elif case == "cloudevent sets requestid":
        cloudevent["requestid"] = "x"
    elif case == "idempotency key differs from id":
        headers["Idempotency-Key"] = "another-id"

    response = service.post("/api/v1/events", body, headers)

    assert response.status_code == 400
    assert named in response.json()["error"]
    assert service.records(Topic.BACKEND_EVENTS, room) == []


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Token": API_TOKEN}], ids=str
)
def test_events_requires_bearer_token(service: Service, headers: dict[str, str]) -> None:
    room = new_room()

    response = service.post("/api/v1/events", {"type": "alert", "to": room}, headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert service.records(Topic.BACKEND_EVENTS, room) == []


def test_events_non_json_body_is_400(service: Service) -> None:
    response = service.post("/api/v1/events", b"\xff\xfe not json", BEARER)

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


# --- POST /api/v1/messages ------------------------------------------------------------


def test_messages_appends_outbound_request(service: Service) -> None:
    room = new_room()
    message = {"roomId": room, "markdown": "**hi**", "parentId": "parent-1"}

    response = service.post("/api/v1/messages", message, BEARER)

    assert response.status_code == 202
    records = service.records(Topic.OUTBOUND_MESSAGES, room)
    assert len(records) == 1
    envelope, payload = decode_event(records[0].headers, records[0].value)
    assert envelope.type == OUTBOUND_REQUESTED
    assert envelope.id == response.json()["id"]
    assert isinstance(payload, OutboundMessage)
    assert payload.message_id == response.json()["id"]
    assert payload.room_id == room
    assert payload.markdown == "**hi**"
    assert payload.parent_id == "parent-1"


def test_messages_idempotency_key_is_message_id(service: Service) -> None:
    email = f"ann.{uuid.uuid4().hex}@example.com"
    key = f"msg-{uuid.uuid4().hex}"
    message = {"toPersonEmail": email, "text": "hello"}

    response = service.post("/api/v1/messages", message, {**BEARER, "Idempotency-Key": key})

    assert response.status_code == 202
    assert response.json() == {"id": key}
    records = service.records(Topic.OUTBOUND_MESSAGES, f"person:{email}")
    assert len(records) == 1
    assert json.loads(records[0].value or b"")["messageId"] == key


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("no destination", "roomId"),
        ("two destinations", "toPersonId"),
        ("no body", "text"),
        ("text not a string", "text"),
        ("two files", "file"),
        ("unknown field", "'colour'"),
        ("messageId in body", "Idempotency-Key"),
    ],
)
def test_messages_rejects_invalid_message(service: Service, case: str, named: str) -> None:
    room = new_room()
    message: dict[str, Any] = {"roomId": room, "text": "hi"}
    if case == "no destination":
        del message["roomId"]
        message["markdown"] = room
    elif case == "two destinations":
        message["toPersonId"] = "person-1"
    elif case == "no body":
        del message["text"]
    elif case == "text not a string":
        message["text"] = 42
    elif case == "two files":
        message["files"] = ["https://example.com/a", "https://example.com/b"]
    elif case == "unknown field":
        message["colour"] = "red"
    elif case == "messageId in body":
        message["messageId"] = "m-1"

    response = service.post("/api/v1/messages", message, BEARER)

    assert response.status_code == 400
    assert named in response.json()["error"]
    assert service.records(Topic.OUTBOUND_MESSAGES, room) == []


def test_messages_requires_bearer_token(service: Service) -> None:
    room = new_room()

    response = service.post("/api/v1/messages", {"roomId": room, "text": "hi"}, TOKEN)

    assert response.status_code == 401
    assert service.records(Topic.OUTBOUND_MESSAGES, room) == []
