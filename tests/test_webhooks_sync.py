"""Webhook registration against the simulator: idempotent sync, repair, reactivation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from processors.webex import WebexClient
from tests.kafka_harness import free_port
from wxstream.sim.server import SimulatorServer
from wxstream.webhooks import REQUIRED_WEBHOOKS, Reactivator, delete_webhooks, sync_webhooks

TARGET = "http://127.0.0.1:9/webhooks/webex"  # nothing listens on port 9
SECRET = "first-secret"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="bot-token", disable_after_failures=3) as server:
        yield server


def run(sim: SimulatorServer, action: Any, *args: Any) -> Any:
    async def call() -> Any:
        async with WebexClient(sim.base_url, sim.bot_token, timeout=5) as client:
            return await action(client, *args)

    return asyncio.run(call())


def list_hooks(sim: SimulatorServer) -> list[dict[str, Any]]:
    return list(run(sim, lambda client: client.list_webhooks()))


def test_sync_creates_each_webhook_once(sim: SimulatorServer) -> None:
    first = run(sim, sync_webhooks, TARGET, SECRET)
    second = run(sim, sync_webhooks, TARGET, SECRET)

    hooks = list_hooks(sim)
    assert len(first.created) == len(REQUIRED_WEBHOOKS)
    assert not second.changed
    assert len(second.unchanged) == len(REQUIRED_WEBHOOKS)
    assert sorted((h["resource"], h["event"]) for h in hooks) == sorted(REQUIRED_WEBHOOKS)
    assert {h["targetUrl"] for h in hooks} == {TARGET}


def test_sync_deletes_duplicates_at_same_url(sim: SimulatorServer) -> None:
    run(sim, sync_webhooks, TARGET, SECRET)
    duplicate = {"name": "copy", "targetUrl": TARGET, "resource": "messages", "event": "created"}
    run(sim, lambda client: client.create_webhook({**duplicate, "secret": SECRET}))

    report = run(sim, sync_webhooks, TARGET, SECRET)

    assert len(report.deleted) == 1
    assert len(list_hooks(sim)) == len(REQUIRED_WEBHOOKS)


def test_sync_updates_changed_secret_and_url(sim: SimulatorServer) -> None:
    run(sim, sync_webhooks, TARGET, SECRET)
    ids_before = sorted(h["id"] for h in list_hooks(sim))
    new_target = f"http://127.0.0.1:{free_port()}/webhooks/webex"

    report = run(sim, sync_webhooks, new_target, "second-secret")

    hooks = list_hooks(sim)
    assert len(report.updated) == len(REQUIRED_WEBHOOKS)
    assert report.created == []
    assert sorted(h["id"] for h in hooks) == ids_before
    assert {h["targetUrl"] for h in hooks} == {new_target}
    assert {h.get("secret") for h in hooks} == {"second-secret"}


def test_delete_removes_only_webhooks_at_url(sim: SimulatorServer) -> None:
    run(sim, sync_webhooks, TARGET, SECRET)
    other = {
        "name": "other",
        "targetUrl": "http://127.0.0.1:1/x",
        "resource": "rooms",
        "event": "all",
    }
    run(sim, lambda client: client.create_webhook(other))

    deleted = run(sim, delete_webhooks, TARGET)

    assert len(deleted) == len(REQUIRED_WEBHOOKS)
    assert [h["name"] for h in list_hooks(sim)] == ["other"]


def _make_messages_webhook_inactive(sim: SimulatorServer) -> str:
    hook = run(
        sim,
        lambda client: client.create_webhook(
            {
                "name": "wxstream messages/created",
                "targetUrl": TARGET,
                "resource": "messages",
                "event": "created",
                "secret": SECRET,
            }
        ),
    )
    alice = sim.create_person("alice@example.com", "Alice")
    room = sim.create_room("direct", [alice["emails"][0], sim.bot["emails"][0]], type="direct")
    for index in range(3):
        sim.post_message(room["id"], "alice@example.com", f"message {index}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(h["status"] == "inactive" for h in list_hooks(sim)):
            return str(hook["id"])
        time.sleep(0.1)
    raise AssertionError("the simulator did not disable the failing webhook")


def test_reactivator_waits_before_reactivating(sim: SimulatorServer) -> None:
    hook_id = _make_messages_webhook_inactive(sim)
    reactivator = Reactivator(SECRET, delay_seconds=300)

    assert run(sim, reactivator.check, 1000.0) == []
    assert run(sim, reactivator.check, 1299.0) == []
    assert run(sim, reactivator.check, 1300.0) == [hook_id]

    hooks = {h["id"]: h for h in list_hooks(sim)}
    assert hooks[hook_id]["status"] == "active"
    assert hooks[hook_id].get("secret") == SECRET
    assert reactivator.reactivated_total == 1
