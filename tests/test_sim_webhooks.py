"""Webhook callbacks from the simulator, received by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sim_support import WebhookReceiver, bot_client, hmac_sha1, register_webhook
from wxstream.sim import ids
from wxstream.sim.server import SimulatorServer

BOT_NAME = "Ops Bot"
BOT_EMAIL = "ops@webex.bot"
ANN = "ann@example.com"
CARD = {
    "contentType": "application/vnd.microsoft.card.adaptive",
    "content": {"type": "AdaptiveCard", "version": "1.2", "body": []},
}
CALLBACK_KEYS = {
    "id", "name", "targetUrl", "resource", "event", "orgId", "createdBy",
    "appId", "ownedBy", "status", "created", "actorId", "data",
}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="bot-token", bot_name=BOT_NAME, bot_email=BOT_EMAIL) as sim:
        yield sim


@pytest.fixture
def sim(server: SimulatorServer) -> SimulatorServer:
    server.reset()
    return server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def person_id(sim: SimulatorServer, email: str) -> str:
    people = sim.control("GET", "people")["items"]
    return next(person["id"] for person in people if email in person["emails"])


def test_callback_signature_is_hmac_sha1_of_received_bytes(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    secret = "s3cret-ünïcode"
    register_webhook(sim, receiver.url, "messages", "created", secret=secret)
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")

    sim.post_message(room["id"], ANN, "hello")
    callback = receiver.wait_for(1)[0]

    assert callback.headers["X-Spark-Signature"] == hmac_sha1(secret, callback.body)


def test_callback_without_secret_has_no_signature(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "messages", "created")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")

    sim.post_message(room["id"], ANN, "hello")
    callback = receiver.wait_for(1)[0]

    assert "X-Spark-Signature" not in callback.headers


def test_callback_body_shape(sim: SimulatorServer, receiver: WebhookReceiver) -> None:
    hook = register_webhook(sim, receiver.url, "messages", "created", filter="roomType=direct")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")

    message = sim.post_message(room["id"], ANN, "hello")
    body = receiver.wait_for(1)[0].json()

    assert set(body) == CALLBACK_KEYS | {"filter"}
    assert body["id"] == hook["id"]
    assert body["filter"] == "roomType=direct"
    assert body["resource"] == "messages"
    assert body["event"] == "created"
    assert body["actorId"] == person_id(sim, ANN)
    assert body["createdBy"] == sim.bot["id"]
    assert body["data"]["id"] == message["id"]
    assert body["data"]["roomType"] == "direct"
    assert body["data"]["personEmail"] == ANN
    assert "text" not in body["data"]


def test_callback_without_filter_has_no_filter_key(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "messages", "created")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")

    sim.post_message(room["id"], ANN, "hello")

    assert "filter" not in receiver.wait_for(1)[0].json()


def test_firehose_covers_messages_and_memberships_not_cards(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "all", "all")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
    sim.post_message(room["id"], ANN, "hello")
    with bot_client(sim) as bot:
        card = bot.post(
            "/messages", json={"roomId": room["id"], "text": "form", "attachments": [CARD]}
        )
    sim.submit_card(card.json()["id"], ANN, {"answer": "yes"})

    kinds = [(c.json()["resource"], c.json()["event"]) for c in receiver.settle()]

    assert ("memberships", "created") in kinds
    assert kinds.count(("messages", "created")) == 2
    assert ("attachmentActions", "created") not in kinds


def test_card_submission_needs_attachment_actions_webhook(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "attachmentActions", "created")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
    with bot_client(sim) as bot:
        card = bot.post(
            "/messages", json={"roomId": room["id"], "text": "form", "attachments": [CARD]}
        )

    action = sim.submit_card(card.json()["id"], ANN, {"answer": "yes"})
    body = receiver.wait_for(1)[0].json()

    assert body["resource"] == "attachmentActions"
    assert body["data"]["id"] == action["id"]
    assert body["data"]["messageId"] == card.json()["id"]
    assert "inputs" not in body["data"]


def test_bot_added_to_room_fires_membership_created(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "memberships", "created")

    room = sim.create_room("Ops", [ANN, BOT_EMAIL])
    body = receiver.wait_for(1)[0].json()

    assert body["data"]["personId"] == sim.bot["id"]
    assert body["data"]["roomId"] == room["id"]
    assert body["actorId"] == person_id(sim, ANN)
    assert len(receiver.settle()) == 1


def test_group_message_fires_only_when_bot_mentioned(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "messages", "created")
    room = sim.create_room("Ops", [ANN, BOT_EMAIL])

    sim.post_message(room["id"], ANN, "not for the bot")
    mentioned = sim.post_message(room["id"], ANN, "@Ops Bot status", mentions=[BOT_EMAIL])
    with bot_client(sim) as bot:
        bot.post("/messages", json={"roomId": room["id"], "text": "bot speaking"})

    callbacks = receiver.settle()
    assert [c.json()["data"]["id"] for c in callbacks] == [mentioned["id"]]


def test_direct_room_fires_for_every_message(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "messages", "created")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")

    from_ann = sim.post_message(room["id"], ANN, "hello")
    with bot_client(sim) as bot:
        from_bot = bot.post("/messages", json={"roomId": room["id"], "text": "hi Ann"}).json()

    data = [c.json()["data"] for c in receiver.wait_for(2)]
    assert [item["id"] for item in data] == [from_ann["id"], from_bot["id"]]
    assert data[1]["personId"] == sim.bot["id"]


def test_filter_selects_matching_events(sim: SimulatorServer, receiver: WebhookReceiver) -> None:
    group = sim.create_room("Ops", [ANN, BOT_EMAIL])
    direct = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
    register_webhook(sim, receiver.url, "messages", "created", filter=f"roomId={group['id']}")

    sim.post_message(direct["id"], ANN, "direct")
    in_group = sim.post_message(group["id"], ANN, "@Ops hi", mentions=[BOT_EMAIL])

    assert [c.json()["data"]["id"] for c in receiver.settle()] == [in_group["id"]]


def test_message_deleted_fires_deleted_event(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "messages", "deleted")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
    with bot_client(sim) as bot:
        posted = bot.post("/messages", json={"roomId": room["id"], "text": "oops"}).json()
        bot.delete(f"/messages/{posted['id']}")

    body = receiver.wait_for(1)[0].json()

    assert (body["event"], body["data"]["id"]) == ("deleted", posted["id"])


def test_callbacks_keep_event_order_per_webhook(
    sim: SimulatorServer, receiver: WebhookReceiver
) -> None:
    register_webhook(sim, receiver.url, "messages", "created")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")

    posted = [sim.post_message(room["id"], ANN, f"m{n}")["id"] for n in range(20)]

    received = [c.json()["data"]["id"] for c in receiver.wait_for(20)]
    assert received == posted


def test_control_call_returns_before_slow_delivery(sim: SimulatorServer) -> None:
    with WebhookReceiver(delay=1.0) as slow:
        register_webhook(sim, slow.url, "messages", "created")
        room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")

        response = httpx.post(
            f"{sim.control_url}/messages",
            json={"roomId": room["id"], "personEmail": ANN, "text": "hi"},
            timeout=5,
        )

        assert response.elapsed.total_seconds() < 0.5
        slow.wait_for(1)


def test_every_delivery_is_recorded(sim: SimulatorServer, receiver: WebhookReceiver) -> None:
    hook = register_webhook(sim, receiver.url, "messages", "created")
    room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
    message = sim.post_message(room["id"], ANN, "hello")

    record = sim.wait_for_deliveries(1)[0]

    assert record["webhookId"] == hook["id"]
    assert record["statusCode"] == 200
    assert record["dataId"] == message["id"]
    assert record["error"] is None
    assert record["latencyMs"] >= 0
    assert record["time"] > 0


def failing_simulator(**settings: Any) -> SimulatorServer:
    return SimulatorServer(
        bot_email=BOT_EMAIL,
        disable_after_failures=3,
        failure_window_seconds=60,
        delivery_timeout_seconds=0.5,
        **settings,
    )


def test_webhook_becomes_inactive_after_repeated_failures() -> None:
    with failing_simulator() as sim, WebhookReceiver(status=500) as failing:
        hook = register_webhook(sim, failing.url, "messages", "created")
        room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
        for n in range(5):
            sim.post_message(room["id"], ANN, f"m{n}")
        sim.wait_for_deliveries(3)
        received = failing.settle()
        with bot_client(sim) as bot:
            status = bot.get(f"/webhooks/{hook['id']}").json()["status"]

    assert len(received) == 3
    assert status == "inactive"


def test_unreachable_target_counts_as_failure() -> None:
    with failing_simulator() as sim:
        with WebhookReceiver() as gone:
            url = gone.url
        hook = register_webhook(sim, url, "messages", "created")
        room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
        for n in range(3):
            sim.post_message(room["id"], ANN, f"m{n}")
        records = sim.wait_for_deliveries(3)
        with bot_client(sim) as bot:
            status = bot.get(f"/webhooks/{hook['id']}").json()["status"]

    assert all(record["statusCode"] is None and record["error"] for record in records)
    assert status == "inactive"


def test_reactivated_webhook_receives_again() -> None:
    with failing_simulator() as sim, WebhookReceiver(status=500) as target:
        hook = register_webhook(sim, target.url, "messages", "created")
        room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
        for n in range(3):
            sim.post_message(room["id"], ANN, f"m{n}")
        sim.wait_for_deliveries(3)
        target.status = 200
        with bot_client(sim) as bot:
            update = {"name": hook["name"], "targetUrl": hook["targetUrl"], "status": "active"}
            assert bot.put(f"/webhooks/{hook['id']}", json=update).json()["status"] == "active"
        after = sim.post_message(room["id"], ANN, "back")

        callbacks = target.wait_for(4)

    assert callbacks[-1].json()["data"]["id"] == after["id"]


def test_reactivated_webhook_disabled_again_quickly() -> None:
    with failing_simulator() as sim, WebhookReceiver(status=500) as target:
        hook = register_webhook(sim, target.url, "messages", "created")
        room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
        for n in range(3):
            sim.post_message(room["id"], ANN, f"m{n}")
        sim.wait_for_deliveries(3)
        with bot_client(sim) as bot:
            update = {"name": hook["name"], "targetUrl": hook["targetUrl"], "status": "active"}
            bot.put(f"/webhooks/{hook['id']}", json=update)
            sim.post_message(room["id"], ANN, "fails again")
            sim.wait_for_deliveries(4)
            status = bot.get(f"/webhooks/{hook['id']}").json()["status"]

    assert status == "inactive"


def test_spark_mention_id_can_be_rest_id() -> None:
    with SimulatorServer(bot_email=BOT_EMAIL, bot_name=BOT_NAME, mention_id_format="rest") as sim:
        room = sim.create_room("Ops", [ANN, BOT_EMAIL])
        message = sim.post_message(room["id"], ANN, "@Ops Bot hi", mentions=[BOT_EMAIL])

    assert f'data-object-id="{sim.bot["id"]}"' in message["html"]
    assert ids.decode_id(sim.bot["id"]) is not None
