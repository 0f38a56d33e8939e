"""The simulator's Webex REST routes: authentication, validation rules, reads and edits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sim_support import bot_client
from wxstream.sim import ids
from wxstream.sim.server import SimulatorServer

BOT_EMAIL = "ops@webex.bot"
ANN = "ann@example.com"
BEN = "ben@example.com"
CARD = {
    "contentType": "application/vnd.microsoft.card.adaptive",
    "content": {
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [{"type": "Input.Text", "id": "x"}],
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="bot-token", bot_name="Ops Bot", bot_email=BOT_EMAIL) as sim:
        yield sim


@pytest.fixture
def sim(server: SimulatorServer) -> SimulatorServer:
    server.reset()
    return server


@pytest.fixture
def bot(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with bot_client(sim) as client:
        yield client


def group_room(sim: SimulatorServer, *members: str) -> dict[str, Any]:
    return sim.create_room("Ops", [*(members or (ANN,)), BOT_EMAIL])


def direct_room(sim: SimulatorServer, email: str = ANN) -> dict[str, Any]:
    return sim.create_room("Ann", [email, BOT_EMAIL], type="direct")


# Authentication and error bodies


def test_api_unknown_token_is_401_with_webex_error(sim: SimulatorServer) -> None:
    response = httpx.get(f"{sim.base_url}/people/me", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401
    body = response.json()
    assert body["message"]
    assert body["errors"][0]["description"]
    assert body["trackingId"] == response.headers["TrackingID"]


def test_api_missing_token_is_401(sim: SimulatorServer) -> None:
    assert httpx.get(f"{sim.base_url}/rooms").status_code == 401


def test_api_every_response_has_tracking_id(sim: SimulatorServer, bot: httpx.Client) -> None:
    responses = [
        bot.get("/people/me"),
        bot.get("/messages/unknown"),
        httpx.get(f"{sim.control_url}/health"),
    ]

    for response in responses:
        assert response.headers["TrackingID"].startswith("ROUTER_")


def test_api_unknown_route_is_404_with_webex_error(bot: httpx.Client) -> None:
    response = bot.get("/teleport")

    assert response.status_code == 404
    assert "trackingId" in response.json()


# People, rooms, memberships


def test_people_me_is_the_bot(sim: SimulatorServer, bot: httpx.Client) -> None:
    me = bot.get("/people/me").json()

    assert me["id"] == sim.bot["id"]
    assert me["emails"] == [BOT_EMAIL]
    assert me["displayName"] == "Ops Bot"
    assert me["type"] == "bot"
    assert ids.decode_id(me["id"]) is not None


def test_people_by_id_returns_person_or_404(sim: SimulatorServer, bot: httpx.Client) -> None:
    ann = sim.create_person(ANN, "Ann Lee")

    assert bot.get(f"/people/{ann['id']}").json()["displayName"] == "Ann Lee"
    assert bot.get("/people/" + ids.encode_id(ids.PEOPLE, "missing")).status_code == 404


def test_rooms_lists_only_rooms_of_the_bot(sim: SimulatorServer, bot: httpx.Client) -> None:
    mine = group_room(sim)
    sim.create_room("Private", [ANN, BEN])

    rooms = bot.get("/rooms").json()["items"]

    assert [room["id"] for room in rooms] == [mine["id"]]
    assert bot.get(f"/rooms/{mine['id']}").json()["title"] == "Ops"


def test_rooms_of_others_are_404(sim: SimulatorServer, bot: httpx.Client) -> None:
    other = sim.create_room("Private", [ANN, BEN])

    assert bot.get(f"/rooms/{other['id']}").status_code == 404


def test_memberships_of_room(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim, ANN, BEN)

    items = bot.get("/memberships", params={"roomId": room["id"]}).json()["items"]

    assert sorted(item["personEmail"] for item in items) == sorted([ANN, BEN, BOT_EMAIL])
    assert {item["roomType"] for item in items} == {"group"}


# Creating messages


def test_post_message_to_room(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)

    response = bot.post("/messages", json={"roomId": room["id"], "text": "hello"})

    assert response.status_code == 200
    message = response.json()
    assert message["text"] == "hello"
    assert message["personEmail"] == BOT_EMAIL
    assert message["roomType"] == "group"


def test_post_message_text_limit_is_7439_bytes(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)

    at_limit = bot.post("/messages", json={"roomId": room["id"], "text": "a" * 7439})
    over_limit = bot.post("/messages", json={"roomId": room["id"], "text": "a" * 7440})

    assert at_limit.status_code == 200
    assert over_limit.status_code == 400


def test_post_message_over_limit_body_names_limit(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)

    response = bot.post("/messages", json={"roomId": room["id"], "text": "a" * 7440})

    assert "text is 7440 bytes" in response.json()["message"]
    assert "maximum is 7439 bytes" in response.json()["message"]
    assert response.json()["trackingId"] == response.headers["TrackingID"]


def test_post_message_limit_counts_utf8_bytes(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    text = "é" * 3720  # 3720 characters, 7440 bytes

    response = bot.post("/messages", json={"roomId": room["id"], "text": text})

    assert response.status_code == 400
    assert "7440 bytes" in response.json()["message"]


def test_post_message_markdown_limit(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)

    response = bot.post("/messages", json={"roomId": room["id"], "markdown": "*" * 7440})

    assert response.status_code == 400


def test_post_message_without_destination_is_400(bot: httpx.Client) -> None:
    assert bot.post("/messages", json={"text": "hello"}).status_code == 400


def test_post_message_with_two_destinations_is_400(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)

    body = {"roomId": room["id"], "toPersonEmail": ANN, "text": "hello"}

    assert bot.post("/messages", json=body).status_code == 400


def test_post_message_unknown_room_is_404(bot: httpx.Client) -> None:
    room_id = ids.encode_id(ids.ROOM, "00000000-0000-0000-0000-000000000000")

    assert bot.post("/messages", json={"roomId": room_id, "text": "x"}).status_code == 404


def test_post_message_without_content_is_400(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)

    assert bot.post("/messages", json={"roomId": room["id"]}).status_code == 400


def test_post_message_invalid_json_is_400(bot: httpx.Client) -> None:
    response = bot.post(
        "/messages", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400


def test_post_message_to_email_creates_direct_room(sim: SimulatorServer, bot: httpx.Client) -> None:
    first = bot.post("/messages", json={"toPersonEmail": BEN, "text": "one"}).json()
    second = bot.post("/messages", json={"toPersonEmail": BEN, "text": "two"}).json()

    assert first["roomType"] == "direct"
    assert first["roomId"] == second["roomId"]
    members = bot.get("/memberships", params={"roomId": first["roomId"]}).json()["items"]
    assert sorted(item["personEmail"] for item in members) == sorted([BEN, BOT_EMAIL])


def test_post_message_to_person_id_reuses_room(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = direct_room(sim)
    ann_id = sim.control("GET", "people")["items"][1]["id"]

    message = bot.post("/messages", json={"toPersonId": ann_id, "text": "hi"}).json()

    assert message["roomId"] == room["id"]


def test_post_message_to_unknown_person_id_is_404(bot: httpx.Client) -> None:
    person_id = ids.encode_id(ids.PEOPLE, "00000000-0000-0000-0000-000000000000")

    assert bot.post("/messages", json={"toPersonId": person_id, "text": "x"}).status_code == 404


def test_post_message_with_two_files_is_400(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    files = ["https://example.com/a.png", "https://example.com/b.png"]

    assert bot.post("/messages", json={"roomId": room["id"], "files": files}).status_code == 400


def test_post_message_with_two_cards_is_400(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    body = {"roomId": room["id"], "text": "card", "attachments": [CARD, CARD]}

    assert bot.post("/messages", json=body).status_code == 400


def test_post_message_card_needs_adaptive_content_type(
    sim: SimulatorServer, bot: httpx.Client
) -> None:
    room = group_room(sim)
    card = {**CARD, "contentType": "text/html"}

    response = bot.post(
        "/messages", json={"roomId": room["id"], "text": "c", "attachments": [card]}
    )

    assert response.status_code == 400


def test_post_message_reply_to_reply_is_400(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    parent = bot.post("/messages", json={"roomId": room["id"], "text": "parent"}).json()
    reply = bot.post(
        "/messages", json={"roomId": room["id"], "text": "r", "parentId": parent["id"]}
    )

    nested = bot.post(
        "/messages", json={"roomId": room["id"], "text": "n", "parentId": reply.json()["id"]}
    )

    assert reply.json()["parentId"] == parent["id"]
    assert nested.status_code == 400


def test_post_message_markdown_mentions_become_spark_mentions(
    sim: SimulatorServer, bot: httpx.Client
) -> None:
    ann = sim.create_person(ANN, "Ann Lee")
    room = group_room(sim)
    markdown = f"Hi <@personEmail:{ANN}|Ann> and <@personId:{ann['id']}|Ann L.>"

    message = bot.post("/messages", json={"roomId": room["id"], "markdown": markdown}).json()

    assert message["mentionedPeople"] == [ann["id"]]
    assert message["text"] == "Hi Ann and Ann L."
    uuid = ids.decode_id(ann["id"])[1]  # type: ignore[index]
    assert message["html"].count(f'data-object-id="{uuid}"') == 2


# Reading messages


def test_get_message_fields(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = direct_room(sim)
    posted = sim.post_message(room["id"], ANN, "hello bot")

    message = bot.get(f"/messages/{posted['id']}").json()

    assert message["text"] == "hello bot"
    assert message["roomType"] == "direct"
    assert message["personEmail"] == ANN
    assert message["roomId"] == room["id"]
    assert message["created"].endswith("Z")


def test_get_file_only_message_has_no_text(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = direct_room(sim)
    posted = sim.post_message(room["id"], ANN, "", files=["https://example.com/report.pdf"])

    message = bot.get(f"/messages/{posted['id']}").json()

    assert "text" not in message
    assert message["files"] == ["https://example.com/report.pdf"]


def test_get_unmentioned_group_message_is_404_for_bot(
    sim: SimulatorServer, bot: httpx.Client
) -> None:
    room = group_room(sim)
    posted = sim.post_message(room["id"], ANN, "just chatting")

    assert bot.get(f"/messages/{posted['id']}").status_code == 404


def test_get_mentioned_group_message_is_readable(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    posted = sim.post_message(room["id"], ANN, "@Ops Bot status", mentions=[BOT_EMAIL])

    message = bot.get(f"/messages/{posted['id']}").json()

    assert message["text"] == "Ops status"
    assert message["mentionedPeople"] == [sim.bot["id"]]


def test_list_group_messages_without_mention_filter_is_403(
    sim: SimulatorServer, bot: httpx.Client
) -> None:
    room = group_room(sim)

    assert bot.get("/messages", params={"roomId": room["id"]}).status_code == 403


def test_list_group_messages_mentioning_bot(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    sim.post_message(room["id"], ANN, "no mention")
    mentioned = sim.post_message(room["id"], ANN, "@Ops hi", mentions=[BOT_EMAIL])

    response = bot.get("/messages", params={"roomId": room["id"], "mentionedPeople": "me"})

    assert [item["id"] for item in response.json()["items"]] == [mentioned["id"]]


def test_list_messages_newest_first_with_link_paging(
    sim: SimulatorServer, bot: httpx.Client
) -> None:
    room = direct_room(sim)
    posted = [sim.post_message(room["id"], ANN, f"m{index}")["id"] for index in range(5)]

    first = bot.get("/messages", params={"roomId": room["id"], "max": 2})
    second = bot.get(first.links["next"]["url"])
    third = bot.get(second.links["next"]["url"])

    seen = [item["id"] for page in (first, second, third) for item in page.json()["items"]]
    assert seen == list(reversed(posted))
    assert "next" not in third.links


def test_list_messages_next_link_can_drop_mentioned_people() -> None:
    with SimulatorServer(bot_email=BOT_EMAIL, next_link_drops_mentioned_people=True) as sim:
        room = group_room(sim)
        for index in range(3):
            sim.post_message(room["id"], ANN, f"@Ops {index}", mentions=[BOT_EMAIL])
        with bot_client(sim) as client:
            first = client.get(
                "/messages", params={"roomId": room["id"], "mentionedPeople": "me", "max": 1}
            )
            following = client.get(first.links["next"]["url"])

    assert "mentionedPeople" not in first.links["next"]["url"]
    assert following.status_code == 403


# Editing and deleting


def test_edit_message_changes_text(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    posted = bot.post("/messages", json={"roomId": room["id"], "text": "draft"}).json()

    edited = bot.put(f"/messages/{posted['id']}", json={"roomId": room["id"], "text": "final"})

    assert edited.status_code == 200
    assert edited.json()["text"] == "final"
    assert "updated" in edited.json()


def test_edit_message_at_most_ten_times(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    posted = bot.post("/messages", json={"roomId": room["id"], "text": "v0"}).json()

    statuses = [
        bot.put(
            f"/messages/{posted['id']}", json={"roomId": room["id"], "text": f"v{n}"}
        ).status_code
        for n in range(1, 12)
    ]

    assert statuses == [200] * 10 + [400]


def test_edit_message_with_file_is_400(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    body = {"roomId": room["id"], "text": "f", "files": ["https://example.com/a.png"]}
    posted = bot.post("/messages", json=body).json()

    response = bot.put(f"/messages/{posted['id']}", json={"roomId": room["id"], "text": "g"})

    assert response.status_code == 400


def test_edit_message_with_card_is_400(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    posted = bot.post(
        "/messages", json={"roomId": room["id"], "text": "c", "attachments": [CARD]}
    ).json()

    response = bot.put(f"/messages/{posted['id']}", json={"roomId": room["id"], "text": "d"})

    assert response.status_code == 400


def test_edit_message_of_someone_else_is_403(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = direct_room(sim)
    posted = sim.post_message(room["id"], ANN, "mine")

    response = bot.put(f"/messages/{posted['id']}", json={"roomId": room["id"], "text": "x"})

    assert response.status_code == 403


def test_delete_message_is_204_then_404(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = group_room(sim)
    posted = bot.post("/messages", json={"roomId": room["id"], "text": "bye"}).json()

    deleted = bot.delete(f"/messages/{posted['id']}")

    assert deleted.status_code == 204
    assert bot.get(f"/messages/{posted['id']}").status_code == 404


# Webhooks


def test_webhook_create_list_get_delete(sim: SimulatorServer, bot: httpx.Client) -> None:
    body = {
        "name": "hook",
        "targetUrl": "http://127.0.0.1:9/hook",
        "resource": "messages",
        "event": "created",
        "filter": "roomType=direct",
        "secret": "s3cret",
    }

    created = bot.post("/webhooks", json=body).json()
    listed = bot.get("/webhooks").json()["items"]
    fetched = bot.get(f"/webhooks/{created['id']}").json()
    deleted = bot.delete(f"/webhooks/{created['id']}")

    assert [hook["id"] for hook in listed] == [created["id"]]
    assert fetched["filter"] == "roomType=direct"
    assert fetched["status"] == "active"
    assert fetched["createdBy"] == sim.bot["id"]
    assert deleted.status_code == 204
    assert bot.get("/webhooks").json()["items"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"resource": "people"},
        {"event": "exploded"},
        {"targetUrl": "ftp://example.com"},
        {"name": ""},
        {"filter": "colour=blue"},
        {"resource": "attachmentActions", "event": "deleted"},
    ],
)
def test_webhook_create_invalid_is_400(bot: httpx.Client, change: dict[str, str]) -> None:
    body = {
        "name": "h",
        "targetUrl": "http://127.0.0.1:9/h",
        "resource": "messages",
        "event": "created",
    }

    assert bot.post("/webhooks", json={**body, **change}).status_code == 400


def test_webhook_update_changes_allowed_fields(bot: httpx.Client) -> None:
    body = {
        "name": "h",
        "targetUrl": "http://127.0.0.1:9/h",
        "resource": "messages",
        "event": "created",
    }
    hook = bot.post("/webhooks", json=body).json()

    update = {
        "name": "renamed",
        "targetUrl": "http://127.0.0.1:9/new",
        "secret": "x",
        "status": "active",
    }
    updated = bot.put(f"/webhooks/{hook['id']}", json=update).json()

    assert updated["name"] == "renamed"
    assert updated["targetUrl"] == "http://127.0.0.1:9/new"
    assert updated["secret"] == "x"


@pytest.mark.parametrize(
    "change",
    [
        {"status": "inactive"},
        {"resource": "rooms"},
        {"event": "deleted"},
        {"filter": "roomType=group"},
    ],
)
def test_webhook_update_forbidden_change_is_400(bot: httpx.Client, change: dict[str, str]) -> None:
    body = {
        "name": "h",
        "targetUrl": "http://127.0.0.1:9/h",
        "resource": "messages",
        "event": "created",
    }
    hook = bot.post("/webhooks", json=body).json()

    response = bot.put(
        f"/webhooks/{hook['id']}", json={"name": "h", "targetUrl": body["targetUrl"], **change}
    )

    assert response.status_code == 400


def test_webhooks_belong_to_their_token(sim: SimulatorServer, bot: httpx.Client) -> None:
    other = sim.create_person("other@webex.bot", "Other Bot", type="bot")
    body = {
        "name": "h",
        "targetUrl": "http://127.0.0.1:9/h",
        "resource": "messages",
        "event": "created",
    }
    hook = bot.post("/webhooks", json=body).json()

    headers = {"Authorization": f"Bearer {other['token']}"}
    listed = httpx.get(f"{sim.base_url}/webhooks", headers=headers).json()["items"]
    fetched = httpx.get(f"{sim.base_url}/webhooks/{hook['id']}", headers=headers)

    assert listed == []
    assert fetched.status_code == 404


# Attachment actions


def test_attachment_action_returns_inputs(sim: SimulatorServer, bot: httpx.Client) -> None:
    room = direct_room(sim)
    card = bot.post(
        "/messages", json={"roomId": room["id"], "text": "form", "attachments": [CARD]}
    ).json()
    action = sim.submit_card(card["id"], ANN, {"x": "42"})

    fetched = bot.get(f"/attachment/actions/{action['id']}").json()

    assert fetched["type"] == "submit"
    assert fetched["inputs"] == {"x": "42"}
    assert fetched["messageId"] == card["id"]
    assert fetched["roomId"] == room["id"]
    assert fetched["personId"] == sim.control("GET", "people")["items"][1]["id"]


def test_attachment_action_unknown_is_404(bot: httpx.Client) -> None:
    assert (
        bot.get("/attachment/actions/" + ids.encode_id(ids.ATTACHMENT_ACTION, "x")).status_code
        == 404
    )
