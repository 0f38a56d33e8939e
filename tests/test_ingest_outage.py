"""The ingest service through a broker outage, on a dedicated broker this module starts.

The shared session broker is never stopped: this module runs its own single-node broker
with the project's launcher on free ports and stops it by pid at the end.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.app import create_app
from ingest.server import serve_in_thread
from ingest.signature import sign
from schemas.topics import Topic
from tests.kafka_harness import create_catalog_topics, free_port, read_topic, unique_prefix
from wxstream.broker import BrokerConfig, LocalBroker
from wxstream.settings import default_cache_dir, load_settings

SECRET = "webhook-secret"
APPEND_TIMEOUT_SECONDS = 2.0
# Slack for HTTP, thread scheduling and a loaded test machine on top of the append timeout.
BUDGET_SECONDS = APPEND_TIMEOUT_SECONDS + 1.5
RECOVERY_SECONDS = 60.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    cache_dir = Path(os.environ.get("WXSTREAM_KAFKA_CACHE_DIR", default_cache_dir() / "kafka"))
    config = BrokerConfig(
        version=os.environ.get("WXSTREAM_KAFKA_VERSION", "4.1.1"),
        cache_dir=cache_dir,
        data_dir=tmp_path_factory.mktemp("outage-broker"),
        port=free_port(),
        controller_port=free_port(),
        heap="384m",
        internal_partitions=1,
    )
    launcher = LocalBroker(config, progress=lambda line: print(f"[outage kafka] {line}"))
    launcher.start(timeout=120)
    try:
        yield launcher
    finally:
        launcher.stop(timeout=30)


def callback(room: str) -> bytes:
    data = {"id": f"msg-{uuid.uuid4().hex}", "roomId": room}
    return json.dumps({"resource": "messages", "event": "created", "data": data}).encode()


def post_webhook(url: str, room: str) -> tuple[httpx.Response, float]:
    body = callback(room)
    started = time.monotonic()
    response = httpx.post(
        f"{url}/webhooks/webex",
        content=body,
        headers={"X-Spark-Signature": sign(SECRET.encode(), body)},
        timeout=BUDGET_SECONDS * 3,
    )
    return response, time.monotonic() - started


def post_until_accepted(url: str, room: str) -> httpx.Response:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        response, _ = post_webhook(url, room)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_broker_outage_503_then_recovery(broker: LocalBroker, tmp_path: Path) -> None:
    bootstrap = broker.config.bootstrap
    catalog = create_catalog_topics(bootstrap, unique_prefix(), partitions=1)
    settings = load_settings(
        state_dir=tmp_path,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=catalog.prefix,
        api_token="api-token",
        webhook_secret=SECRET,
        append_timeout_seconds=APPEND_TIMEOUT_SECONDS,
    )
    before, during, after = (
        f"{phase}-{uuid.uuid4().hex}" for phase in ("before", "during", "after")
    )

    with serve_in_thread(create_app(settings), settings) as url:
        assert post_webhook(url, before)[0].status_code == 200

        broker.stop(timeout=30)
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
                outcomes = list(pool.map(lambda _: post_webhook(url, during), range(10)))
            started = time.monotonic()
            readiness = httpx.get(f"{url}/readyz", timeout=BUDGET_SECONDS * 3)
            readiness_seconds = time.monotonic() - started
        finally:
            broker.start(timeout=120)

        for response, elapsed in outcomes:
            assert response.status_code == 503
            assert int(response.headers["Retry-After"]) >= 1
            assert elapsed < BUDGET_SECONDS
        assert readiness.status_code == 503
        assert readiness_seconds < BUDGET_SECONDS

        recovered = post_until_accepted(url, after)
        assert recovered.status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200

    records = read_topic(bootstrap, catalog.name(Topic.WEBEX_WEBHOOKS))
    keys = [record.key for record in records]
    assert keys.count(before.encode()) == 1
    assert keys.count(during.encode()) == 0
    assert keys.count(after.encode()) == 1
