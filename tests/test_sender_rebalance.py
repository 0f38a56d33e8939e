"""Rebalances while the sender's buffers are full.

A slow Webex (the simulator delays every post) and small buffers keep the sender's
window and faust's agent buffer full when a second worker joins the group and when it
leaves again. The first worker must finish both rebalances, and every message must be
delivered once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.topics import Topic
from tests.kafka_harness import KafkaHandle, create_catalog_topics, unique_prefix
from tests.processes import ManagedProcess
from tests.sender_support import (
    message_posts,
    produce,
    room_texts,
    rooms_with_messages,
    sender_env,
    start_worker,
    wait_until,
)
from wxstream.sim.server import SimulatorServer

pytestmark = pytest.mark.e2e

ROOMS = 20
MESSAGES_PER_ROOM = 10
POST_LATENCY_MS = 200
DELIVERY_SECONDS = 90
REJOIN_SECONDS = 40
# faust logs this line each time the worker joins a new generation of its group.
GENERATION = re.compile(r"generation id \d+")


def rejoins(worker: ManagedProcess) -> int:
    """Count the generations the worker joined after its first."""
    return max(0, len(GENERATION.findall(worker.log_since_start())) - 1)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="rebalance-bot-token", bot_name="Rebalance Bot") as server:
        server.create_person("ann@example.com", "Ann")
        yield server


def test_rebalance_with_full_buffers_delivers_all(
    kafka: KafkaHandle, sim: SimulatorServer, tmp_path: Path
) -> None:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())

    def env(name: str) -> dict[str, str]:
        settings = sender_env(
            kafka.bootstrap,
            catalog.prefix,
            sim.base_url,
            sim.bot_token,
            tmp_path / name,
            sender_max_in_flight=2,
            sender_max_pending_events=4,
        )
        # faust reads this variable from the environment: each agent buffers 8 events.
        settings["STREAM_BUFFER_MAXSIZE"] = "8"
        return settings

    rooms, messages = rooms_with_messages(sim, "rebalance", ROOMS, MESSAGES_PER_ROOM)
    sim.add_fault(kind="latency", path="/messages", method="POST", latencyMs=POST_LATENCY_MS)

    try:
        with start_worker(env("first"), tmp_path / "first.log") as first:
            produce(kafka.bootstrap, catalog.name(Topic.OUTBOUND_MESSAGES), messages)
            wait_until(lambda: len(message_posts(sim)) >= ROOMS, 60, f"{ROOMS} posts")
            with start_worker(env("second"), tmp_path / "second.log"):
                wait_until(
                    lambda: rejoins(first) >= 1,
                    REJOIN_SECONDS,
                    f"the first worker rejoining its group\n{first.log_tail(20)}",
                )
                posts_before = len(message_posts(sim))
                wait_until(
                    lambda: len(message_posts(sim)) >= posts_before + ROOMS,
                    DELIVERY_SECONDS,
                    f"{ROOMS} more posts with two workers\n{first.log_tail(20)}",
                )
            # The second worker has stopped, so the first one takes its partitions back.
            wait_until(
                lambda: rejoins(first) >= 2,
                REJOIN_SECONDS,
                f"the first worker rejoining after the second left\n{first.log_tail(20)}",
            )
            wait_until(
                lambda: sum(len(room_texts(sim, room)) for room in rooms) >= len(messages),
                DELIVERY_SECONDS,
                f"all {len(messages)} messages delivered\n{first.log_tail(20)}",
            )
    finally:
        sim.clear_faults()

    posted = Counter(text for room in rooms for text in room_texts(sim, room))
    assert set(posted) == {message.text for message in messages}
    assert [text for text, count in posted.items() if count > 1] == []
