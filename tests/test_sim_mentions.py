"""Mention rendering: the plain text shows a mentioned bot's first name, the html carries a
spark-mention element with the person's id, whatever characters the name contains."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.sim_support import bot_client
from wxstream.sim import ids
from wxstream.sim.mentions import parse_markdown, place_user_mentions, render
from wxstream.sim.server import SimulatorServer
from wxstream.sim.state import Person

ANN = "ann@example.com"
BOT_EMAIL = "bot@webex.bot"
NAMES = {
    "spaces": "Zabbix Alert Bot",
    "regex metacharacters": "C++ (ops)* [bot]? $x",
    "non-ASCII": "Ünïcødé Bøt 🤖",
    "html characters": "<b>&Co Bot",
}


def person(name: str, kind: str = "bot") -> Person:
    return Person(
        uuid=ids.new_uuid(), email="x@webex.bot", display_name=name, type=kind, created=""
    )  # type: ignore[arg-type]


def spark_mentions(markup: str) -> list[tuple[str, str]]:
    pattern = (
        r'<spark-mention data-object-type="person" data-object-id="([^"]+)">(.*?)</spark-mention>'
    )
    return [(object_id, html.unescape(shown)) for object_id, shown in re.findall(pattern, markup)]


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_user_mention_of_bot_shows_first_name(name: str) -> None:
    bot = person(name)

    rendered = render(place_user_mentions(f"@{name} show issues", [bot]), lambda p: p.uuid)

    first_name = name.split()[0]
    assert rendered.text == f"{first_name} show issues"
    assert spark_mentions(rendered.html) == [(bot.uuid, first_name)]
    assert rendered.mentioned_people == [bot.id]


def test_user_mention_anywhere_in_text() -> None:
    bot = person("Ops Bot")

    rendered = render(place_user_mentions("please @Ops Bot, help", [bot]), lambda p: p.uuid)

    assert rendered.text == "please Ops, help"


def test_user_mention_by_first_name() -> None:
    bot = person("Ops Bot")

    rendered = render(place_user_mentions("@Ops status", [bot]), lambda p: p.uuid)

    assert rendered.text == "Ops status"


def test_user_mention_not_written_goes_first() -> None:
    bot = person("Ops Bot")

    rendered = render(place_user_mentions("status", [bot]), lambda p: p.uuid)

    assert rendered.text == "Ops status"
    assert rendered.html.startswith("<p><spark-mention")


def test_user_mention_of_person_shows_written_name() -> None:
    ann = person("Ann Lee", kind="person")

    rendered = render(place_user_mentions("ask @Ann Lee", [ann]), lambda p: p.uuid)

    assert rendered.text == "ask Ann Lee"


def test_text_is_escaped_in_html() -> None:
    rendered = render(place_user_mentions("a < b & c", []), lambda p: p.uuid)

    assert rendered.html == "<p>a &lt; b &amp; c</p>"


def test_group_mention_all() -> None:
    rendered = render(place_user_mentions("@All meeting now", [None]), lambda p: p.uuid)

    assert rendered.mentioned_groups == ["all"]
    assert 'data-group-type="all"' in rendered.html


def test_markdown_mention_of_unknown_person_stays_text() -> None:
    segments = parse_markdown("hi <@personEmail:nobody@example.com|Nobody>", lambda ref: None)

    assert segments == ["hi <@personEmail:nobody@example.com|Nobody>"]


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_simulated_user_mention_end_to_end(name: str) -> None:
    with SimulatorServer(bot_name=name, bot_email=BOT_EMAIL) as sim:
        room = sim.create_room("Ops", [ANN, BOT_EMAIL])
        posted = sim.post_message(room["id"], ANN, f"hey @{name} status", mentions=[BOT_EMAIL])
        with bot_client(sim) as bot:
            message = bot.get(f"/messages/{posted['id']}").json()

    first_name = name.split()[0]
    raw_uuid = ids.decode_id(sim.bot["id"])[1]  # type: ignore[index]
    assert message["text"] == f"hey {first_name} status"
    assert spark_mentions(message["html"]) == [(raw_uuid, first_name)]
    assert message["mentionedPeople"] == [sim.bot["id"]]


def test_bot_markdown_mention_by_email_and_id() -> None:
    with SimulatorServer(bot_email=BOT_EMAIL) as sim:
        ann = sim.create_person(ANN, "Ann (ops) Lee")
        room = sim.create_room("Ops", [ANN, BOT_EMAIL])
        with bot_client(sim) as bot:
            by_email = bot.post(
                "/messages", json={"roomId": room["id"], "markdown": f"<@personEmail:{ANN}> look"}
            ).json()
            by_id = bot.post(
                "/messages",
                json={"roomId": room["id"], "markdown": f"<@personId:{ann['id']}|Ann> look"},
            ).json()

    assert by_email["text"] == "Ann (ops) Lee look"
    assert by_id["text"] == "Ann look"
    assert by_email["mentionedPeople"] == by_id["mentionedPeople"] == [ann["id"]]


def test_unmentioned_bot_cannot_read_group_message() -> None:
    with SimulatorServer(bot_email=BOT_EMAIL) as sim:
        room = sim.create_room("Ops", [ANN, BOT_EMAIL])
        posted = sim.post_message(room["id"], ANN, "@Ann just talking to myself", mentions=[ANN])
        with bot_client(sim) as bot:
            status = bot.get(f"/messages/{posted['id']}").status_code

    assert status == httpx.codes.NOT_FOUND
