"""Pure logic of the ingest service: signatures, parsing, settings checks, log limits."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from confluent_kafka import KafkaError, Producer
from hypothesis import given
from hypothesis import strategies as st

from ingest import admin, health, webhooks
from ingest.app import check_settings
from ingest.direct import direct_table, route_path
from ingest.errors import BadRequest
from ingest.kafka_log import ClientErrorLog
from ingest.producer import message_timeout_ms, producer_config
from ingest.records import ingest_record
from ingest.rejections import RejectionLog
from ingest.signature import sign, signature_matches
from ingest.webhooks import parse_webhook
from schemas.envelope import RECEIVED_AT_EXTENSION, REQUEST_ID_EXTENSION, Envelope
from schemas.events import SOURCE_INGEST
from wxstream.settings import SettingsError, load_settings

SECRET = b"secret"


def test_sign_is_lowercase_hex_hmac_sha1() -> None:
    # HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog"), RFC 2104 example.
    body = b"The quick brown fox jumps over the lazy dog"

    assert sign(b"key", body) == "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"


@pytest.mark.parametrize(
    "header",
    [None, "", "0" * 40, sign(SECRET, b"{}").upper(), sign(b"other", b"{}"), "\u00e9" * 40],
)
def test_signature_matches_rejects_wrong_header(header: str | None) -> None:
    assert not signature_matches(SECRET, b"{}", header)


def test_signature_matches_accepts_own_signature() -> None:
    assert signature_matches(SECRET, b"{}", sign(SECRET, b"{}"))


def test_signature_matches_raw_header_bytes() -> None:
    expected = sign(SECRET, b"{}").encode()

    assert signature_matches(SECRET, b"{}", b" " + expected + b" ")
    assert not signature_matches(SECRET, b"{}", expected.upper())
    assert not signature_matches(SECRET, b"{}", b"\xe9" * 40)


def test_ingest_record_headers_match_envelope() -> None:
    received_at = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
    event_time = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    event_id, record = ingest_record(
        key="room:abc",
        value=b"{}",
        type="com.example.deploy",
        source="urn:example:ci",
        time=event_time,
        request_id="req-1",
        received_at=received_at,
        extensions={"zone": "eu", "attempt": "2"},
        correlationid="corr-1",
    )

    envelope = Envelope.from_headers(record.headers)
    assert envelope.to_headers() == record.headers
    assert envelope.id == event_id
    assert envelope.subject == "room:abc"
    assert envelope.time == event_time
    assert envelope.correlationid == "corr-1"
    assert envelope.extensions == {
        "zone": "eu",
        "attempt": "2",
        RECEIVED_AT_EXTENSION: "2026-03-01T12:30:45.123456Z",
        REQUEST_ID_EXTENSION: "req-1",
    }


def test_ingest_record_default_id_and_time() -> None:
    received_at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)

    first, record = ingest_record(
        key="k", value=b"{}", type="t", request_id="r", received_at=received_at
    )
    second, _ = ingest_record(
        key="k", value=b"{}", type="t", request_id="r", received_at=received_at
    )

    envelope = Envelope.from_headers(record.headers)
    assert first != second
    assert str(uuid.UUID(first)) == first
    assert envelope.time == received_at
    assert envelope.source == SOURCE_INGEST


def test_ingest_record_rejects_lone_surrogate_in_key() -> None:
    with pytest.raises(BadRequest, match="lone surrogate"):
        ingest_record(
            key="room:\ud800",
            value=b"{}",
            type="t",
            request_id="r",
            received_at=datetime.now(UTC),
        )


def test_parse_webhook_reads_keying_fields() -> None:
    body = json.dumps(
        {
            "resource": "messages",
            "event": "created",
            "data": {"id": "m1", "personEmail": "Ann@Example.com", "personId": "p1"},
        }
    ).encode()

    fields = parse_webhook(body)

    assert fields.resource == "messages"
    assert fields.event == "created"
    assert fields.data_id == "m1"
    assert fields.key == "person:ann@example.com"


def test_parse_webhook_empty_room_keys_by_data_id() -> None:
    body = b'{"resource": "rooms", "event": "updated", "data": {"id": "r1", "roomId": ""}}'

    assert parse_webhook(body).key == "webhook:r1"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
WEBHOOK_DATA = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON_VALUES,
        "roomId": JSON_VALUES,
        "personId": JSON_VALUES,
        "personEmail": JSON_VALUES,
    },
)
WEBHOOK_LIKE = st.fixed_dictionaries(
    {},
    optional={"resource": JSON_VALUES, "event": JSON_VALUES, "data": WEBHOOK_DATA | JSON_VALUES},
)


@given(WEBHOOK_LIKE | JSON_VALUES)
def test_parse_webhook_raises_only_bad_request(document: object) -> None:
    body = json.dumps(document).encode()

    try:
        fields = parse_webhook(body)
    except BadRequest:
        return
    assert fields.resource
    assert fields.event
    assert fields.key


@given(st.binary(max_size=200))
def test_parse_webhook_arbitrary_bytes_raise_bad_request(body: bytes) -> None:
    with contextlib.suppress(BadRequest):
        parse_webhook(body)


def test_message_timeout_within_append_timeout() -> None:
    for seconds in (0.5, 1.0, 5.0, 60.0):
        for linger_ms in (0, 5, 100):
            if seconds * 1000 > 2 * linger_ms:
                assert linger_ms < message_timeout_ms(seconds, linger_ms) < seconds * 1000


def test_producer_config_is_durable() -> None:
    config = producer_config(load_settings(kafka_bootstrap_servers="127.0.0.1:1"))

    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["partitioner"] == "murmur2_random"
    assert config["message.timeout.ms"] == 4000
    assert config["linger.ms"] == 0


def test_producer_config_linger_setting() -> None:
    settings = load_settings(
        kafka_bootstrap_servers="127.0.0.1:1", producer_linger_ms=100, append_timeout_seconds=0.5
    )
    config = producer_config(settings)

    assert config["linger.ms"] == 100
    assert config["message.timeout.ms"] == 400
    # librdkafka rejects a message timeout that is not longer than the linger.
    Producer(config)


def test_append_timeout_must_exceed_linger() -> None:
    with pytest.raises(
        SettingsError, match=r"WXSTREAM_APPEND_TIMEOUT_SECONDS has value 0\.2"
    ) as error:
        load_settings(producer_linger_ms=100, append_timeout_seconds=0.2)

    assert "lower WXSTREAM_PRODUCER_LINGER_MS" in str(error.value)


def test_check_settings_requires_api_token() -> None:
    settings = load_settings(webhook_secret="s", api_token=None)

    with pytest.raises(SettingsError, match="WXSTREAM_API_TOKEN"):
        check_settings(settings)


def test_check_settings_rejects_empty_api_token() -> None:
    settings = load_settings(webhook_secret="s", api_token="")

    with pytest.raises(SettingsError, match="WXSTREAM_API_TOKEN"):
        check_settings(settings)


def test_check_settings_requires_secret_or_unsigned() -> None:
    settings = load_settings(api_token="t", webhook_secret=None, allow_unsigned_webhooks=False)

    with pytest.raises(SettingsError) as raised:
        check_settings(settings)

    assert "WXSTREAM_WEBHOOK_SECRET" in str(raised.value)
    assert "WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS" in str(raised.value)


def test_check_settings_allows_unsigned_when_set() -> None:
    settings = load_settings(api_token="t", webhook_secret=None, allow_unsigned_webhooks=True)

    assert check_settings(settings) == (b"t", None)


def test_check_settings_secret_wins_over_unsigned() -> None:
    settings = load_settings(api_token="t", webhook_secret="s", allow_unsigned_webhooks=True)

    assert check_settings(settings) == (b"t", b"s")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rejection_log_limits_lines_per_second(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = RejectionLog(per_second=3, clock=clock)

    with caplog.at_level(logging.WARNING, logger="ingest.rejections"):
        for number in range(10):
            log.record("POST", "/webhooks/webex", 401, "invalid signature", f"req-{number}")
        clock.now = 1.5
        log.record("POST", "/webhooks/webex", 401, "invalid signature", "req-late")

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 5
    assert "req-0" in messages[0]
    assert "suppressed 7" in messages[3]
    assert "req-late" in messages[4]


def test_client_error_log_limits_each_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    errors = ClientErrorLog(logging.getLogger("test.kafka"), "consumer", 10.0, lambda: now[0])
    down = KafkaError(KafkaError._TRANSPORT, "connection refused")
    other = KafkaError(KafkaError._ALL_BROKERS_DOWN, "all brokers down")

    with caplog.at_level(logging.WARNING, logger="test.kafka"):
        for _ in range(20):
            errors(down)
        errors(other)
        now[0] = 10.0
        errors(down)

    lines = [record.getMessage() for record in caplog.records]
    assert lines.count("Kafka consumer error: connection refused") == 2
    assert lines.count("Kafka consumer error: all brokers down") == 1


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/webhooks/webex", "", "/webhooks/webex"),
        ("/bot/webhooks/webex", "/bot", "/webhooks/webex"),
        ("/bother/webhooks/webex", "/bot", "/bother/webhooks/webex"),
        ("/webhooks/webex", "/bot", "/webhooks/webex"),
    ],
)
def test_route_path_strips_root_segment(path: str, root_path: str, expected: str) -> None:
    assert route_path({"type": "http", "path": path, "root_path": root_path}) == expected


def test_direct_table_skips_path_parameters() -> None:
    routes = [route for module in (webhooks, admin, health) for route in module.router.routes]

    table = direct_table(routes)

    assert ("POST", "/webhooks/webex") in table
    assert ("POST", "/api/v1/webhook") in table
    assert ("GET", "/healthz") in table
    assert ("GET", "/webhooks/webex") not in table
    # Admin routes use FastAPI's dependency injection, and one takes a path parameter.
    assert not any(path.startswith("/api/v1/admin") for _, path in table)
    assert not any("{" in path for _, path in table)
