"""Router decisions without Kafka: replies, trust, alerts, stable ids."""

from __future__ import annotations

import asyncio

import pytest

from processors import routing
from processors.alerts import AlertRouteError, alert_message
from processors.commands import CommandContext, CommandRegistry, Reply, load_command_modules
from processors.replies import caller_mention, reply_message, stable_message_id
from processors.routing import Bot, Router
from schemas.payloads import BackendEvent, BotAdded, CardSubmitted, ReceivedMessage
from wxstream.settings import Settings

BOT = Bot("bot-id", "Alert Bot")


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def direct(text: str | None, email: str = "ann@example.com", **fields: object) -> ReceivedMessage:
    return ReceivedMessage(
        message_id="m1",
        room_id="room-1",
        room_type="direct",
        person_id="ann-id",
        person_email=email,
        text=text,
        **fields,  # type: ignore[arg-type]
    )


async def failing(context: CommandContext) -> str:
    raise RuntimeError("backend down")


async def slow(context: CommandContext) -> str:
    await asyncio.sleep(5)
    return "late"


def test_stable_message_id_is_deterministic() -> None:
    assert stable_message_id("event-1") == stable_message_id("event-1")
    assert stable_message_id("event-1") != stable_message_id("event-2")
    assert stable_message_id("event-1", "alert") != stable_message_id("event-1")


def test_caller_mention_prefers_email() -> None:
    assert caller_mention("ann@example.com", "ann-id") == "<@personEmail:ann@example.com|ann>"
    assert caller_mention(None, "ann-id-123456") == "<@personId:ann-id-123456|ann-id-1>"


def test_reply_message_keeps_thread_and_mention() -> None:
    message = reply_message(
        message_id="out-1",
        room_id="room-1",
        reply=Reply("hi", card={"type": "AdaptiveCard"}),
        parent_id="parent-1",
        mention="<@personEmail:ann@example.com|ann>",
    )
    assert message.parent_id == "parent-1"
    assert message.markdown == "<@personEmail:ann@example.com|ann> hi"
    assert message.attachments is not None
    assert message.attachments[0]["content"] == {"type": "AdaptiveCard"}


async def test_router_untrusted_sender_gets_no_reply() -> None:
    router = Router(load_command_modules(), settings(trusted_users="@example.org"))
    decision = await router.answer_message(direct("hello"), BOT)
    assert decision.reply is None
    assert decision.reason.startswith("untrusted sender")


async def test_router_trusted_domain_gets_reply() -> None:
    router = Router(load_command_modules(), settings(trusted_users="@example.com"))
    decision = await router.answer_message(direct("HELLO"), BOT)
    assert decision.reply is not None
    assert decision.command == "hello"


async def test_router_unknown_command_points_to_help() -> None:
    router = Router(load_command_modules(), settings())
    decision = await router.answer_message(direct("dance"), BOT)
    assert decision.reply is not None
    assert "`help`" in decision.reply.markdown
    assert decision.reason == "unknown command"


async def test_router_mentioned_command_with_exclamation_runs() -> None:
    router = Router(load_command_modules(), settings())
    html = (
        f'<p><spark-mention data-object-type="person" data-object-id="{BOT.id}">Alert'
        "</spark-mention> hello!</p>"
    )
    message = ReceivedMessage(
        message_id="m1",
        room_id="r",
        room_type="group",
        person_id="p",
        person_email="ann@example.com",
        text="Alert hello!",
        html=html,
        mentioned_people=[BOT.id],
    )

    decision = await router.answer_message(message, BOT)

    assert decision.command == "hello"
    assert decision.reply is not None
    assert decision.reply.markdown.startswith("Hello, I am Alert Bot.")


async def test_router_file_only_message_gets_hint() -> None:
    router = Router(load_command_modules(), settings())
    decision = await router.answer_message(direct(None, files=["https://f/1"]), BOT)
    assert decision.reply is not None
    assert decision.reason == "file without a command"


async def test_router_group_message_without_bot_mention_is_ignored() -> None:
    router = Router(load_command_modules(), settings())
    message = ReceivedMessage(
        message_id="m1", room_id="r", room_type="group", person_id="p", text="hello"
    )
    decision = await router.answer_message(message, BOT)
    assert decision.reply is None


async def test_router_failing_handler_tells_user_once() -> None:
    commands = CommandRegistry()
    commands.register("boom", failing, help="fails")
    decision = await Router(commands, settings()).answer_message(direct("boom"), BOT)
    assert decision.reply is not None
    assert "`boom` failed" in decision.reply.markdown
    assert decision.reason == "command failed"


async def test_router_slow_handler_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "COMMAND_TIMEOUT_SECONDS", 0.05)
    commands = CommandRegistry()
    commands.register("slow", slow, help="sleeps")
    decision = await Router(commands, settings()).answer_message(direct("slow"), BOT)
    assert decision.reason == "command timed out"


async def test_router_card_runs_named_command() -> None:
    router = Router(load_command_modules(), settings())
    card = CardSubmitted(
        action_id="a1",
        message_id="m1",
        room_id="r",
        person_id="p",
        person_email="ann@example.com",
        inputs={"command": "Help", "args": "hello"},
    )
    decision = await router.answer_card(card, BOT)
    assert decision.command == "help"
    assert decision.reply is not None
    assert decision.reply.markdown.startswith("`hello`")


async def test_router_card_without_command_gets_unknown_reply() -> None:
    router = Router(load_command_modules(), settings())
    card = CardSubmitted(action_id="a1", message_id="m1", room_id="r", person_id="p")
    decision = await router.answer_card(card, BOT)
    assert decision.reply is not None
    assert "`help`" in decision.reply.markdown


def test_router_welcome_explains_mentioning_in_group() -> None:
    router = Router(load_command_modules(), settings())
    decision = router.welcome(BotAdded(room_id="r", room_type="group"), BOT)
    assert decision.reply is not None
    assert "mention me" in decision.reply.markdown


def test_alert_message_to_email_and_room() -> None:
    to_person = alert_message(
        "e1", BackendEvent(to="ops@example.com", subject="Disk", message="90%")
    )
    assert to_person.to_person_email == "ops@example.com"
    assert to_person.text == "Disk\n\n90%"
    to_room = alert_message("e1", BackendEvent(to="room-1", subject="Disk", message="90%"))
    assert to_room.room_id == "room-1"
    assert to_room.message_id == to_person.message_id == stable_message_id("e1", "alert")


def test_alert_message_markdown_keeps_text_fallback() -> None:
    message = alert_message("e1", BackendEvent(to="r", subject="Disk", markdown="**90%**"))
    assert message.markdown == "Disk\n\n**90%**"
    assert message.text == "Disk"


def test_alert_message_without_route_raises() -> None:
    with pytest.raises(AlertRouteError, match="no 'to'"):
        alert_message("e1", BackendEvent(subject="Disk"))
    with pytest.raises(AlertRouteError, match="no subject"):
        alert_message("e1", BackendEvent(to="room-1"))
