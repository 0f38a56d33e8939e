"""The sender in a real worker process, against a real broker and the Webex simulator.

One worker serves the whole module. It reaches the simulator through a proxy that can
delay the posts to one room, because the simulator's faults match paths, not rooms.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from processors.delivery import plan_parts
from processors.splitting import WEBEX_MAX_BYTES, utf8_size
from schemas.envelope import Envelope
from schemas.events import OUTBOUND_REQUESTED
from schemas.payloads import DeadLetter, OutboundMessage
from schemas.topics import Topic, TopicCatalog
from tests.kafka_harness import KafkaHandle, create_catalog_topics, unique_prefix
from tests.processes import ManagedProcess
from tests.sender_support import (
    TEST_SOURCE,
    DelayingProxy,
    attempts_of,
    message_posts,
    produce,
    produce_raw,
    room_texts,
    running_proxy,
    sender_env,
    start_worker,
    wait_until,
    written,
)
from wxstream.sim.server import SimulatorServer

MAX_ATTEMPTS = 3
RETRY_AFTER_DEFAULT = 1.5


@pytest.fixture(scope="module")
def sender_catalog(kafka: KafkaHandle) -> TopicCatalog:
    return create_catalog_topics(kafka.bootstrap, unique_prefix())


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="sender-bot-token", bot_name="Sender Bot") as server:
        server.create_person("ann@example.com", "Ann")
        yield server


@pytest.fixture(scope="module")
def proxy(sim: SimulatorServer) -> Iterator[DelayingProxy]:
    with running_proxy(DelayingProxy(target=sim.url)) as running:
        yield running


@pytest.fixture(scope="module")
def worker(
    kafka: KafkaHandle,
    sender_catalog: TopicCatalog,
    sim: SimulatorServer,
    proxy: DelayingProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ManagedProcess]:
    folder = tmp_path_factory.mktemp("sender-worker")
    env = sender_env(
        kafka.bootstrap,
        sender_catalog.prefix,
        proxy.url,
        sim.bot_token,
        folder / "state",
        sender_max_attempts=MAX_ATTEMPTS,
        sender_backoff_base_seconds=0.1,
        sender_retry_after_default_seconds=RETRY_AFTER_DEFAULT,
    )
    process = start_worker(env, folder / "worker.log")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def clean_faults(sim: SimulatorServer, proxy: DelayingProxy) -> Iterator[None]:
    yield
    sim.clear_faults()
    proxy.delays.clear()


def new_room(sim: SimulatorServer) -> str:
    room = sim.create_room(
        f"room {uuid.uuid4().hex[:6]}", ["ann@example.com", sim.bot["emails"][0]]
    )
    return str(room["id"])


def message(room_id: str, text: str, **fields: Any) -> OutboundMessage:
    return OutboundMessage(
        message_id=f"m-{uuid.uuid4().hex[:12]}", room_id=room_id, text=text, **fields
    )


def send(kafka: KafkaHandle, catalog: TopicCatalog, *messages: OutboundMessage) -> list[Envelope]:
    return produce(kafka.bootstrap, catalog.name(Topic.OUTBOUND_MESSAGES), list(messages))


def wait_for_texts(
    sim: SimulatorServer, room_id: str, count: int, timeout: float = 30
) -> list[str]:
    wait_until(
        lambda: len(room_texts(sim, room_id)) >= count, timeout, f"{count} messages in {room_id}"
    )
    return room_texts(sim, room_id)


def dead_letters(kafka: KafkaHandle, catalog: TopicCatalog) -> list[DeadLetter]:
    return [item.payload for item in written(kafka.bootstrap, catalog, Topic.OUTBOUND_DEAD_LETTER)]


def test_sender_delivers_message_to_room(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    outbound = message(room, "hello from the sender")

    (envelope,) = send(kafka, sender_catalog, outbound)

    assert wait_for_texts(sim, room, 1) == ["hello from the sender"]
    wait_until(
        lambda: attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id), 10, "attempt"
    )
    records = [
        item
        for item in written(kafka.bootstrap, sender_catalog, Topic.OUTBOUND_DELIVERIES)
        if item.payload.message_id == outbound.message_id
    ]
    (attempt,) = records
    assert attempt.payload.outcome == "delivered"
    assert attempt.payload.status_code == 200
    assert attempt.payload.tracking_id
    assert attempt.payload.webex_message_id
    assert attempt.record.key == room.encode()
    assert attempt.envelope.causationid == envelope.id
    assert attempt.envelope.correlationid == envelope.id


def test_sender_splits_long_markdown(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    markdown = "Report 👍🏽 e\u0301\n\n" * 600 + "```sh\n" + "echo 🇫🇷\n" * 1500 + "```\n"
    outbound = OutboundMessage(
        message_id=f"m-{uuid.uuid4().hex[:12]}", room_id=room, markdown=markdown
    )
    expected = plan_parts(outbound)

    send(kafka, sender_catalog, outbound)

    texts = wait_for_texts(sim, room, len(expected))
    assert len(expected) >= 3
    assert len(texts) == len(expected)
    assert all(utf8_size(text) <= WEBEX_MAX_BYTES for text in texts)
    wait_until(
        lambda: (
            len(attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)) >= len(expected)
        ),
        10,
        "one attempt per part",
    )
    delivered = attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)
    assert [attempt.part_id for attempt in delivered] == [part.id for part in expected]


def rate_limit_hold_end(form: str, arrival: float) -> float:
    """The earliest time the token may send again after a 429 that arrived at ``arrival``."""
    if form == "seconds":
        return arrival + 2
    if form == "date":
        # An HTTP date has whole seconds: the simulator sends the second of arrival + 2 s.
        return math.floor(arrival + 2)
    return arrival + RETRY_AFTER_DEFAULT


@pytest.mark.parametrize("form", ["seconds", "date", "garbled", "absent"])
def test_sender_rate_limit_holds_every_send_behind_token(
    kafka: KafkaHandle,
    sender_catalog: TopicCatalog,
    sim: SimulatorServer,
    worker: ManagedProcess,
    form: str,
) -> None:
    first_room, second_room = new_room(sim), new_room(sim)
    sim.add_fault(
        kind="status",
        status=429,
        path="/messages",
        method="POST",
        count=1,
        retryAfter=form,
        retryAfterSeconds=2,
    )
    posts_before = len(message_posts(sim))

    send(kafka, sender_catalog, message(first_room, "first"))
    wait_until(
        lambda: any(post["status"] == 429 for post in message_posts(sim)[posts_before:]),
        15,
        "a 429 answer",
    )
    send(kafka, sender_catalog, message(second_room, "second"))
    wait_for_texts(sim, first_room, 1)
    wait_for_texts(sim, second_room, 1)

    posts = message_posts(sim)[posts_before:]
    (limited,) = [post for post in posts if post["status"] == 429]
    later = [post for post in posts if post["time"] > limited["time"]]
    hold_end = rate_limit_hold_end(form, limited["time"])
    assert len(later) == 2
    for post in later:
        assert post["time"] >= hold_end - 0.01, f"sent {hold_end - post['time']:.3f} s early"


def test_sender_rate_limits_do_not_use_attempts(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    sim.add_fault(
        kind="status",
        status=429,
        path="/messages",
        method="POST",
        count=MAX_ATTEMPTS + 1,
        retryAfter="seconds",
        retryAfterSeconds=0,
    )
    outbound = message(room, "patient")

    send(kafka, sender_catalog, outbound)

    assert wait_for_texts(sim, room, 1) == ["patient"]
    wait_until(
        lambda: any(
            a.outcome == "delivered"
            for a in attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)
        ),
        10,
        "the delivered attempt",
    )
    outcomes = [
        (a.attempt, a.outcome, a.status_code)
        for a in attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)
    ]
    assert outcomes == [
        *[(number, "retrying", 429) for number in range(1, MAX_ATTEMPTS + 2)],
        (MAX_ATTEMPTS + 2, "delivered", 200),
    ]


def test_sender_retries_503_then_delivers(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    sim.add_fault(
        kind="status", status=503, path="/messages", method="POST", count=2, retryAfter="absent"
    )
    outbound = message(room, "after an outage")

    send(kafka, sender_catalog, outbound)

    assert wait_for_texts(sim, room, 1) == ["after an outage"]
    wait_until(
        lambda: len(attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)) >= 3,
        10,
        "3 attempts",
    )
    outcomes = [
        (a.attempt, a.outcome, a.status_code)
        for a in attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)
    ]
    assert outcomes == [(1, "retrying", 503), (2, "retrying", 503), (3, "delivered", 200)]


def test_sender_dead_letters_exhausted_retries(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    sim.add_fault(kind="status", status=502, path="/messages", method="POST", count=MAX_ATTEMPTS)
    outbound = message(room, "never arrives")

    send(kafka, sender_catalog, outbound)

    wait_until(
        lambda: any(
            d.message_id == outbound.message_id for d in dead_letters(kafka, sender_catalog)
        ),
        30,
        "the dead letter",
    )
    (letter,) = [
        d for d in dead_letters(kafka, sender_catalog) if d.message_id == outbound.message_id
    ]
    assert letter.status_code == 502
    assert "retries exhausted" in letter.reason
    assert room_texts(sim, room) == []


def test_sender_dead_letters_400(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    sim.add_fault(kind="status", status=400, path="/messages", method="POST", count=1)
    rejected, accepted = message(room, "rejected"), message(room, "accepted")

    send(kafka, sender_catalog, rejected, accepted)

    assert wait_for_texts(sim, room, 1) == ["accepted"]
    wait_until(
        lambda: any(
            d.message_id == rejected.message_id for d in dead_letters(kafka, sender_catalog)
        ),
        10,
        "the dead letter",
    )
    (letter,) = [
        d for d in dead_letters(kafka, sender_catalog) if d.message_id == rejected.message_id
    ]
    assert letter.status_code == 400
    assert letter.tracking_id
    assert letter.error_body
    assert letter.stage == "sender.deliver"
    outcomes = [
        (a.outcome, a.status_code)
        for a in attempts_of(kafka.bootstrap, sender_catalog, rejected.message_id)
    ]
    assert outcomes == [("dead-lettered", 400)]


def test_sender_dead_letter_reason_has_webex_error(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    webex_text = "The request could not be processed: text exceeds 7439 bytes"
    sim.add_fault(
        kind="status", status=400, path="/messages", method="POST", count=1, message=webex_text
    )
    rejected = message(room, "rejected with a reason")

    send(kafka, sender_catalog, rejected)

    wait_until(
        lambda: any(
            d.message_id == rejected.message_id for d in dead_letters(kafka, sender_catalog)
        ),
        15,
        "the dead letter",
    )
    (letter,) = [
        d for d in dead_letters(kafka, sender_catalog) if d.message_id == rejected.message_id
    ]
    assert f"POST /messages returned 400: {webex_text}" in letter.reason
    assert letter.tracking_id
    assert f"(tracking id {letter.tracking_id})" in letter.reason
    (attempt,) = attempts_of(kafka.bootstrap, sender_catalog, rejected.message_id)
    assert attempt.error == f"POST /messages returned 400: {webex_text}"


def test_sender_dead_letters_invalid_message(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    key = f"room-{uuid.uuid4().hex[:8]}"
    envelope = Envelope.new(type=OUTBOUND_REQUESTED, source=TEST_SOURCE, subject=key)
    value = b'{"messageId": "invalid-1", "text": "no destination"}'

    produce_raw(
        kafka.bootstrap,
        sender_catalog.name(Topic.OUTBOUND_MESSAGES),
        key.encode(),
        value,
        envelope.to_headers(),
    )

    wait_until(
        lambda: any(d.original_key == key for d in dead_letters(kafka, sender_catalog)),
        15,
        "the dead letter",
    )
    (letter,) = [d for d in dead_letters(kafka, sender_catalog) if d.original_key == key]
    assert "roomId, toPersonId or toPersonEmail" in letter.reason
    assert letter.stage == "sender.decode"


def test_sender_keeps_order_while_another_room_is_slow(
    kafka: KafkaHandle,
    sender_catalog: TopicCatalog,
    sim: SimulatorServer,
    proxy: DelayingProxy,
    worker: ManagedProcess,
) -> None:
    slow_room = new_room(sim)
    fast_rooms = [new_room(sim) for _ in range(4)]
    proxy.delays[slow_room] = 1.0
    slow = [message(slow_room, f"slow {n}") for n in range(3)]
    fast = [message(room, f"fast {n}") for n in range(3) for room in fast_rooms]

    send(kafka, sender_catalog, *slow, *fast)

    for room in fast_rooms:
        assert wait_for_texts(sim, room, 3, timeout=15) == ["fast 0", "fast 1", "fast 2"]
    assert len(room_texts(sim, slow_room)) < 3
    assert wait_for_texts(sim, slow_room, 3) == ["slow 0", "slow 1", "slow 2"]


def test_sender_posts_redelivered_record_once(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    outbound = message(room, "only once")

    send(kafka, sender_catalog, outbound, outbound)
    send(kafka, sender_catalog, outbound)

    wait_until(
        lambda: len(attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)) >= 3,
        20,
        "3 attempts",
    )
    outcomes = [
        a.outcome for a in attempts_of(kafka.bootstrap, sender_catalog, outbound.message_id)
    ]
    assert outcomes == ["delivered", "skipped", "skipped"]
    assert room_texts(sim, room) == ["only once"]


def test_sender_log_never_shows_token_or_body(
    kafka: KafkaHandle, sender_catalog: TopicCatalog, sim: SimulatorServer, worker: ManagedProcess
) -> None:
    room = new_room(sim)
    sim.add_fault(
        kind="status", status=503, path="/messages", method="POST", count=1, retryAfter="absent"
    )
    secret_text = f"confidential-{uuid.uuid4().hex}"
    outbound = message(room, secret_text)

    send(kafka, sender_catalog, outbound)

    wait_for_texts(sim, room, 1)
    log = worker.log_path.read_text(encoding="utf-8", errors="replace")
    assert f"delivered message {outbound.message_id}" in log
    assert f"retrying message {outbound.message_id}" in log
    assert sim.bot_token not in log
    assert secret_text not in log
