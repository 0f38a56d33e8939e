"""A worker restarted on its RocksDB state still skips an event id it already routed.

The sender's delivered table would also keep a repeated alert from being posted twice,
so the test counts the alert router's output records, not the posts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from schemas.envelope import Envelope
from schemas.events import ALERT_RAISED, SOURCE_INGEST, encode_event
from schemas.payloads import BackendEvent
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import KafkaHandle, create_catalog_topics, read_topic, unique_prefix
from tests.sender_support import room_texts, sender_env, start_worker, wait_until
from wxstream.sim.server import SimulatorServer

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 60.0


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="dedup-bot-token", bot_name="Dedup Bot") as server:
        server.create_person("ann@example.com", "Ann")
        yield server


def append_alert(bootstrap: str, catalog: TopicCatalog, envelope: Envelope, room: str) -> None:
    record = encode_event(envelope, room, BackendEvent(to=room, subject=envelope.id, message="x"))
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(
        catalog.name(Topic.BACKEND_EVENTS),
        key=record.key_bytes,
        value=record.value,
        headers=record.headers,
    )
    assert producer.flush(10) == 0


def outbound_caused_by(bootstrap: str, catalog: TopicCatalog, event_id: str) -> int:
    records = read_topic(bootstrap, catalog.name(Topic.OUTBOUND_MESSAGES))
    return sum(Envelope.from_headers(record.headers).causationid == event_id for record in records)


def new_alert(room: str) -> Envelope:
    return Envelope.new(type=ALERT_RAISED, source=SOURCE_INGEST, subject=room)


def test_restarted_worker_skips_routed_event(
    kafka: KafkaHandle, sim: SimulatorServer, tmp_path: Path
) -> None:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    env = sender_env(
        kafka.bootstrap, catalog.prefix, sim.base_url, sim.bot_token, tmp_path / "state"
    )
    room = str(sim.create_room("dedup room", ["ann@example.com", sim.bot["emails"][0]])["id"])
    repeated = new_alert(room)

    with start_worker(env, tmp_path / "first.log") as first:
        append_alert(kafka.bootstrap, catalog, repeated, room)
        wait_until(
            lambda: any(repeated.id in text for text in room_texts(sim, room)),
            WAIT_SECONDS,
            f"the first alert in the bot's messages\n{first.log_tail(30)}",
        )

    append_alert(kafka.bootstrap, catalog, repeated, room)
    marker = new_alert(room)
    append_alert(kafka.bootstrap, catalog, marker, room)
    with start_worker(env, tmp_path / "second.log") as second:
        wait_until(
            lambda: any(marker.id in text for text in room_texts(sim, room)),
            WAIT_SECONDS,
            f"the marker alert in the bot's messages\n{second.log_tail(30)}",
        )

    assert outbound_caused_by(kafka.bootstrap, catalog, repeated.id) == 1
    assert outbound_caused_by(kafka.bootstrap, catalog, marker.id) == 1
    texts = room_texts(sim, room)
    assert sum(repeated.id in text for text in texts) == 1
