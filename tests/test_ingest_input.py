"""Hostile and malformed input to the ingest service: slow bodies, control characters,
invalid destinations, error wording and weak secrets, over real HTTP on loopback."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.app import create_app
from ingest.rejections import RejectionLog
from ingest.server import serve_in_thread
from ingest.signature import sign
from schemas.payloads import OutboundMessage
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import (
    ConsumedRecord,
    KafkaHandle,
    create_catalog_topics,
    read_topic,
    unique_prefix,
)
from wxstream.settings import load_settings

API_TOKEN = "api-token-for-input-tests"
SECRET = "webhook-secret-for-input-tests"
TOKEN = {"Token": API_TOKEN}
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
BODY_READ_TIMEOUT_SECONDS = 0.5
FORGED_LINE = "x\n[2026-01-01 00:00:00] [INFO] FORGED"


@dataclass
class Service:
    url: str
    bootstrap: str
    catalog: TopicCatalog

    def records(self, topic: Topic) -> list[ConsumedRecord]:
        return read_topic(self.bootstrap, self.catalog.name(topic))

    def post(self, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(f"{self.url}{path}", content=content, headers=headers, timeout=10)

    def post_webhook(self, document: dict[str, Any]) -> httpx.Response:
        body = json.dumps(document).encode()
        headers = {"X-Spark-Signature": sign(SECRET.encode(), body)}
        return self.post("/webhooks/webex", body, headers)


@pytest.fixture(scope="module")
def service(kafka: KafkaHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("state"),
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=catalog.prefix,
        api_token=API_TOKEN,
        webhook_secret=SECRET,
        body_read_timeout_seconds=BODY_READ_TIMEOUT_SECONDS,
    )
    with serve_in_thread(create_app(settings), settings) as url:
        yield Service(url, kafka.bootstrap, catalog)


def new_room() -> str:
    return f"room-{uuid.uuid4().hex}"


def mentions(records: list[ConsumedRecord], marker: str) -> list[ConsumedRecord]:
    return [record for record in records if marker.encode() in (record.value or b"")]


# --- body read timeout -----------------------------------------------------------------


def test_body_shorter_than_content_length_is_408(service: Service) -> None:
    room = new_room()
    partial = json.dumps({"to": room, "subject": "s"}).encode()[:10]
    host, port = service.url.removeprefix("http://").split(":")
    head = (
        b"POST /api/v1/alert HTTP/1.1\r\nHost: localhost\r\nToken: "
        + API_TOKEN.encode()
        + b"\r\nContent-Length: 500\r\n\r\n"
    )
    started = time.monotonic()

    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + partial)
        response = connection.recv(65536)
    elapsed = time.monotonic() - started

    assert response.startswith(b"HTTP/1.1 408")
    assert b"WXSTREAM_BODY_READ_TIMEOUT_SECONDS" in response
    assert elapsed < BODY_READ_TIMEOUT_SECONDS + 3
    assert mentions(service.records(Topic.BACKEND_EVENTS), room) == []


# --- control characters and lengths ------------------------------------------------------


def test_alert_to_with_newline_is_400(service: Service) -> None:
    marker = uuid.uuid4().hex

    response = service.post("/api/v1/alert", {"to": FORGED_LINE, "subject": marker}, TOKEN)

    assert response.status_code == 400
    assert "'to'" in response.json()["error"]
    assert "control character" in response.json()["error"]
    assert mentions(service.records(Topic.BACKEND_EVENTS), marker) == []


def test_rejection_log_escapes_request_values(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.rejections"):
        service.post("/api/v1/alert", {"to": FORGED_LINE, "subject": "s"}, TOKEN)

    lines = [record.getMessage() for record in caplog.records]
    assert any("control character '\\n'" in line for line in lines)
    assert not any("\n" in line for line in lines)


def test_rejection_log_escapes_path_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.rejections"):
        RejectionLog().record("POST", "/x\n[INFO] FORGED", 404, "bad\x00reason", "r1")

    (line,) = [record.getMessage() for record in caplog.records]
    assert "/x\\n[INFO] FORGED" in line
    assert "bad\\x00reason" in line


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"data": {"id": "\u00fc\u0000x"}}, "data.id", id="data.id NUL"),
        pytest.param({"data": {"id": "m" * 513}}, "data.id", id="data.id 513 chars"),
        pytest.param({"data": {"id": "m1", "roomId": "r\n1"}}, "data.roomId", id="roomId newline"),
        pytest.param(
            {"data": {"id": "m1", "personId": "p\x1b[31m"}}, "data.personId", id="personId escape"
        ),
        pytest.param(
            {"data": {"id": "m1", "personEmail": "a@example.com\x7f"}},
            "data.personEmail",
            id="personEmail DEL",
        ),
        pytest.param({"resource": "r" * 200}, "resource", id="resource 200 chars"),
        pytest.param({"resource": "messages\n"}, "resource", id="resource newline"),
        pytest.param({"event": "created!"}, "event", id="event punctuation"),
    ],
)
def test_webhook_rejects_unsafe_field(service: Service, change: dict[str, Any], named: str) -> None:
    marker = uuid.uuid4().hex
    document = {"resource": "messages", "event": "created", "name": marker, "data": {"id": "m1"}}
    document.update(change)

    response = service.post_webhook(document)

    assert response.status_code == 400
    assert repr(named) in response.json()["error"]
    assert mentions(service.records(Topic.WEBEX_WEBHOOKS), marker) == []


def test_webhook_accepts_calling_resource_and_unicode_ids(service: Service) -> None:
    marker = uuid.uuid4().hex
    document = {
        "resource": "telephony_calls",
        "event": "created",
        "name": marker,
        "data": {"id": "\u00fc" * 512, "personEmail": "j\u00f6rg@example.com"},
    }

    response = service.post_webhook(document)

    assert response.status_code == 200
    assert len(mentions(service.records(Topic.WEBEX_WEBHOOKS), marker)) == 1


# --- destinations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "headers", "named"),
    [
        pytest.param("/api/v1/alert", {"to": "@@@"}, TOKEN, "'to'", id="alert to @@@"),
        pytest.param(
            "/api/v1/alert", {"to": "ann@example"}, TOKEN, "'to'", id="alert email without dot"
        ),
        pytest.param(
            "/api/v1/alert",
            {"to": "ann smith@example.com"},
            TOKEN,
            "'to'",
            id="alert email with space",
        ),
        pytest.param("/api/v1/alert", {"to": "r" * 513}, TOKEN, "'to'", id="alert to 513 chars"),
        pytest.param(
            "/api/v1/events", {"type": "alert", "to": "@@@"}, BEARER, "'to'", id="event to @@@"
        ),
        pytest.param(
            "/api/v1/events",
            {"type": "alert", "to": FORGED_LINE},
            BEARER,
            "'to'",
            id="event to newline",
        ),
        pytest.param(
            "/api/v1/events",
            {"type": "alert\n", "to": "r"},
            BEARER,
            "type",
            id="event type newline",
        ),
        pytest.param(
            "/api/v1/messages",
            {"toPersonEmail": "not-an-email"},
            BEARER,
            "toPersonEmail",
            id="message invalid email",
        ),
        pytest.param(
            "/api/v1/messages",
            {"roomId": FORGED_LINE},
            BEARER,
            "roomId",
            id="message roomId newline",
        ),
        pytest.param(
            "/api/v1/messages",
            {"roomId": "r" * 513},
            BEARER,
            "roomId",
            id="message roomId 513 chars",
        ),
        pytest.param(
            "/api/v1/messages",
            {"toPersonId": "p\x00"},
            BEARER,
            "toPersonId",
            id="message toPersonId NUL",
        ),
        pytest.param(
            "/api/v1/messages",
            {"roomId": "r", "parentId": "p\n"},
            BEARER,
            "parentId",
            id="message parentId newline",
        ),
        pytest.param(
            "/api/v1/messages",
            {"roomId": "r", "files": ["/etc/passwd"]},
            BEARER,
            "files[0]",
            id="message file path",
        ),
        pytest.param(
            "/api/v1/messages",
            {"roomId": "r", "attachments": [{"foo": 1}]},
            BEARER,
            "contentType",
            id="message attachment not card",
        ),
    ],
)
def test_invalid_destination_is_400(
    service: Service, path: str, body: dict[str, Any], headers: dict[str, str], named: str
) -> None:
    marker = uuid.uuid4().hex
    text_field = "subject" if path != "/api/v1/messages" else "text"
    topic = Topic.OUTBOUND_MESSAGES if path == "/api/v1/messages" else Topic.BACKEND_EVENTS

    response = service.post(path, {text_field: marker, **body}, headers)

    assert response.status_code == 400
    assert named in response.json()["error"]
    assert mentions(service.records(topic), marker) == []


def test_alert_subject_and_message_may_have_newlines(service: Service) -> None:
    marker = uuid.uuid4().hex
    alert = {"to": "ann@example.com", "subject": f"{marker}\nline 2", "message": "a\r\nb"}

    response = service.post("/api/v1/alert", alert, TOKEN)

    assert response.status_code == 202
    assert len(mentions(service.records(Topic.BACKEND_EVENTS), marker)) == 1


def test_outbound_message_card_needs_object_content() -> None:
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": "card"}

    with pytest.raises(ValueError, match=r"attachments\[0\]\.content"):
        OutboundMessage(message_id="m", room_id="r", text="x", attachments=[card])


def test_outbound_message_accepts_valid_destinations() -> None:
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {}}

    message = OutboundMessage(
        message_id="m",
        to_person_email="ann.o'neil+alerts@mail.example.co.uk",
        files=["https://example.com/report.pdf"],
        attachments=[card],
    )

    assert message.conversation_key == "person:ann.o'neil+alerts@mail.example.co.uk"


# --- error wording ---------------------------------------------------------------------


def test_events_with_token_header_names_bearer(service: Service) -> None:
    response = service.post("/api/v1/events", {"type": "alert", "to": new_room()}, TOKEN)

    assert response.status_code == 401
    assert "Authorization: Bearer <token>" in response.json()["error"]
    assert "missing API token" not in response.json()["error"]


def test_alert_names_two_missing_fields_in_prose(service: Service) -> None:
    response = service.post("/api/v1/alert", {"message": "m"}, TOKEN)

    assert response.status_code == 400
    assert response.json()["error"] == "missing fields 'to' and 'subject'"


def test_messages_wrong_type_names_field_and_types(service: Service) -> None:
    response = service.post("/api/v1/messages", {"roomId": new_room(), "text": 42}, BEARER)

    assert response.status_code == 400
    assert response.json()["error"] == "field 'text' must be a string, got an integer"


def test_cloudevent_data_wrong_type_names_nested_field(service: Service) -> None:
    cloudevent = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "ci",
        "type": "ci.failed",
        "data": {"to": new_room(), "subject": ["s"]},
    }

    response = service.post("/api/v1/events", cloudevent, BEARER)

    assert response.status_code == 400
    assert response.json()["error"] == "field 'data.subject' must be a string, got an array"


# --- secrets ---------------------------------------------------------------------------


def test_short_secrets_logged_as_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        state_dir=tmp_path,
        kafka_bootstrap_servers="127.0.0.1:1",
        api_token="short-api",
        admin_token="short-admin",
        webhook_secret="short-hook",
    )

    with caplog.at_level(logging.WARNING, logger="ingest.app"):
        create_app(settings)

    text = "\n".join(record.getMessage() for record in caplog.records)
    for variable in ("WXSTREAM_API_TOKEN", "WXSTREAM_ADMIN_TOKEN", "WXSTREAM_WEBHOOK_SECRET"):
        assert variable in text
    for secret in ("short-api", "short-admin", "short-hook"):
        assert secret not in text


def test_long_secrets_not_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        state_dir=tmp_path,
        kafka_bootstrap_servers="127.0.0.1:1",
        api_token="a" * 16,
        webhook_secret="b" * 32,
    )

    with caplog.at_level(logging.WARNING, logger="ingest.app"):
        create_app(settings)

    assert caplog.records == []
