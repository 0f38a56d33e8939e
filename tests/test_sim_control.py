"""The /_sim control API: simulated users, inspection logs, reset, and scenario files."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sim_support import WebhookReceiver, bot_client, register_webhook
from wxstream.sim.scenario import ScenarioError, load_scenario
from wxstream.sim.server import SimulatorError, SimulatorServer

BOT_EMAIL = "ops@webex.bot"
ANN = "ann@example.com"
SCENARIO_YAML = """
bot:
  displayName: "Zabbix Alert Bot ✓"
  email: zabbix@webex.bot
  token: scenario-token
people:
  - {email: ann@example.com, displayName: Ann Lee}
  - {email: helper@webex.bot, displayName: Helper, type: bot, token: helper-token}
rooms:
  - {title: Ops, type: group, members: [ann@example.com, zabbix@webex.bot]}
  - {title: Ann, type: direct, members: [ann@example.com, bot]}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="bot-token", bot_email=BOT_EMAIL) as sim:
        yield sim


@pytest.fixture
def sim(server: SimulatorServer) -> SimulatorServer:
    server.reset()
    return server


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO_YAML, encoding="utf-8")
    return path


def test_health_is_200(sim: SimulatorServer) -> None:
    assert httpx.get(f"{sim.control_url}/health").status_code == 200


def test_server_exposes_urls_and_bot(sim: SimulatorServer) -> None:
    bot = sim.control("GET", "bot")

    assert sim.base_url == f"{sim.url}/v1"
    assert sim.control_url == f"{sim.url}/_sim"
    assert bot["token"] == sim.bot_token == "bot-token"
    assert bot["id"] == sim.bot["id"]
    assert sim.bot["emails"] == [BOT_EMAIL]


def test_create_bot_person_returns_token(sim: SimulatorServer) -> None:
    created = sim.create_person("helper@webex.bot", "Helper Bot", type="bot")

    me = httpx.get(
        f"{sim.base_url}/people/me", headers={"Authorization": f"Bearer {created['token']}"}
    )

    assert me.json()["id"] == created["id"]


def test_create_person_twice_is_409(sim: SimulatorServer) -> None:
    sim.create_person(ANN)

    assert httpx.post(f"{sim.control_url}/people", json={"email": ANN}).status_code == 409


def test_user_message_from_non_member_is_403(sim: SimulatorServer) -> None:
    room = sim.create_room("Ops", ["ben@example.com", BOT_EMAIL])
    sim.create_person(ANN)

    response = httpx.post(
        f"{sim.control_url}/messages", json={"roomId": room["id"], "personEmail": ANN, "text": "hi"}
    )

    assert response.status_code == 403


def test_user_message_defaults_to_direct_room(sim: SimulatorServer) -> None:
    sim.create_person(ANN)

    first = sim.post_message(None, ANN, "one")
    second = sim.post_message(None, ANN, "two")

    assert first["roomType"] == "direct"
    assert first["roomId"] == second["roomId"]


def test_sim_messages_lists_everything_oldest_first(sim: SimulatorServer) -> None:
    room = sim.create_room("Ops", [ANN, BOT_EMAIL])
    from_ann = sim.post_message(room["id"], ANN, "not for the bot")
    with bot_client(sim) as bot:
        from_bot = bot.post("/messages", json={"roomId": room["id"], "text": "bot"}).json()

    everything = sim.control("GET", "messages", roomId=room["id"])["items"]
    by_ann = sim.control("GET", "messages", roomId=room["id"], personEmail=ANN)["items"]

    assert [m["id"] for m in everything] == [from_ann["id"], from_bot["id"]]
    assert [m["id"] for m in by_ann] == [from_ann["id"]]


def test_sim_messages_after_sequence(sim: SimulatorServer) -> None:
    room = sim.create_room("Ops", [ANN, BOT_EMAIL])
    first = sim.post_message(room["id"], ANN, "one")
    listing = sim.control("GET", "messages", afterSequence=0)
    mark = listing["lastSequence"]
    with bot_client(sim) as bot:
        reply = bot.post("/messages", json={"roomId": room["id"], "text": "two"}).json()
    sim.post_message(room["id"], ANN, "three")

    newer = sim.control("GET", "messages", afterSequence=mark, personEmail=BOT_EMAIL)
    latest = sim.control("GET", "messages", afterSequence=newer["lastSequence"])

    assert [m["id"] for m in listing["items"]] == [first["id"]]
    assert [m["id"] for m in newer["items"]] == [reply["id"]]
    assert newer["lastSequence"] > mark
    assert latest["items"] == []
    assert latest["lastSequence"] == newer["lastSequence"]


def test_sim_messages_after_sequence_across_reset(sim: SimulatorServer) -> None:
    room = sim.create_room("Ops", [ANN, BOT_EMAIL])
    sim.post_message(room["id"], ANN, "before the reset")
    mark = sim.control("GET", "messages", afterSequence=0)["lastSequence"]
    sim.reset()
    room = sim.create_room("Ops", [ANN, BOT_EMAIL])
    after_reset = sim.post_message(room["id"], ANN, "after the reset")

    listing = sim.control("GET", "messages", afterSequence=mark)

    assert [m["id"] for m in listing["items"]] == [after_reset["id"]]


def test_sim_messages_after_sequence_skips_deleted(sim: SimulatorServer) -> None:
    with bot_client(sim) as bot:
        room = sim.create_room("Ops", [ANN, BOT_EMAIL])
        kept_message = bot.post("/messages", json={"roomId": room["id"], "text": "kept"}).json()
        deleted = bot.post("/messages", json={"roomId": room["id"], "text": "deleted"}).json()
        assert bot.delete(f"/messages/{deleted['id']}").status_code == 204

    listing = sim.control("GET", "messages", afterSequence=0)

    assert [m["id"] for m in listing["items"]] == [kept_message["id"]]


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "", "\u00b2", "9" * 19])
def test_sim_messages_rejects_invalid_after_sequence(sim: SimulatorServer, value: str) -> None:
    response = httpx.get(f"{sim.control_url}/messages", params={"afterSequence": value})

    assert response.status_code == 400
    assert f"afterSequence {value!r} is invalid" in response.json()["message"]


def test_requests_log_records_api_calls_without_token(sim: SimulatorServer) -> None:
    with bot_client(sim) as bot:
        bot.get("/people/me")
        bot.get("/messages/missing")
    httpx.get(f"{sim.base_url}/rooms", headers={"Authorization": "Bearer wrong"})

    records = sim.requests()

    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/v1/people/me", 200),
        ("GET", "/v1/messages/missing", 404),
        ("GET", "/v1/rooms", 401),
    ]
    assert records[0]["tokenOwner"] == BOT_EMAIL
    assert records[2]["tokenOwner"] is None
    assert records[0]["time"] <= records[1]["time"]
    assert records[0]["timeIso"].endswith("Z")
    assert "bot-token" not in json.dumps(records)


def test_requests_log_records_query(sim: SimulatorServer) -> None:
    room = sim.create_room("Ops", [ANN, BOT_EMAIL])
    with bot_client(sim) as bot:
        bot.get("/messages", params={"roomId": room["id"], "mentionedPeople": "me"})

    assert sim.requests()[-1]["query"] == f"roomId={room['id']}&mentionedPeople=me"


def test_requests_log_records_hung_request(sim: SimulatorServer) -> None:
    sim.add_fault(kind="hang", path="/people/me")
    with bot_client(sim, timeout=0.2) as bot, pytest.raises(httpx.ReadTimeout):
        bot.get("/people/me")
    sim.clear_faults()

    # The simulator records the request once it notices the disconnect, which can come
    # after the client has given up.
    deadline = time.monotonic() + 5
    records = sim.requests()
    while not records and time.monotonic() < deadline:
        time.sleep(0.05)
        records = sim.requests()

    assert [(r["path"], r["status"]) for r in records] == [("/v1/people/me", None)]


def test_reset_leaves_nothing_behind(sim: SimulatorServer) -> None:
    with WebhookReceiver() as receiver:
        register_webhook(sim, receiver.url, "all", "all")
        room = sim.create_room("Ops", [ANN, BOT_EMAIL])
        sim.post_message(room["id"], ANN, "@Ops hi", mentions=[BOT_EMAIL])
        sim.add_fault(kind="latency", latencyMs=1)
        receiver.wait_for(2)

        sim.reset()

        with bot_client(sim) as bot:
            webhooks = bot.get("/webhooks").json()["items"]
            rooms = bot.get("/rooms").json()["items"]
        people = sim.control("GET", "people")["items"]
        assert webhooks == []
        assert rooms == []
        assert sim.control("GET", "rooms")["items"] == []
        assert [person["emails"] for person in people] == [[BOT_EMAIL]]
        assert sim.control("GET", "messages")["items"] == []
        assert sim.deliveries() == []
        assert sim.control("GET", "faults")["items"] == []
        assert [r["path"] for r in sim.requests()] == ["/v1/webhooks", "/v1/rooms"]
        assert len(receiver.settle()) == 2


def test_scenario_file_creates_bot_people_and_rooms(scenario_file: Path) -> None:
    with SimulatorServer(scenario=scenario_file) as sim, bot_client(sim) as bot:
        me = bot.get("/people/me").json()
        rooms = bot.get("/rooms").json()["items"]
        helper = httpx.get(
            f"{sim.base_url}/people/me", headers={"Authorization": "Bearer helper-token"}
        )

    assert sim.bot_token == "scenario-token"
    assert me["displayName"] == "Zabbix Alert Bot ✓"
    assert me["emails"] == ["zabbix@webex.bot"]
    assert sorted((room["title"], room["type"]) for room in rooms) == [
        ("Ann", "direct"),
        ("Ops", "group"),
    ]
    assert helper.json()["type"] == "bot"


def test_explicit_arguments_override_scenario_bot(scenario_file: Path) -> None:
    with SimulatorServer(token="flag-token", bot_name="Flag Bot", scenario=scenario_file) as sim:
        assert sim.bot_token == "flag-token"
        assert sim.bot["displayName"] == "Flag Bot"


def test_reset_keeps_scenario_objects_with_same_ids(scenario_file: Path) -> None:
    with SimulatorServer(scenario=scenario_file) as sim:
        sim.create_person("extra@example.com")
        before = sim.control("GET", "rooms")["items"]
        sim.reset()
        after = sim.control("GET", "rooms")["items"]
        emails = [person["emails"][0] for person in sim.control("GET", "people")["items"]]

    assert [room["id"] for room in after] == [room["id"] for room in before]
    assert "extra@example.com" not in emails
    assert "ann@example.com" in emails


def test_scenario_json_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"people": [{"email": ANN}]}), encoding="utf-8")

    scenario = load_scenario(path)

    assert scenario.people[0].display_name == "Ann"


@pytest.mark.parametrize(
    "content",
    [
        "rooms: [{type: direct, members: [a@example.com]}]",
        "people: [{displayName: nobody}]",
        "bot: [1, 2]",
        "{unclosed",
    ],
)
def test_scenario_invalid_is_rejected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ScenarioError):
        load_scenario(path)


def test_server_refuses_non_loopback_host() -> None:
    with pytest.raises(SimulatorError):
        SimulatorServer(host="0.0.0.0")
