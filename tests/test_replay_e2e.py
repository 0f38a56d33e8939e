"""Replay, redrive, the sandbox and the status endpoint against a real worker and simulator.

One worker, one ingest service and one simulator serve the module. The worker reaches
the simulator through a proxy that can delay posts to one room. The simulator's faults
match paths, not rooms, so each test adds the faults it needs and clears them after.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ingest.app import create_app
from ingest.server import serve_in_thread
from processors.commands import CommandContext, CommandRegistry, load_command_modules
from processors.routing import Bot, Router
from schemas.envelope import Envelope
from schemas.events import OUTBOUND_REQUESTED, SOURCE_INGEST, encode_event
from schemas.payloads import OutboundMessage
from schemas.topics import Topic, TopicCatalog
from tests.audit_support import LogWriter, cli_env
from tests.kafka_harness import KafkaHandle, create_catalog_topics, read_topic, unique_prefix
from tests.processes import ManagedProcess
from tests.sender_support import (
    DelayingProxy,
    message_posts,
    room_texts,
    running_proxy,
    sender_env,
    start_worker,
    wait_until,
)
from tests.sim_support import register_webhook
from wxstream.audit.logreader import LogReader
from wxstream.audit.sandbox import Sandbox, render_report, run_sandbox
from wxstream.audit.timeline import Selector
from wxstream.audit.timerange import TimeRange
from wxstream.cli import main
from wxstream.settings import load_settings
from wxstream.sim.server import SimulatorServer

pytestmark = pytest.mark.e2e

API_TOKEN = "replay-api-token"
ADMIN_TOKEN = "replay-admin-token"
ANN = "ann@example.com"
WAIT = 40.0
SINCE_PAUSE_SECONDS = 0.005


@dataclass
class Stack:
    kafka: str
    catalog: TopicCatalog
    sim: SimulatorServer
    proxy: DelayingProxy
    ingest_url: str
    worker: ManagedProcess

    def status(self, message_id: str, token: str = API_TOKEN) -> httpx.Response:
        return httpx.get(
            f"{self.ingest_url}/api/v1/messages/{message_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def wait_status(self, message_id: str, wanted: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.status(message_id)
            if response.status_code == 200:
                body = response.json()
                if body["status"] == wanted:
                    return body
            time.sleep(0.3)
        raise AssertionError(
            f"status of {message_id} is {body.get('status')!r}, not {wanted!r}, after {WAIT} s"
            f"\n--- worker log ---\n{self.worker.log_tail(30)}"
        )

    def send(self, *messages: OutboundMessage) -> None:
        """Append outbound requests with the partitioner that ingest and faust use."""
        writer = LogWriter(self.kafka, self.catalog)
        for message in messages:
            key = message.conversation_key
            envelope = Envelope.new(
                type=OUTBOUND_REQUESTED, source=SOURCE_INGEST, subject=key, id=message.message_id
            )
            writer.write(Topic.OUTBOUND_MESSAGES, encode_event(envelope, key, message))
        writer.flush()

    def room(self, type: str = "group") -> str:
        members = [ANN, self.sim.bot["emails"][0]]
        return str(self.sim.create_room(f"room {uuid.uuid4().hex[:6]}", members, type)["id"])

    def records(self, topic: Topic) -> list[Any]:
        return read_topic(self.kafka, self.catalog.name(topic))


@pytest.fixture(scope="module")
def stack(kafka: KafkaHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    folder = tmp_path_factory.mktemp("replay-e2e")
    settings = load_settings(
        kafka_bootstrap_servers=kafka.bootstrap,
        topic_prefix=catalog.prefix,
        topic_partitions=catalog.partitions,
        api_token=API_TOKEN,
        admin_token=ADMIN_TOKEN,
        allow_unsigned_webhooks=True,
        state_dir=folder / "ingest-state",
        _env_file=None,
    )
    with (
        SimulatorServer(token="replay-bot-token", bot_name="Replay Bot") as sim,
        running_proxy(DelayingProxy(target=sim.url)) as proxy,
        serve_in_thread(create_app(settings), settings) as ingest_url,
    ):
        sim.create_person(ANN, "Ann")
        register_webhook(sim, f"{ingest_url}/webhooks/webex", "messages", "created")
        env = sender_env(
            kafka.bootstrap,
            catalog.prefix,
            proxy.url,
            sim.bot_token,
            folder / "worker-state",
            sender_max_attempts=2,
            sender_backoff_base_seconds=0.1,
            worker_store="memory://",
        )
        worker = start_worker(env, folder / "worker.log")
        try:
            yield Stack(kafka.bootstrap, catalog, sim, proxy, ingest_url, worker)
        finally:
            worker.stop()


@pytest.fixture
def stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack, with the command line's environment pointing at its topics."""
    for name, value in cli_env(stack.kafka, stack.catalog).items():
        monkeypatch.setenv(name, value)
    yield stack
    stack.sim.clear_faults()
    stack.proxy.delays.clear()


def outbound(room_id: str, text: str) -> OutboundMessage:
    return OutboundMessage(message_id=f"m-{uuid.uuid4().hex[:12]}", room_id=room_id, text=text)


def since_now() -> str:
    """Return a ``--since`` time after every record already in the log and before any later one.

    Record timestamps are whole milliseconds of this machine's clock, so a time cut to
    the millisecond, with a pause on each side, separates the earlier tests' records from
    this test's. A margin before now would let the previous test's records in.
    """
    time.sleep(SINCE_PAUSE_SECONDS)
    now = datetime.now(UTC)
    since = now.replace(microsecond=now.microsecond // 1000 * 1000)
    time.sleep(SINCE_PAUSE_SECONDS)
    return since.isoformat()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def fail_posts(stack: Stack, count: int) -> None:
    stack.sim.add_fault(kind="status", status=400, path="/messages", method="POST", count=count)


# --- status endpoint ---------------------------------------------------------------------


def test_status_delivered_has_webex_message_id(stack_env: Stack) -> None:
    room = stack_env.room()
    message = outbound(room, "status delivered")

    stack_env.send(message)
    body = stack_env.wait_status(message.message_id, "delivered")

    posted = stack_env.sim.control("GET", "messages", roomId=room)["items"]
    assert body["webexMessageIds"] == [posted[-1]["id"]]
    assert body["attempts"][-1]["outcome"] == "delivered"
    assert body["attempts"][-1]["statusCode"] == 200


def test_status_pending_while_post_in_flight(stack_env: Stack) -> None:
    room = stack_env.room()
    stack_env.proxy.delays[room] = 8.0
    message = outbound(room, "status pending")

    stack_env.send(message)
    body = stack_env.wait_status(message.message_id, "pending")

    assert body["attempts"] == []
    assert body["webexMessageIds"] == []
    # The delayed post lands only after the delay, so wait for it here: a post landing
    # during a later test would change that test's count of posts.
    stack_env.wait_status(message.message_id, "delivered")


def test_status_failed_while_rate_limited(stack_env: Stack) -> None:
    room = stack_env.room()
    stack_env.sim.add_fault(
        kind="status", status=429, path="/messages", method="POST", count=1, retry_after_seconds=4
    )
    message = outbound(room, "status failed")

    stack_env.send(message)
    body = stack_env.wait_status(message.message_id, "failed")

    assert body["attempts"][-1]["outcome"] == "retrying"
    assert body["attempts"][-1]["statusCode"] == 429
    assert body["webexMessageIds"] == []
    assert stack_env.wait_status(message.message_id, "delivered")["attempts"][-1]["attempt"] == 2


def test_status_dead_lettered_has_reason(stack_env: Stack) -> None:
    room = stack_env.room()
    fail_posts(stack_env, 1)
    message = outbound(room, "status dead")

    stack_env.send(message)
    body = stack_env.wait_status(message.message_id, "dead-lettered")

    assert "permanent error" in body["deadLetter"]["reason"]
    assert body["deadLetter"]["statusCode"] == 400


def test_status_unknown_id_is_404(stack_env: Stack) -> None:
    response = stack_env.status("no-such-message")

    assert response.status_code == 404
    assert "message 'no-such-message' is unknown" in response.json()["error"]


def test_status_needs_api_token(stack_env: Stack) -> None:
    assert stack_env.status("any", token="wrong").status_code == 401


# --- replay deliveries -------------------------------------------------------------------


def test_replay_time_range_delivers_only_undelivered(
    stack_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    since = since_now()
    room = stack_env.room()
    delivered = outbound(room, "first, delivered")
    stack_env.send(delivered)
    stack_env.wait_status(delivered.message_id, "delivered")
    fail_posts(stack_env, 2)
    lost = [outbound(room, "second, lost"), outbound(room, "third, lost")]
    stack_env.send(*lost)
    for message in lost:
        stack_env.wait_status(message.message_id, "dead-lettered")
    stack_env.sim.clear_faults()

    out = run_cli(capsys, "replay", "deliveries", "--since", since, "--operator", "carol")

    for message in lost:
        stack_env.wait_status(message.message_id, "delivered")
    assert room_texts(stack_env.sim, room) == [
        "first, delivered",
        "second, lost",
        "third, lost",
    ]
    assert out.count("not delivered (dead-lettered)") == 2
    assert "already delivered" in out


def test_replay_records_carry_provenance_shown_by_audit(
    stack_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    since = since_now()
    room = stack_env.room()
    fail_posts(stack_env, 1)
    message = outbound(room, "to replay")
    stack_env.send(message)
    stack_env.wait_status(message.message_id, "dead-lettered")
    stack_env.sim.clear_faults()

    run_cli(capsys, "replay", "deliveries", "--room", room, "--since", since, "--operator", "dave")
    stack_env.wait_status(message.message_id, "delivered")
    out = run_cli(capsys, "audit", "--message-id", message.message_id, "--format", "jsonl")

    entries = [json.loads(line) for line in out.splitlines()]
    replayed = [entry for entry in entries if entry.get("replay")]
    assert [entry["kind"] for entry in replayed] == ["outbound"]
    assert replayed[0]["replay"]["replayedBy"] == "dave"
    assert replayed[0]["replay"]["origin"]["topic"] == stack_env.catalog.name(
        Topic.OUTBOUND_MESSAGES
    )
    assert entries[-1]["kind"] == "attempt"
    assert entries[-1]["outcome"] == "delivered"


def test_replay_force_needed_to_repost_delivered(
    stack_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    room = stack_env.room()
    message = outbound(room, "posted once")
    stack_env.send(message)
    stack_env.wait_status(message.message_id, "delivered")
    posts = len(message_posts(stack_env.sim))

    out = run_cli(capsys, "replay", "deliveries", "--message-id", message.message_id)
    time.sleep(3)

    assert "already delivered; use --force" in out
    assert len(message_posts(stack_env.sim)) == posts
    assert room_texts(stack_env.sim, room) == ["posted once"]

    out = run_cli(capsys, "replay", "deliveries", "--message-id", message.message_id, "--force")

    wait_until(lambda: len(room_texts(stack_env.sim, room)) == 2, WAIT, "the forced repost")
    assert room_texts(stack_env.sim, room) == ["posted once", "posted once"]
    assert f"{message.message_id} -> {message.message_id}~" in out


def test_replay_dry_run_sends_nothing(stack_env: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    since = since_now()
    room = stack_env.room()
    fail_posts(stack_env, 1)
    message = outbound(room, "dry run")
    stack_env.send(message)
    stack_env.wait_status(message.message_id, "dead-lettered")
    stack_env.sim.clear_faults()
    before = len(stack_env.records(Topic.OUTBOUND_MESSAGES))

    out = run_cli(capsys, "replay", "deliveries", "--room", room, "--since", since, "--dry-run")

    assert "would send" in out
    assert len(stack_env.records(Topic.OUTBOUND_MESSAGES)) == before
    assert stack_env.wait_status(message.message_id, "dead-lettered")


# --- redrive dead letters ------------------------------------------------------------------


def test_dead_letter_redrive_delivers_each_once(
    stack_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    since = since_now()
    room = stack_env.room()
    fail_posts(stack_env, 2)
    lost = [outbound(room, "redrive one"), outbound(room, "redrive two")]
    stack_env.send(*lost)
    for message in lost:
        stack_env.wait_status(message.message_id, "dead-lettered")
    stack_env.sim.clear_faults()

    run_cli(capsys, "replay", "dead-letter", "--room", room, "--since", since)
    for message in lost:
        stack_env.wait_status(message.message_id, "delivered")
    again = run_cli(capsys, "replay", "dead-letter", "--room", room, "--since", since)
    time.sleep(3)

    assert room_texts(stack_env.sim, room) == ["redrive one", "redrive two"]
    assert again.count("now delivered; nothing to redrive") == 2


# --- admin API -----------------------------------------------------------------------------


def test_admin_requires_admin_token(stack_env: Stack) -> None:
    url = f"{stack_env.ingest_url}/api/v1/admin/audit"
    api = httpx.get(url, params={"room": "r"}, headers={"Authorization": f"Bearer {API_TOKEN}"})

    assert api.status_code == 401


def test_admin_replay_dry_run_and_audit(stack_env: Stack) -> None:
    since = since_now()
    room = stack_env.room()
    fail_posts(stack_env, 1)
    message = outbound(room, "admin replay")
    stack_env.send(message)
    stack_env.wait_status(message.message_id, "dead-lettered")
    stack_env.sim.clear_faults()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = f"{stack_env.ingest_url}/api/v1/admin"
    body = {"room": [room], "since": since, "operator": "erin"}

    dry = httpx.post(f"{url}/replay/deliveries", json={**body, "dryRun": True}, headers=headers)
    real = httpx.post(f"{url}/replay/deliveries", json=body, headers=headers, timeout=30)
    stack_env.wait_status(message.message_id, "delivered")
    audit = httpx.get(f"{url}/audit", params={"room": room}, headers=headers, timeout=30)

    assert dry.status_code == 200, dry.text
    assert dry.json()["sent"] == 0
    assert [item["messageId"] for item in dry.json()["items"]] == [message.message_id]
    assert real.json()["sent"] == 1
    kinds = [entry["kind"] for entry in audit.json()["entries"]]
    assert kinds == ["outbound", "attempt", "dead-letter", "outbound", "attempt"]
    assert audit.json()["entries"][3]["replay"]["replayedBy"] == "erin"


# --- sandbox -------------------------------------------------------------------------------


def changed_hello_registry() -> CommandRegistry:
    """The registry of today's commands, with ``hello`` returning a new text."""

    async def new_hello(context: CommandContext) -> str:
        return "Hi there, this is the new greeting."

    registry = CommandRegistry()
    for entry in load_command_modules():
        handler = new_hello if entry.name == "hello" else entry.handler
        registry.register(entry.name, handler, help=entry.help, arguments=entry.arguments)
    return registry


def test_sandbox_shows_changed_reply_and_sends_nothing(
    stack_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    since = since_now()
    room = stack_env.room("direct")
    stack_env.sim.post_message(room, ANN, "hello")
    wait_until(lambda: len(room_texts(stack_env.sim, room)) == 2, WAIT, "the reply to hello")
    requests_before = len(stack_env.sim.requests())
    settings = load_settings(_env_file=None)
    sandbox = Sandbox(
        Router(changed_hello_registry(), settings),
        Bot(stack_env.sim.bot["id"], stack_env.sim.bot["displayName"]),
    )
    reader = LogReader(stack_env.kafka, stack_env.catalog)

    report = asyncio.run(
        run_sandbox(reader, sandbox, Selector.build(rooms=[room]), TimeRange.parse(since, None))
    )
    unchanged = run_cli(
        capsys,
        *("replay", "inbound", "--sandbox", "--room", room, "--since", since),
        *("--bot-id", stack_env.sim.bot["id"], "--bot-name", stack_env.sim.bot["displayName"]),
    )

    lines = list(render_report(report))
    assert len(report.outcomes) == 1
    assert len(report.changed) == 1
    assert "+Hi there, this is the new greeting." in "\n".join(lines)
    assert "-Hello, I am Replay Bot." in "\n".join(lines)
    assert "1 inputs, 0 with changed replies" in unchanged
    assert len(stack_env.sim.requests()) == requests_before


def test_sandbox_takes_bot_identity_from_simulator(
    stack_env: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WXSTREAM_WEBEX_TOKEN", raising=False)
    monkeypatch.setenv("WXSTREAM_SIM_PORT", str(stack_env.sim.port))
    since = since_now()
    person = f"p-{uuid.uuid4().hex[:8]}@example.com"
    stack_env.sim.create_person(person, "Bea")
    room = stack_env.sim.create_room(
        "sandbox identity", [person, stack_env.sim.bot["emails"][0]], "direct"
    )["id"]
    stack_env.sim.post_message(room, person, "hello")
    wait_until(lambda: len(room_texts(stack_env.sim, room)) == 2, WAIT, "the reply to hello")

    out = run_cli(capsys, "replay", "inbound", "--sandbox", "--room", room, "--since", since)

    assert "1 inputs, 0 with changed replies" in out
