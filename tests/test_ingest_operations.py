"""Operations side of the ingest service: health, readiness, metrics, OpenAPI, request ids."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from ingest.app import create_app
from ingest.server import serve_in_thread
from ingest.signature import sign
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import KafkaHandle, create_catalog_topics, read_topic, unique_prefix
from wxstream.settings import Settings, load_settings

SECRET = "webhook-secret"
API_TOKEN = "api-token-for-tests"
TOPIC_MAX_MESSAGE_BYTES = 2048


@dataclass
class Service:
    url: str
    bootstrap: str
    catalog: TopicCatalog


def ingest_settings(kafka: KafkaHandle, prefix: str, state_dir: Path) -> Settings:
    return load_settings(
        state_dir=state_dir,
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=prefix,
        api_token=API_TOKEN,
        webhook_secret=SECRET,
    )


@pytest.fixture(scope="module")
def service(kafka: KafkaHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    limit_topic_size(kafka.bootstrap, catalog.name(Topic.WEBEX_WEBHOOKS))
    settings = ingest_settings(kafka, catalog.prefix, tmp_path_factory.mktemp("state"))
    with serve_in_thread(create_app(settings), settings) as url:
        yield Service(url, kafka.bootstrap, catalog)


def limit_topic_size(bootstrap: str, topic: str) -> None:
    """Lower the topic's max.message.bytes so a small record can exceed it."""
    entry = ConfigEntry(
        "max.message.bytes",
        str(TOPIC_MAX_MESSAGE_BYTES),
        incremental_operation=AlterConfigOpType.SET,
    )
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def post_webhook(service: Service, body: bytes, **headers: str) -> httpx.Response:
    signature = sign(SECRET.encode(), body)
    return httpx.post(
        f"{service.url}/webhooks/webex",
        content=body,
        headers={"X-Spark-Signature": signature, **headers},
        timeout=10,
    )


def callback(room: str, **extra: object) -> bytes:
    data = {"id": f"msg-{uuid.uuid4().hex}", "roomId": room, **extra}
    return json.dumps({"resource": "messages", "event": "created", "data": data}).encode()


def test_healthz_returns_ok(service: Service) -> None:
    response = httpx.get(f"{service.url}/healthz", timeout=10)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ready_when_topics_exist(service: Service) -> None:
    response = httpx.get(f"{service.url}/readyz", timeout=10)

    assert response.status_code == 200


def test_readyz_names_missing_topics(kafka: KafkaHandle, tmp_path: Path) -> None:
    prefix = unique_prefix()
    settings = ingest_settings(kafka, prefix, tmp_path)

    with serve_in_thread(create_app(settings), settings) as url:
        response = httpx.get(f"{url}/readyz", timeout=10)

    assert response.status_code == 503
    assert f"{prefix}webex.webhooks" in response.json()["error"]
    assert "wxstream topics create" in response.json()["error"]


def test_record_over_topic_limit_is_413(service: Service) -> None:
    room = f"room-{uuid.uuid4().hex}"
    too_large = callback(room, padding="x" * TOPIC_MAX_MESSAGE_BYTES)
    small = callback(room)

    rejected = post_webhook(service, too_large)
    accepted = post_webhook(service, small)

    assert rejected.status_code == 413
    assert accepted.status_code == 200
    records = read_topic(service.bootstrap, service.catalog.name(Topic.WEBEX_WEBHOOKS))
    assert [record.value for record in records if record.key == room.encode()] == [small]


def test_request_id_honoured(service: Service) -> None:
    response = httpx.get(f"{service.url}/healthz", headers={"X-Request-Id": "abc-123"}, timeout=10)

    assert response.headers["X-Request-Id"] == "abc-123"


@pytest.mark.parametrize("given", [None, "has space", "x" * 200, "semi;colon"])
def test_request_id_generated_when_absent_or_invalid(service: Service, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-Id": given}

    response = httpx.get(f"{service.url}/healthz", headers=headers, timeout=10)

    generated = response.headers["X-Request-Id"]
    assert generated != given
    assert uuid.UUID(generated)


def test_unknown_path_returns_json_error(service: Service) -> None:
    response = httpx.get(f"{service.url}/no/such/path", timeout=10)

    assert response.status_code == 404
    assert response.json()["requestId"] == response.headers["X-Request-Id"]


def test_metrics_count_requests_and_appends(service: Service) -> None:
    assert post_webhook(service, callback(f"room-{uuid.uuid4().hex}")).status_code == 200
    assert post_webhook(service, b"{}", **{"X-Spark-Signature": "0" * 40}).status_code == 401

    text = httpx.get(f"{service.url}/metrics", timeout=10).text

    webhooks = service.catalog.name(Topic.WEBEX_WEBHOOKS)
    assert (
        'wxstream_ingest_requests_total{method="POST",route="/webhooks/webex",status="200"}' in text
    )
    assert (
        'wxstream_ingest_requests_total{method="POST",route="/webhooks/webex",status="401"}' in text
    )
    assert f'wxstream_ingest_append_seconds_count{{topic="{webhooks}"}}' in text
    assert "wxstream_ingest_appends_in_flight 0.0" in text


def test_metrics_registry_is_per_app(kafka: KafkaHandle, tmp_path: Path) -> None:
    settings = ingest_settings(kafka, unique_prefix(), tmp_path)

    first = create_app(settings)
    second = create_app(settings)

    assert first.state.ingest.metrics.registry is not second.state.ingest.metrics.registry


def test_openapi_documents_bodies_and_security(service: Service) -> None:
    document = httpx.get(f"{service.url}/openapi.json", timeout=10).json()

    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"SparkSignature", "TokenHeader", "BearerAuth"}
    paths = document["paths"]
    for path in ("/webhooks/webex", "/api/v1/webhook", "/api/v1/alert", "/api/v1/events"):
        operation = paths[path]["post"]
        assert "requestBody" in operation, path
        assert operation["security"], path
        assert set(operation["responses"]) >= {"400", "401", "413", "503"}, path
    assert paths["/api/v1/messages"]["post"]["security"] == [{"BearerAuth": []}]
    assert paths["/api/v1/alert"]["post"]["responses"]["202"]
    assert paths["/api/v1/ping"]["get"]["security"] == [{"TokenHeader": []}, {"BearerAuth": []}]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert "get" in paths[path], path


def test_openapi_references_resolve(service: Service) -> None:
    document = httpx.get(f"{service.url}/openapi.json", timeout=10).json()
    schemas = document["components"]["schemas"]

    references = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str):
                references.add(reference)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)

    assert "#/components/schemas/WebhookNotification" in references
    for reference in references:
        assert reference.removeprefix("#/components/schemas/") in schemas, reference


def test_direct_route_other_method_is_405(service: Service) -> None:
    response = httpx.get(f"{service.url}/webhooks/webex", timeout=10)

    assert response.status_code == 405
    assert response.json()["requestId"] == response.headers["X-Request-Id"]


def test_direct_route_rejection_is_logged(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.rejections"):
        response = post_webhook(service, b"{}", **{"X-Spark-Signature": "0" * 40})

    assert response.status_code == 401
    request_id = response.headers["X-Request-Id"]
    assert response.json() == {
        "error": "invalid X-Spark-Signature: it does not match the body",
        "requestId": request_id,
    }
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_unexpected_error_logged_json_500(
    kafka: KafkaHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ingest_settings(kafka, unique_prefix(), tmp_path)
    app = create_app(settings)

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("the handler failed")

    with (
        caplog.at_level(logging.ERROR, logger="ingest.middleware"),
        serve_in_thread(app, settings) as url,
    ):
        response = httpx.get(f"{url}/fails", timeout=10)

    assert response.status_code == 500
    request_id = response.headers["X-Request-Id"]
    assert response.json() == {
        "error": "internal error; see the service log",
        "requestId": request_id,
    }
    logged = [record for record in caplog.records if request_id in record.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
