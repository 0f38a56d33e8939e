"""End to end: simulator → signed webhook → ingest → enricher → routers → outbound (→ sender).

One worker process serves the whole module. The Webex simulator delivers signed webhooks
to the real ingest service, which appends them to Kafka. The worker enriches and routes
them, and its sender posts the replies back to the simulator when processors.sender exists.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from ingest.app import create_app
from ingest.server import serve_in_thread
from schemas.envelope import Envelope
from schemas.events import ALERT_RAISED, SOURCE_INGEST, encode_event
from schemas.payloads import BackendEvent
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import (
    ConsumedRecord,
    KafkaHandle,
    create_catalog_topics,
    read_topic,
    unique_prefix,
)
from tests.processes import ManagedProcess, worker_process, wxstream_env
from tests.sim_support import bot_client, register_webhook
from wxstream.settings import load_settings
from wxstream.sim.server import SimulatorServer

pytestmark = pytest.mark.e2e

SECRET = "flow-webhook-secret"
API_TOKEN = "flow-api-token"
BOT_NAME = "Zäbbix Alert-Bot (prod) [x]*"
TRUSTED = "ann@example.com,@example.com"
ANN = "ann@example.com"
WAIT_SECONDS = 45.0
SENDER_PRESENT = importlib.util.find_spec("processors.sender") is not None


@dataclass
class Flow:
    sim: SimulatorServer
    bootstrap: str
    catalog: TopicCatalog
    ingest_url: str
    worker: ManagedProcess

    def topic(self, topic: Topic) -> str:
        return self.catalog.name(topic)

    def events(self, topic: Topic) -> list[tuple[Envelope, dict[str, Any], ConsumedRecord]]:
        """Return the records of a topic as (envelope, JSON payload, record)."""
        decoded = []
        for record in read_topic(self.bootstrap, self.topic(topic)):
            try:
                envelope = Envelope.from_headers(record.headers)
                payload = json.loads(record.value or b"")
            except ValueError:
                continue
            decoded.append((envelope, payload, record))
        return decoded

    def wait_for(
        self,
        topic: Topic,
        match: Callable[[Envelope, dict[str, Any]], bool],
        count: int = 1,
        timeout: float = WAIT_SECONDS,
    ) -> list[tuple[Envelope, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        found: list[tuple[Envelope, dict[str, Any]]] = []
        while time.monotonic() < deadline:
            found = [(e, p) for e, p, _ in self.events(topic) if match(e, p)]
            if len(found) >= count:
                return found
            time.sleep(0.5)
        raise AssertionError(
            f"{topic.value}: {len(found)} matching records after {timeout} s, expected {count}\n"
            f"--- worker log ---\n{self.worker.log_tail(40)}"
        )

    def enriched(self, message_id: str) -> tuple[Envelope, dict[str, Any]]:
        return self.wait_for(Topic.WEBEX_MESSAGES, lambda e, p: p.get("messageId") == message_id)[0]

    def replies_to(self, event_id: str) -> list[tuple[Envelope, dict[str, Any]]]:
        return [
            (e, p) for e, p, _ in self.events(Topic.OUTBOUND_MESSAGES) if e.causationid == event_id
        ]

    def reply_to(self, event_id: str) -> dict[str, Any]:
        return self.wait_for(Topic.OUTBOUND_MESSAGES, lambda e, p: e.causationid == event_id)[0][1]

    def bot_messages(self, room_id: str) -> list[dict[str, Any]]:
        items = self.sim.control("GET", "messages", roomId=room_id)["items"]
        return [item for item in items if item.get("personId") == self.sim.bot["id"]]

    def wait_for_bot_message(self, room_id: str, text: str) -> dict[str, Any]:
        """Wait until the bot posted a message in the room whose text contains ``text``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            for message in self.bot_messages(room_id):
                if text in (message.get("markdown") or message.get("text") or ""):
                    return message
            time.sleep(0.3)
        raise AssertionError(
            f"the bot posted no message containing {text!r} in {room_id}\n"
            f"--- worker log ---\n{self.worker.log_tail(40)}"
        )

    def produce(self, topic: Topic, key: bytes, value: bytes, headers: list[Any]) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all"})
        producer.produce(self.topic(topic), key=key, value=value, headers=headers)
        remaining = producer.flush(10)
        assert remaining == 0

    def post_signed(self, body: bytes) -> httpx.Response:
        signature = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        return httpx.post(
            f"{self.ingest_url}/webhooks/webex",
            content=body,
            headers={"X-Spark-Signature": signature, "Content-Type": "application/json"},
            timeout=10,
        )

    def alert(self, body: dict[str, Any]) -> str:
        response = httpx.post(
            f"{self.ingest_url}/api/v1/alert",
            json=body,
            headers={"Token": API_TOKEN},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="module")
def flow(kafka: KafkaHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    state_dir = tmp_path_factory.mktemp("flow-state")
    settings = load_settings(
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=catalog.prefix,
        topic_partitions=catalog.partitions,
        api_token=API_TOKEN,
        webhook_secret=SECRET,
        _env_file=None,
    )
    with (
        SimulatorServer(bot_name=BOT_NAME) as sim,
        serve_in_thread(create_app(settings), settings) as ingest_url,
    ):
        for resource in ("messages", "attachmentActions", "memberships"):
            register_webhook(
                sim, f"{ingest_url}/webhooks/webex", resource, "created", secret=SECRET
            )
        env = wxstream_env(
            kafka_bootstrap_servers=kafka.bootstrap,
            topic_prefix=catalog.prefix,
            topic_partitions=catalog.partitions,
            webex_api_url=sim.base_url,
            webex_token=sim.bot_token,
            state_dir=state_dir,
            worker_store="memory://",
            trusted_users=TRUSTED,
            contact="ops@example.com",
            # Other bots' messages pass, so only the bot's own id keeps its messages out.
            allow_bot_messages="true",
        )
        worker = worker_process(env, state_dir / "worker.log")
        worker.start(timeout=120)
        try:
            yield Flow(sim, kafka.bootstrap, catalog, ingest_url, worker)
        finally:
            worker.stop()


def person(flow: Flow, name: str) -> str:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    flow.sim.create_person(email, name.title())
    return email


def group_room(flow: Flow, *members: str) -> str:
    room = flow.sim.create_room(
        f"room {uuid.uuid4().hex[:6]}", [*members, flow.sim.bot["emails"][0]]
    )
    return str(room["id"])


def webhook_event_of(flow: Flow, data_id: str) -> Envelope:
    """Return the envelope of the first callback record about ``data_id``."""
    for envelope, payload, _ in flow.events(Topic.WEBEX_WEBHOOKS):
        if payload.get("data", {}).get("id") == data_id:
            return envelope
    raise AssertionError(f"no callback about {data_id} in webex.webhooks")


# --- messages and commands ------------------------------------------------------------


def test_flow_direct_hello_replies(flow: Flow) -> None:
    ann = person(flow, "ann")
    message = flow.sim.post_message(None, ann, "HELLO")

    enriched, payload = flow.enriched(message["id"])
    callback = webhook_event_of(flow, message["id"])
    assert enriched.correlationid == callback.id
    assert enriched.causationid == callback.id
    assert payload["text"] == "HELLO"

    reply = flow.reply_to(enriched.id)
    assert reply["roomId"] == message["roomId"]
    assert "Hello, I am" in reply["markdown"]
    assert "`hello`" in reply["markdown"]
    assert "`help [command]`" in reply["markdown"]
    assert "ops@example.com" in reply["markdown"]
    if SENDER_PRESENT:
        flow.wait_for_bot_message(message["roomId"], "Hello, I am")


def test_flow_group_reply_mentions_caller(flow: Flow) -> None:
    ann = person(flow, "ann")
    room = group_room(flow, ann)
    message = flow.sim.post_message(room, ann, f"@{BOT_NAME}: help", mentions=[flow.sim.bot["id"]])

    enriched, payload = flow.enriched(message["id"])
    assert payload["roomType"] == "group"
    reply = flow.reply_to(enriched.id)
    assert reply["markdown"].startswith(f"<@personEmail:{ann}|")
    assert "Commands:" in reply["markdown"]


def test_flow_thread_reply_stays_in_thread(flow: Flow) -> None:
    ann = person(flow, "ann")
    room = group_room(flow, ann)
    bot = flow.sim.bot
    root = flow.sim.post_message(room, ann, f"@{BOT_NAME} hello", mentions=[bot["id"]])
    threaded = flow.sim.post_message(
        room, ann, f"@{BOT_NAME} help", mentions=[bot["id"]], parentId=root["id"]
    )

    enriched, _ = flow.enriched(threaded["id"])
    reply = flow.reply_to(enriched.id)
    assert reply["parentId"] == root["id"]


def test_flow_unknown_command_points_to_help(flow: Flow) -> None:
    message = flow.sim.post_message(None, person(flow, "ann"), "dance now")
    enriched, _ = flow.enriched(message["id"])
    reply = flow.reply_to(enriched.id)
    assert "I do not know the command `dance now`" in reply["markdown"]


def test_flow_file_only_message_gets_hint(flow: Flow) -> None:
    message = flow.sim.post_message(
        None, person(flow, "ann"), "", files=["https://files.example.com/report.pdf"]
    )
    enriched, payload = flow.enriched(message["id"])
    assert "text" not in payload
    assert payload["files"]
    reply = flow.reply_to(enriched.id)
    assert "only answer text commands" in reply["markdown"]


def test_flow_untrusted_sender_gets_no_reply(flow: Flow) -> None:
    eve = f"eve-{uuid.uuid4().hex[:6]}@other.example.org"
    flow.sim.create_person(eve, "Eve")
    ann = person(flow, "ann")
    room = group_room(flow, ann, eve)
    bot_id = flow.sim.bot["id"]
    untrusted = flow.sim.post_message(room, eve, f"@{BOT_NAME} hello", mentions=[bot_id])
    trusted = flow.sim.post_message(room, ann, f"@{BOT_NAME} hello", mentions=[bot_id])

    untrusted_event, _ = flow.enriched(untrusted["id"])
    trusted_event, _ = flow.enriched(trusted["id"])
    # Both events share the room's partition, so the router handled eve's first.
    flow.reply_to(trusted_event.id)
    assert flow.replies_to(untrusted_event.id) == []


def test_flow_card_submission_runs_command(flow: Flow) -> None:
    ann = person(flow, "ann")
    room = group_room(flow, ann)
    card = {"type": "AdaptiveCard", "version": "1.3", "body": [], "actions": []}
    with bot_client(flow.sim) as client:
        response = client.post(
            "/messages",
            json={
                "roomId": room,
                "text": "a card",
                "attachments": [
                    {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
                ],
            },
        )
    assert response.status_code == 200, response.text
    action = flow.sim.submit_card(response.json()["id"], ann, {"command": "help", "args": "hello"})

    enriched = flow.wait_for(Topic.WEBEX_MESSAGES, lambda e, p: p.get("actionId") == action["id"])
    envelope, payload = enriched[0]
    assert payload["personEmail"] == ann
    assert payload["inputs"] == {"command": "help", "args": "hello"}
    reply = flow.reply_to(envelope.id)
    assert "`hello`: Introduce me" in reply["markdown"]


def test_flow_bot_added_posts_welcome(flow: Flow) -> None:
    ann = person(flow, "ann")
    room = group_room(flow, ann)
    added = flow.wait_for(
        Topic.WEBEX_MESSAGES,
        lambda e, p: p.get("roomId") == room and e.type.endswith("bot.added.v1"),
    )
    assert added[0][1]["roomType"] == "group"
    reply = flow.reply_to(added[0][0].id)
    assert "In this space, mention me first" in reply["markdown"]


# --- deduplication and the bot's own messages ------------------------------------------


def test_flow_same_callback_twice_one_reply(flow: Flow) -> None:
    ann = person(flow, "ann")
    message = flow.sim.post_message(None, ann, "help")
    enriched, _ = flow.enriched(message["id"])
    flow.reply_to(enriched.id)

    body = json.dumps(
        {
            "id": "webhook-replayed",
            "name": "replayed",
            "resource": "messages",
            "event": "created",
            "data": {"id": message["id"], "roomId": message["roomId"], "personEmail": ann},
        }
    ).encode()
    for _ in range(2):
        assert flow.post_signed(body).status_code in (200, 202)
    marker = flow.sim.post_message(message["roomId"], ann, "hello")
    flow.reply_to(flow.enriched(marker["id"])[0].id)

    enriched_records = flow.wait_for(
        Topic.WEBEX_MESSAGES, lambda e, p: p.get("messageId") == message["id"]
    )
    assert len(enriched_records) == 1
    assert len(flow.replies_to(enriched.id)) == 1


def test_flow_overlapping_webhooks_one_reply(flow: Flow) -> None:
    firehose = register_webhook(
        flow.sim, f"{flow.ingest_url}/webhooks/webex", "all", "all", secret=SECRET
    )
    try:
        ann = person(flow, "ann")
        message = flow.sim.post_message(None, ann, "help")
        callbacks = [d for d in flow.sim.wait_for_deliveries(1) if d["dataId"] == message["id"]]
        deadline = time.monotonic() + 10
        while len(callbacks) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            callbacks = [d for d in flow.sim.deliveries() if d["dataId"] == message["id"]]
        assert len({d["webhookId"] for d in callbacks}) == 2

        enriched, _ = flow.enriched(message["id"])
        marker = flow.sim.post_message(message["roomId"], ann, "hello")
        flow.reply_to(flow.enriched(marker["id"])[0].id)
        messages = [p for _, p, _ in flow.events(Topic.WEBEX_MESSAGES)]
        assert [p.get("messageId") for p in messages].count(message["id"]) == 1
        assert len(flow.replies_to(enriched.id)) == 1
    finally:
        with bot_client(flow.sim) as client:
            client.delete(f"/webhooks/{firehose['id']}")


def test_flow_own_message_is_not_fetched(flow: Flow) -> None:
    ann = person(flow, "ann")
    with bot_client(flow.sim) as client:
        response = client.post("/messages", json={"toPersonEmail": ann, "text": "a note"})
    assert response.status_code == 200, response.text
    own = response.json()

    # The marker shares the direct room, and so the partition, with the bot's message.
    marker = flow.sim.post_message(own["roomId"], ann, "hello")
    flow.enriched(marker["id"])
    webhook_event_of(flow, own["id"])
    fetched = [r for r in flow.sim.requests() if r["method"] == "GET" and own["id"] in r["path"]]
    assert fetched == []
    enriched_ids = [p.get("messageId") for _, p, _ in flow.events(Topic.WEBEX_MESSAGES)]
    assert own["id"] not in enriched_ids


# --- fetch failures -----------------------------------------------------------------------


def message_fetches(flow: Flow, message_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in flow.sim.requests()
        if r["method"] == "GET" and r["path"] == f"/v1/messages/{message_id}"
    ]


def test_flow_fetch_rate_limited_waits_retry_after(flow: Flow) -> None:
    flow.sim.add_fault(
        kind="status",
        status=429,
        retryAfterSeconds=1,
        method="GET",
        pathRegex="^/v1/messages/[^/]+$",
        count=1,
    )
    try:
        message = flow.sim.post_message(None, person(flow, "ann"), "hello")
        enriched, _ = flow.enriched(message["id"])
    finally:
        flow.sim.clear_faults()
    fetches = message_fetches(flow, message["id"])
    assert [r["status"] for r in fetches] == [429, 200]
    assert fetches[1]["time"] - fetches[0]["time"] >= 1.0
    flow.reply_to(enriched.id)


def test_flow_fetch_server_error_retried(flow: Flow) -> None:
    flow.sim.add_fault(
        kind="status", status=503, method="GET", pathRegex="^/v1/messages/[^/]+$", count=2
    )
    try:
        message = flow.sim.post_message(None, person(flow, "ann"), "hello")
        flow.enriched(message["id"])
    finally:
        flow.sim.clear_faults()
    assert [r["status"] for r in message_fetches(flow, message["id"])] == [503, 503, 200]


def test_flow_fetch_not_found_dead_lettered(flow: Flow) -> None:
    flow.sim.add_fault(
        kind="status", status=404, method="GET", pathRegex="^/v1/messages/[^/]+$", count=1
    )
    try:
        message = flow.sim.post_message(None, person(flow, "ann"), "hello")
        callback = flow.wait_for(
            Topic.WEBEX_WEBHOOKS, lambda e, p: p.get("data", {}).get("id") == message["id"]
        )[0][0]
        dead = flow.wait_for(Topic.INBOUND_DEAD_LETTER, lambda e, p: e.causationid == callback.id)
    finally:
        flow.sim.clear_faults()
    assert dead[0][1]["statusCode"] == 404
    assert dead[0][1]["stage"] == "fetch"
    assert len(message_fetches(flow, message["id"])) == 1


# --- alerts ------------------------------------------------------------------------------


def test_flow_alert_to_room(flow: Flow) -> None:
    room = group_room(flow, person(flow, "ann"))
    event_id = flow.alert({"to": room, "subject": "Disk full", "message": "db1 at 97%"})
    reply = flow.reply_to(event_id)
    assert reply["roomId"] == room
    assert reply["text"] == "Disk full\n\ndb1 at 97%"
    if SENDER_PRESENT:
        flow.wait_for_bot_message(room, "Disk full\n\ndb1 at 97%")


def test_flow_alert_to_email(flow: Flow) -> None:
    ann = person(flow, "ann")
    event_id = flow.alert({"to": ann, "subject": "Backup failed", "message": "see the log"})
    reply = flow.reply_to(event_id)
    assert reply["toPersonEmail"] == ann
    assert "roomId" not in reply


def test_flow_alert_duplicate_id_one_message(flow: Flow) -> None:
    room = group_room(flow, person(flow, "ann"))
    envelope = Envelope.new(type=ALERT_RAISED, source=SOURCE_INGEST, subject=room)
    record = encode_event(envelope, room, BackendEvent(to=room, subject="CPU", message="high"))
    for _ in range(2):
        flow.produce(Topic.BACKEND_EVENTS, record.key_bytes, record.value, record.headers)
    marker = flow.alert({"to": room, "subject": "marker", "message": "after"})
    flow.reply_to(marker)
    assert len(flow.replies_to(envelope.id)) == 1


def test_flow_alert_without_route_dead_lettered(flow: Flow) -> None:
    envelope = Envelope.new(type=ALERT_RAISED, source=SOURCE_INGEST, subject="no-route")
    record = encode_event(envelope, "no-route", BackendEvent(subject="nowhere", message="x"))
    flow.produce(Topic.BACKEND_EVENTS, record.key_bytes, record.value, record.headers)

    dead = flow.wait_for(Topic.INBOUND_DEAD_LETTER, lambda e, p: e.causationid == envelope.id)
    assert "no 'to'" in dead[0][1]["reason"]
    assert flow.replies_to(envelope.id) == []


# --- bad records ---------------------------------------------------------------------------


def test_flow_undecodable_callback_dead_lettered(flow: Flow) -> None:
    garbage = b"\xff\xfe not json " + uuid.uuid4().hex.encode()
    flow.produce(Topic.WEBEX_WEBHOOKS, b"garbage-key", garbage, [])

    dead = flow.wait_for(
        Topic.INBOUND_DEAD_LETTER, lambda e, p: p.get("originalKey") == "garbage-key"
    )
    assert dead[0][1]["stage"] == "decode"
    assert "ce_id" in dead[0][1]["reason"]

    message = flow.sim.post_message(None, person(flow, "ann"), "hello")
    flow.reply_to(flow.enriched(message["id"])[0].id)


def test_flow_invalid_callback_body_dead_lettered(flow: Flow) -> None:
    envelope = Envelope.new(type="com.webex.messages.created", source=SOURCE_INGEST)
    flow.produce(
        Topic.WEBEX_WEBHOOKS, b"bad-body-key", b'{"resource": "messages"}', envelope.to_headers()
    )
    dead = flow.wait_for(Topic.INBOUND_DEAD_LETTER, lambda e, p: e.causationid == envelope.id)
    assert "data" in dead[0][1]["reason"]


def test_flow_unknown_message_event_dead_lettered(flow: Flow) -> None:
    envelope = Envelope.new(type="wxstream.webex.message.received.v9", source=SOURCE_INGEST)
    flow.produce(Topic.WEBEX_MESSAGES, b"future-key", b"{}", envelope.to_headers())
    dead = flow.wait_for(
        Topic.INBOUND_DEAD_LETTER, lambda e, p: p.get("originalKey") == "future-key"
    )
    assert "version 9" in dead[0][1]["reason"]


def test_flow_worker_log_has_no_crash(flow: Flow) -> None:
    log = Path(flow.worker.log_path).read_text(encoding="utf-8", errors="replace")
    assert flow.worker.running()
    assert "Agent crashed" not in log
