"""Helpers for the sender's end-to-end tests: outbound records, a worker, a delaying proxy."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from confluent_kafka import Producer

from schemas.envelope import Envelope
from schemas.events import OUTBOUND_REQUESTED, decode_event, encode_event
from schemas.payloads import DeliveryAttempt, OutboundMessage
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import ConsumedRecord, read_topic
from tests.processes import ManagedProcess, worker_process, wxstream_env
from wxstream.sim.server import SimulatorServer

TEST_SOURCE = "wxstream/tests"


def produce(bootstrap: str, topic: str, messages: list[OutboundMessage]) -> list[Envelope]:
    """Append outbound messages in order, wait for the broker, and return their envelopes."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",
        }
    )
    failures: list[str] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    envelopes = []
    for message in messages:
        key = message.conversation_key
        envelope = Envelope.new(type=OUTBOUND_REQUESTED, source=TEST_SOURCE, subject=key)
        record = encode_event(envelope, key, message)
        producer.produce(
            topic,
            key=record.key_bytes,
            value=record.value,
            headers=record.headers,
            on_delivery=on_delivery,
        )
        producer.poll(0)
        envelopes.append(envelope)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} outbound records were not acknowledged"
    assert not failures, failures
    return envelopes


def produce_raw(
    bootstrap: str, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0


@dataclass(frozen=True)
class Written:
    """A record the worker wrote, decoded."""

    record: ConsumedRecord
    envelope: Envelope
    payload: Any


def written(bootstrap: str, catalog: TopicCatalog, topic: Topic) -> list[Written]:
    decoded = []
    for record in read_topic(bootstrap, catalog.name(topic)):
        envelope, payload = decode_event(record.headers, record.value)
        decoded.append(Written(record, envelope, payload))
    return decoded


def attempts_of(bootstrap: str, catalog: TopicCatalog, message_id: str) -> list[DeliveryAttempt]:
    return [
        item.payload
        for item in written(bootstrap, catalog, Topic.OUTBOUND_DELIVERIES)
        if item.payload.message_id == message_id
    ]


def wait_until(check: Callable[[], bool], timeout: float, description: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{description} did not happen within {timeout} s")
        time.sleep(0.2)


def room_texts(sim: SimulatorServer, room_id: str) -> list[str]:
    """Texts of the room's messages, oldest first."""
    items = sim.control("GET", "messages", roomId=room_id)["items"]
    return [str(item.get("text") or item.get("markdown") or "") for item in items]


def message_posts(sim: SimulatorServer) -> list[dict[str, Any]]:
    """The simulator's log of ``POST /v1/messages`` requests, oldest first."""
    return [
        request
        for request in sim.requests()
        if request["method"] == "POST" and request["path"].endswith("/messages")
    ]


def sender_env(
    bootstrap: str, prefix: str, api_url: str, token: str, state_dir: Path, **extra: str | int
) -> dict[str, str]:
    return wxstream_env(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        topic_partitions=3,
        webex_api_url=api_url,
        webex_token=token,
        state_dir=state_dir,
        **extra,
    )


def rooms_with_messages(
    sim: SimulatorServer, label: str, rooms: int, per_room: int
) -> tuple[list[str], list[OutboundMessage]]:
    """Create rooms with Ann and the bot, and ``per_room`` numbered messages for each.

    A message's text is ``<room id>:<number>``. The messages are ordered by number, then
    room, so each room's messages appear in the order they were numbered.
    """
    bot_email = sim.bot["emails"][0]
    room_ids = [
        str(sim.create_room(f"{label} room {n}", ["ann@example.com", bot_email])["id"])
        for n in range(rooms)
    ]
    messages = [
        OutboundMessage(
            message_id=f"{label}-{uuid.uuid4().hex[:8]}", room_id=room, text=f"{room}:{n}"
        )
        for n in range(per_room)
        for room in room_ids
    ]
    return room_ids, messages


def start_worker(env: dict[str, str], log_path: Path) -> ManagedProcess:
    return worker_process(env, log_path).start(timeout=120)


@dataclass
class DelayingProxy:
    """A reverse proxy that forwards to ``target`` and delays posts to chosen rooms.

    ``delays`` maps a room id to seconds; a ``POST`` whose JSON body names that room
    waits that long before it is forwarded. The simulator's faults match only paths, so
    this is how one room is made slow while others are not.
    """

    target: str
    delays: dict[str, float] = field(default_factory=dict)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        if scope["method"] == "POST":
            await asyncio.sleep(self._delay_for(body))
        headers = [
            (name.decode(), value.decode())
            for name, value in scope["headers"]
            if name.lower() not in (b"host", b"content-length")
        ]
        url = (
            self.target
            + scope["path"]
            + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        )
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            response = await client.request(scope["method"], url, content=body, headers=headers)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (name.encode(), value.encode())
                    for name, value in response.headers.items()
                    if name.lower()
                    not in ("content-length", "transfer-encoding", "content-encoding")
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.content})

    def _delay_for(self, body: bytes) -> float:
        for room_id, delay in self.delays.items():
            if room_id.encode() in body:
                return delay
        return 0.0


@contextmanager
def running_proxy(proxy: DelayingProxy) -> Iterator[DelayingProxy]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    proxy.port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(proxy, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("the delaying proxy did not start within 10 s")
        time.sleep(0.01)
    try:
        yield proxy
    finally:
        server.should_exit = True
        thread.join(10)
