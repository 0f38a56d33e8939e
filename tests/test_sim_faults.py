"""Injected faults: error statuses with each Retry-After form, latency, hangs, rate limits,
and duplicated or reordered webhook deliveries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from tests.sim_support import WebhookReceiver, bot_client, register_webhook
from wxstream.sim.server import SimulatorServer

BOT_EMAIL = "ops@webex.bot"
ANN = "ann@example.com"


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(token="bot-token", bot_email=BOT_EMAIL) as sim:
        yield sim


@pytest.fixture
def sim(server: SimulatorServer) -> SimulatorServer:
    server.reset()
    return server


@pytest.fixture
def bot(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with bot_client(sim) as client:
        yield client


def test_status_429_with_retry_after_seconds(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(
        kind="status", status=429, path="/people/me", retryAfter="seconds", retryAfterSeconds=7
    )

    response = bot.get("/people/me")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["trackingId"] == response.headers["TrackingID"]


def test_status_429_with_retry_after_http_date(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(
        kind="status", status=429, path="/people/me", retryAfter="date", retryAfterSeconds=30
    )

    response = bot.get("/people/me")

    moment = parsedate_to_datetime(response.headers["Retry-After"])
    wait = (moment - datetime.now(UTC)).total_seconds()
    assert response.status_code == 429
    assert 20 < wait <= 31


def test_status_429_with_garbled_retry_after(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="status", status=429, path="/people/me", retryAfter="garbled")

    value = bot.get("/people/me").headers["Retry-After"]

    assert not value.strip().isdigit()
    with pytest.raises((TypeError, ValueError)):
        parsedate_to_datetime(value)


def test_status_429_without_retry_after(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="status", status=429, path="/people/me", retryAfter="absent")

    response = bot.get("/people/me")

    assert response.status_code == 429
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_status_5xx(sim: SimulatorServer, bot: httpx.Client, status: int) -> None:
    sim.add_fault(kind="status", status=status, path="/messages*", method="POST")

    failed = bot.post("/messages", json={"toPersonEmail": ANN, "text": "x"})
    unaffected = bot.get("/people/me")

    assert failed.status_code == status
    assert failed.json()["trackingId"]
    assert unaffected.status_code == 200


def test_status_fault_body_names_status_and_fault(sim: SimulatorServer, bot: httpx.Client) -> None:
    fault_id = sim.add_fault(kind="status", status=400, path="/messages", method="POST")

    body = bot.post("/messages", json={"toPersonEmail": ANN, "text": "x"}).json()

    assert body["message"].startswith("Bad Request: ")
    assert fault_id in body["message"]
    assert body["errors"] == [{"description": body["message"]}]


def test_status_fault_message_is_error_body_message(
    sim: SimulatorServer, bot: httpx.Client
) -> None:
    text = "The request could not be processed: text exceeds 7439 bytes"
    sim.add_fault(kind="status", status=400, path="/messages", method="POST", message=text)

    response = bot.post("/messages", json={"toPersonEmail": ANN, "text": "x"})

    assert response.status_code == 400
    assert response.json()["message"] == text
    assert response.json()["trackingId"] == response.headers["TrackingID"]


def test_status_fault_count_limits_hits(sim: SimulatorServer, bot: httpx.Client) -> None:
    fault_id = sim.add_fault(kind="status", status=503, path="/people/me", count=2)

    statuses = [bot.get("/people/me").status_code for _ in range(4)]

    assert statuses == [503, 503, 200, 200]
    listed = sim.control("GET", "faults")["items"]
    assert (listed[0]["id"], listed[0]["remaining"], listed[0]["hits"]) == (fault_id, 0, 2)


def test_status_fault_path_regex(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="status", status=500, pathRegex=r"^/v1/people/(?!me$)")

    assert bot.get("/people/me").status_code == 200
    assert bot.get(f"/people/{sim.bot['id']}").status_code == 500


def test_status_fault_probability(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="status", status=502, path="/people/me", probability=0.5, seed=7)

    statuses = [bot.get("/people/me").status_code for _ in range(40)]

    assert 5 <= statuses.count(502) <= 35
    assert statuses.count(200) == 40 - statuses.count(502)


def test_latency_is_added_to_every_response(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="latency", latencyMs=50)

    elapsed = []
    for _ in range(3):
        started = time.perf_counter()
        assert bot.get("/people/me").status_code == 200
        elapsed.append(time.perf_counter() - started)

    assert min(elapsed) >= 0.05


def test_hang_lasts_until_client_times_out(sim: SimulatorServer) -> None:
    sim.add_fault(kind="hang", path="/messages", method="POST")

    with bot_client(sim, timeout=0.3) as bot:
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            bot.post("/messages", json={"toPersonEmail": ANN, "text": "x"})
        waited = time.perf_counter() - started
        after = bot.get("/people/me")

    assert waited >= 0.3
    assert after.status_code == 200
    assert sim.control("GET", "messages")["items"] == []


def test_hang_with_limit_then_answers(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="hang", path="/messages", method="POST", hangSeconds=0.2)

    started = time.perf_counter()
    response = bot.post("/messages", json={"toPersonEmail": ANN, "text": "late"})

    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_rate_limit_per_token(sim: SimulatorServer, bot: httpx.Client) -> None:
    other = sim.create_person("other@webex.bot", "Other", type="bot")
    sim.add_fault(kind="rateLimit", rate=0.5, burst=3, scope="token")

    statuses = [bot.get("/people/me").status_code for _ in range(4)]
    limited = bot.get("/people/me")
    headers = {"Authorization": f"Bearer {other['token']}"}
    other_token = httpx.get(f"{sim.base_url}/people/me", headers=headers)

    assert statuses == [200, 200, 200, 429]
    assert int(limited.headers["Retry-After"]) >= 1
    assert other_token.status_code == 200


def test_rate_limit_refills_over_time(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="rateLimit", rate=20, burst=1)

    first = bot.get("/people/me").status_code
    second = bot.get("/people/me").status_code
    time.sleep(0.1)
    third = bot.get("/people/me").status_code

    assert (first, second, third) == (200, 429, 200)


def test_rate_limit_per_room(sim: SimulatorServer, bot: httpx.Client) -> None:
    busy = sim.create_room("Busy", [ANN, BOT_EMAIL])
    quiet = sim.create_room("Quiet", [ANN, BOT_EMAIL])
    sim.add_fault(kind="rateLimit", rate=0.1, burst=2, scope="room", path="/messages*")

    posts = [
        bot.post("/messages", json={"roomId": busy["id"], "text": "x"}).status_code
        for _ in range(3)
    ]
    read = bot.get("/messages", params={"roomId": busy["id"], "mentionedPeople": "me"})
    other = bot.post("/messages", json={"roomId": quiet["id"], "text": "x"})

    assert posts == [200, 200, 429]
    assert read.status_code == 429
    assert other.status_code == 200


def test_duplicated_delivery(sim: SimulatorServer) -> None:
    sim.add_fault(kind="duplicateDelivery", resource="messages", count=1)
    with WebhookReceiver() as receiver:
        register_webhook(sim, receiver.url, "messages", "created")
        room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
        sim.post_message(room["id"], ANN, "once")
        sim.post_message(room["id"], ANN, "twice? no")

        callbacks = receiver.wait_for(3)

    assert callbacks[0].body == callbacks[1].body
    assert callbacks[2].body != callbacks[0].body
    assert [record["duplicate"] for record in sim.deliveries()] == [False, True, False]


def test_reordered_delivery(sim: SimulatorServer) -> None:
    sim.add_fault(kind="reorderDelivery", count=1)
    with WebhookReceiver() as receiver:
        register_webhook(sim, receiver.url, "messages", "created")
        room = sim.create_room("Ann", [ANN, BOT_EMAIL], type="direct")
        first = sim.post_message(room["id"], ANN, "first")
        second = sim.post_message(room["id"], ANN, "second")

        callbacks = receiver.wait_for(2)

    assert [c.json()["data"]["id"] for c in callbacks] == [second["id"], first["id"]]


def test_faults_list_and_clear(sim: SimulatorServer, bot: httpx.Client) -> None:
    sim.add_fault(kind="latency", latencyMs=1)
    doomed = sim.add_fault(kind="status", status=500, path="/people/me")

    sim.control("DELETE", f"faults/{doomed}")
    remaining = sim.control("GET", "faults")["items"]
    sim.clear_faults()

    assert [fault["kind"] for fault in remaining] == ["latency"]
    assert sim.control("GET", "faults")["items"] == []
    assert bot.get("/people/me").status_code == 200


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "explode"},
        {"kind": "status", "status": 200},
        {"kind": "status", "status": 429, "retryAfter": "tomorrow"},
        {"kind": "latency"},
        {"kind": "rateLimit", "rate": 0},
        {"kind": "status", "status": 500, "pathRegex": "("},
        {"kind": "status", "status": 500, "probability": 2},
        {"kind": "status", "status": 400, "message": 42},
    ],
)
def test_invalid_fault_is_400(sim: SimulatorServer, spec: dict[str, object]) -> None:
    response = httpx.post(f"{sim.control_url}/faults", json=spec)

    assert response.status_code == 400
    assert response.json()["message"]
