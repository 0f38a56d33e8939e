"""Finding the bot's own mention in a received message, by id, and cutting it out."""

from __future__ import annotations

import base64
import html
import uuid

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from processors.mentions import (
    extract_command_text,
    parse_segments,
    person_uuid,
    same_person,
)

BOT_UUID = "5f3a1c2e-7b4d-4e8f-9a6b-0c1d2e3f4a5b"
ANN_UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def rest_id(person: str, *, padded: bool = False, urlsafe: bool = False) -> str:
    raw = f"ciscospark://us/PEOPLE/{person}".encode()
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return encoded if padded else encoded.rstrip("=")


BOT_ID = rest_id(BOT_UUID)
ANN_ID = rest_id(ANN_UUID)


def mention_html(person_id: str, name: str) -> str:
    return (
        f'<spark-mention data-object-type="person" data-object-id="{person_id}">'
        f"{html.escape(name)}</spark-mention>"
    )


def group(text: str, body: str, mentioned: list[str] | None = None) -> str:
    return extract_command_text(
        text=text,
        html=f"<p>{body}</p>",
        mentioned_people=mentioned if mentioned is not None else [BOT_ID],
        bot_id=BOT_ID,
        room_type="group",
    ).text


def test_person_uuid_reads_rest_id() -> None:
    assert person_uuid(BOT_ID) == BOT_UUID


def test_person_uuid_reads_padded_and_urlsafe_rest_ids() -> None:
    assert person_uuid(rest_id(BOT_UUID, padded=True)) == BOT_UUID
    assert person_uuid(rest_id(BOT_UUID, urlsafe=True)) == BOT_UUID


def test_person_uuid_reads_raw_uuid_in_any_case() -> None:
    assert person_uuid(BOT_UUID.upper()) == BOT_UUID


def test_person_uuid_rejects_other_resources_and_garbage() -> None:
    room = base64.b64encode(f"ciscospark://us/ROOM/{BOT_UUID}".encode()).decode()
    assert person_uuid(room) is None
    assert person_uuid("not an id") is None
    assert person_uuid("") is None


def test_same_person_matches_rest_id_with_raw_uuid() -> None:
    assert same_person(BOT_ID, BOT_UUID)
    assert not same_person(BOT_ID, ANN_UUID)


def test_parse_segments_splits_text_and_mentions() -> None:
    segments = parse_segments(f"<p>hi {mention_html(BOT_ID, 'Bot & Co')}, there</p>")
    assert [s.text for s in segments] == ["\nhi ", "Bot & Co", ", there\n"]
    assert [s.mention_id for s in segments] == [None, BOT_ID, None]


def test_extract_direct_room_uses_whole_text() -> None:
    result = extract_command_text(
        text="  Show Status  ", html=None, mentioned_people=[], bot_id=BOT_ID, room_type="direct"
    )
    assert result.text == "Show Status"
    assert not result.bot_mentioned


def test_extract_group_removes_mention_by_rest_id() -> None:
    assert group("Bot show status", mention_html(BOT_ID, "Bot") + " show status") == "show status"


def test_extract_group_removes_mention_by_raw_uuid() -> None:
    body = mention_html(BOT_UUID, "Bot") + " hello"
    assert group("Bot hello", body) == "hello"


def test_extract_group_text_shows_first_name_only() -> None:
    body = mention_html(BOT_ID, "Zabbix Alert Bot") + " show issues"
    assert group("Zabbix show issues", body) == "show issues"


@pytest.mark.parametrize("punctuation", [",", ":", ";", " :", " ,"])
def test_extract_group_ignores_punctuation_after_mention(punctuation: str) -> None:
    body = mention_html(BOT_ID, "Bot") + f"{punctuation} hello"
    assert group(f"Bot{punctuation} hello", body) == "hello"


def test_extract_group_keeps_punctuation_elsewhere() -> None:
    body = mention_html(BOT_ID, "Bot") + " help, please"
    assert group("Bot help, please", body) == "help, please"


@pytest.mark.parametrize(
    "name",
    ["Alert Bot (prod)", "a.*+?^$[]{}|\\ bot", "Ünïcødé Bøt", "李 小龙", "O'Brien & <Sons>"],
)
def test_extract_group_handles_unusual_bot_names(name: str) -> None:
    body = mention_html(BOT_ID, name) + " show status"
    assert group(f"{name} show status", body) == "show status"
    assert group(f"{name.split()[0]} show status", body) == "show status"


def test_extract_group_keeps_other_person_mentioned_first() -> None:
    body = mention_html(ANN_ID, "Ann Lee") + " " + mention_html(BOT_ID, "Bot") + " show issues"
    result = extract_command_text(
        text="Ann Bot show issues",
        html=f"<p>{body}</p>",
        mentioned_people=[ANN_ID, BOT_ID],
        bot_id=BOT_ID,
        room_type="group",
    )
    assert result.text == "Ann show issues"
    assert [(m.person_id, m.start, m.end) for m in result.mentions] == [(ANN_ID, 0, 3)]
    assert result.leading_mentions_end == 3


def test_extract_group_mention_in_the_middle() -> None:
    body = "please " + mention_html(BOT_ID, "Bot") + ": help"
    assert group("please Bot: help", body) == "please help"


def test_extract_group_bot_name_repeated_as_argument() -> None:
    body = mention_html(BOT_ID, "Help Desk") + " help"
    assert group("Help help", body) == "help"


def test_extract_group_only_mention_gives_empty_text() -> None:
    assert group("Bot", mention_html(BOT_ID, "Bot")) == ""


def test_extract_group_misaligned_html_uses_html_text() -> None:
    body = mention_html(BOT_ID, "Bot") + " <strong>show</strong> status"
    assert group("Bot **show** status", body) == "show status"


def test_extract_group_without_html_strips_leading_bot_name() -> None:
    result = extract_command_text(
        text="Alert Bot: hello",
        html=None,
        mentioned_people=[BOT_ID],
        bot_id=BOT_ID,
        room_type="group",
        bot_names=["Alert Bot", "Alert"],
    )
    assert result.text == "hello"
    assert result.bot_mentioned


def test_extract_group_without_bot_mention_reports_it() -> None:
    result = extract_command_text(
        text="Ann hello",
        html=f"<p>{mention_html(ANN_ID, 'Ann')} hello</p>",
        mentioned_people=[ANN_ID],
        bot_id=BOT_ID,
        room_type="group",
    )
    assert not result.bot_mentioned
    assert result.text == "Ann hello"


# --- properties ---------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=24
).filter(lambda name: name.strip() != "")
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=8)
commands = st.sampled_from(["hello", "help", "show status", "show issues", "HELP"])


@given(
    bot_name=names,
    first_name_only=st.booleans(),
    punctuation=st.sampled_from(["", ",", ":", ";"]),
    command=commands,
    args=st.lists(words, max_size=3),
    other=st.none() | names,
    raw_uuid=st.booleans(),
)
@example(
    bot_name="Bot: [x]*",
    first_name_only=False,
    punctuation=":",
    command="show status",
    args=["db1"],
    other="Ann",
    raw_uuid=True,
)
def test_extract_group_property_removes_only_bot_mention(
    bot_name: str,
    first_name_only: bool,
    punctuation: str,
    command: str,
    args: list[str],
    other: str | None,
    raw_uuid: bool,
) -> None:
    shown = bot_name.split()[0] if first_name_only else bot_name
    tail = " ".join([command, *args])
    prefix_text = f"{other} " if other else ""
    prefix_html = mention_html(ANN_ID, other) + " " if other else ""
    bot_html = mention_html(BOT_UUID if raw_uuid else BOT_ID, bot_name)

    result = extract_command_text(
        text=f"{prefix_text}{shown}{punctuation} {tail}",
        html=f"<p>{prefix_html}{bot_html}{html.escape(punctuation)} {html.escape(tail)}</p>",
        mentioned_people=[ANN_ID, BOT_ID] if other else [BOT_ID],
        bot_id=BOT_ID,
        room_type="group",
    )

    expected = " ".join(f"{prefix_text}{tail}".split())
    assert " ".join(result.text.split()) == expected
    assert result.bot_mentioned


@given(bot_name=names, args=st.lists(words, max_size=3))
def test_extract_group_property_mention_at_end(bot_name: str, args: list[str]) -> None:
    tail = " ".join(["help", *args])
    result = extract_command_text(
        text=f"{tail} {bot_name}",
        html=f"<p>{html.escape(tail)} {mention_html(BOT_ID, bot_name)}</p>",
        mentioned_people=[BOT_ID],
        bot_id=BOT_ID,
        room_type="group",
    )
    assert result.text == tail


@given(person=st.uuids())
def test_same_person_property_rest_and_raw_forms(person: uuid.UUID) -> None:
    assert same_person(rest_id(str(person)), str(person))
    assert same_person(rest_id(str(person), urlsafe=True, padded=True), str(person).upper())
