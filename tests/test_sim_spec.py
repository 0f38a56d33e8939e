"""Request and response bodies of the simulator checked against the Webex OpenAPI schemas.

Strict checks also reject fields the schema does not declare. Three places where the
published spec disagrees with its own examples are checked loosely, as noted at each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sim_support import bot_client, check_request, check_response
from wxstream.sim.server import SimulatorServer

BOT_EMAIL = "ops@webex.bot"
ANN = "ann@example.com"
CARD = {
    "contentType": "application/vnd.microsoft.card.adaptive",
    "content": {
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [{"type": "Input.Text", "id": "x"}],
    },
}
WEBHOOK = {
    "name": "messages",
    "targetUrl": "http://127.0.0.1:9/hook",
    "resource": "messages",
    "event": "created",
    "filter": "roomType=direct",
    "secret": "s3cret",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="bot-token", bot_name="Ops Bot", bot_email=BOT_EMAIL) as server:
        yield server


@pytest.fixture(scope="module")
def bot(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with bot_client(sim) as client:
        yield client


@pytest.fixture(scope="module")
def rooms(sim: SimulatorServer) -> dict[str, Any]:
    sim.create_person(ANN, "Ann Lee")
    return {
        "group": sim.create_room("Ops", [ANN, BOT_EMAIL]),
        "direct": sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct"),
    }


def post(bot: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = bot.post("/messages", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_people_responses_match_spec(
    sim: SimulatorServer, bot: httpx.Client, rooms: dict[str, Any]
) -> None:
    ann_id = sim.control("GET", "people")["items"][1]["id"]

    check_response("/people/me", "get", bot.get("/people/me").json())
    check_response("/people/{personId}", "get", bot.get(f"/people/{ann_id}").json())
    check_response("/people", "get", bot.get("/people", params={"email": ANN}).json())


def test_room_and_membership_responses_match_spec(bot: httpx.Client, rooms: dict[str, Any]) -> None:
    group_id = rooms["group"]["id"]

    check_response("/rooms", "get", bot.get("/rooms").json())
    check_response("/rooms/{roomId}", "get", bot.get(f"/rooms/{group_id}").json())
    check_response(
        "/memberships", "get", bot.get("/memberships", params={"roomId": group_id}).json()
    )


@pytest.mark.parametrize(
    "body",
    [
        {"text": "plain"},
        {"markdown": f"**bold** <@personEmail:{ANN}|Ann>"},
        {"text": "with file", "files": ["https://example.com/report.pdf"]},
        {"files": ["https://example.com/only-a-file.png"]},
    ],
    ids=["text", "markdown-mention", "text-and-file", "file-only"],
)
def test_message_request_and_get_match_spec(
    bot: httpx.Client, rooms: dict[str, Any], body: dict[str, Any]
) -> None:
    request = {"roomId": rooms["direct"]["id"], **body}
    check_request("/messages", "post", request)

    created = post(bot, request)
    fetched = bot.get(f"/messages/{created['id']}").json()

    check_response("/messages/{messageId}", "get", fetched)


def test_message_post_response_matches_spec_loosely(
    bot: httpx.Client, rooms: dict[str, Any]
) -> None:
    # The Message schema of POST /messages omits html, parentId, updated and isVoiceClip,
    # which the spec's own example of that response contains.
    created = post(bot, {"toPersonEmail": ANN, "text": "hello"})

    check_response("/messages", "post", created, strict=False)


def test_reply_matches_spec(bot: httpx.Client, rooms: dict[str, Any]) -> None:
    parent = post(bot, {"roomId": rooms["direct"]["id"], "text": "parent"})

    reply = post(bot, {"roomId": rooms["direct"]["id"], "text": "reply", "parentId": parent["id"]})

    check_response("/messages/{messageId}", "get", bot.get(f"/messages/{reply['id']}").json())


def test_user_mention_message_matches_spec(
    sim: SimulatorServer, bot: httpx.Client, rooms: dict[str, Any]
) -> None:
    posted = sim.post_message(rooms["group"]["id"], ANN, "@Ops Bot status", mentions=[BOT_EMAIL])

    check_response("/messages/{messageId}", "get", bot.get(f"/messages/{posted['id']}").json())


def test_card_message_matches_spec_except_attachment(
    bot: httpx.Client, rooms: dict[str, Any]
) -> None:
    # The spec's Attachment schema describes a content-management file (fileId, type,
    # contentUrl) while its examples and Webex's cards use contentType plus an AdaptiveCard.
    created = post(bot, {"roomId": rooms["direct"]["id"], "text": "form", "attachments": [CARD]})
    fetched = bot.get(f"/messages/{created['id']}").json()

    attachments = fetched.pop("attachments")

    check_response("/messages/{messageId}", "get", fetched)
    assert attachments == [CARD]


def test_message_list_and_edit_match_spec(sim: SimulatorServer, bot: httpx.Client) -> None:
    room_id = sim.create_room("Cara", ["cara@example.com", BOT_EMAIL], type="direct")["id"]
    sim.post_message(room_id, "cara@example.com", "hello")
    created = post(bot, {"roomId": room_id, "text": "draft"})
    edit = {"roomId": room_id, "text": "final"}
    check_request("/messages/{messageId}", "put", edit)

    edited = bot.put(f"/messages/{created['id']}", json=edit).json()
    listed = bot.get("/messages", params={"roomId": room_id}).json()

    check_response("/messages/{messageId}", "put", edited)
    check_response("/messages", "get", listed)


def test_webhook_bodies_match_spec(bot: httpx.Client) -> None:
    # The Webhook schema omits orgId, createdBy and appId, which Webex returns and its
    # webhook guide shows, so only declared fields are checked.
    check_request("/webhooks", "post", WEBHOOK)
    created = bot.post("/webhooks", json=WEBHOOK).json()
    update = {"name": "renamed", "targetUrl": WEBHOOK["targetUrl"], "status": "active"}
    check_request("/webhooks/{webhookId}", "put", update)

    updated = bot.put(f"/webhooks/{created['id']}", json=update).json()

    check_response("/webhooks", "post", created, strict=False)
    check_response(
        "/webhooks/{webhookId}", "get", bot.get(f"/webhooks/{created['id']}").json(), strict=False
    )
    check_response("/webhooks/{webhookId}", "put", updated, strict=False)
    check_response("/webhooks", "get", bot.get("/webhooks").json(), strict=False)


def test_attachment_action_matches_spec(
    sim: SimulatorServer, bot: httpx.Client, rooms: dict[str, Any]
) -> None:
    card = post(bot, {"roomId": rooms["direct"]["id"], "text": "form", "attachments": [CARD]})
    action = sim.submit_card(card["id"], ANN, {"x": "1"})

    fetched = bot.get(f"/attachment/actions/{action['id']}").json()

    check_response("/attachment/actions/{id}", "get", fetched)


def test_spec_check_rejects_an_undeclared_field(bot: httpx.Client) -> None:
    me = bot.get("/people/me").json()

    with pytest.raises(AssertionError):
        check_response("/people/me", "get", {**me, "favouriteColour": "blue"})
