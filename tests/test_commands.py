"""The command registry, command parsing and the built-in commands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.commands import (
    TRAILING_PUNCTUATION,
    CommandContext,
    CommandRegistry,
    Reply,
    load_command_modules,
    registry,
    unknown_command_reply,
)
from processors.mentions import CommandText, Mention
from wxstream.settings import Settings


async def answer(context: CommandContext) -> str:
    return context.name


def make_registry(*names: str) -> CommandRegistry:
    commands = CommandRegistry()
    for name in names:
        commands.register(name, answer, help=f"the {name} command")
    return commands


def make_context(
    commands: CommandRegistry,
    *,
    args: str = "",
    room_type: str = "group",
    contact: str | None = None,
) -> CommandContext:
    return CommandContext(
        name="hello",
        args=args,
        sender_id="person-1",
        sender_email="ann@example.com",
        room_id="room-1",
        room_type=room_type,
        settings=Settings(contact=contact, _env_file=None),
        registry=commands,
        bot_name="Alert Bot",
    )


def test_commands_match_is_case_insensitive() -> None:
    parsed = make_registry("hello").match("HeLLo")
    assert parsed is not None
    assert parsed.command.name == "hello"


def test_commands_match_longest_name_first() -> None:
    commands = make_registry("show", "show status", "show issues")
    parsed = commands.match("Show  STATUS db1 db2")
    assert parsed is not None
    assert parsed.command.name == "show status"
    assert parsed.args == "db1 db2"


def test_commands_match_shorter_name_with_arguments() -> None:
    parsed = make_registry("show", "show status").match("show stats")
    assert parsed is not None
    assert parsed.command.name == "show"
    assert parsed.args == "stats"


def test_commands_match_unknown_command_returns_none() -> None:
    assert make_registry("hello", "show status").match("show") is None
    assert make_registry("hello").match("helloo") is None
    assert make_registry("hello").match("") is None


@pytest.mark.parametrize(
    "text",
    [
        "hello!",
        "hello?",
        "hello.",
        "Hello!!",
        "hello?!",
        "hello...",
        "hello\uff01",
        "hello\uff1f",
        "hello。",
    ],
)
def test_commands_match_ignores_trailing_punctuation(text: str) -> None:
    parsed = make_registry("hello").match(text)

    assert parsed is not None
    assert parsed.command.name == "hello"
    assert parsed.args == ""


def test_commands_match_punctuated_name_with_arguments() -> None:
    parsed = make_registry("show", "show status").match("show status! web01 is down?")

    assert parsed is not None
    assert parsed.command.name == "show status"
    assert parsed.args == "web01 is down?"


def test_commands_match_punctuation_inside_name_splits() -> None:
    parsed = make_registry("show", "show status").match("show! status")

    assert parsed is not None
    assert parsed.command.name == "show"
    assert parsed.args == "status"


def test_commands_match_other_trailing_characters_differ() -> None:
    commands = make_registry("hello")

    assert commands.match("hello,") is None
    assert commands.match("hello!x") is None
    assert commands.match("!") is None


@given(
    name=st.sampled_from(["hello", "help", "show status", "show issues"]),
    punctuation=st.text(alphabet=TRAILING_PUNCTUATION, min_size=1, max_size=4),
    args=st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)
def test_commands_match_any_punctuated_name(name: str, punctuation: str, args: str) -> None:
    commands = make_registry("hello", "help", "show", "show status", "show issues")

    parsed = commands.match(f"{name}{punctuation} {args}")

    assert parsed is not None
    assert parsed.command.name == name
    assert parsed.args == args.strip()


def test_commands_parse_skips_leading_mentions() -> None:
    commands = make_registry("show issues")
    text = CommandText("Ann show issues", True, (Mention("ann-id", 0, 3),))
    parsed = commands.parse(text)
    assert parsed is not None
    assert parsed.command.name == "show issues"
    assert parsed.args == "Ann"


def test_commands_parse_prefers_command_at_start() -> None:
    commands = make_registry("ann", "help")
    parsed = commands.parse(CommandText("ann help", True, (Mention("ann-id", 0, 3),)))
    assert parsed is not None
    assert parsed.command.name == "ann"


def test_commands_register_normalizes_name() -> None:
    entry = make_registry("  Show   Status ").get("show status")
    assert entry is not None
    assert entry.words == ("show", "status")


def test_commands_register_rejects_duplicate_and_empty_names() -> None:
    commands = make_registry("hello")
    with pytest.raises(ValueError, match="already registered"):
        commands.register("HELLO", answer, help="again")
    with pytest.raises(ValueError, match="empty"):
        commands.register("   ", answer, help="nothing")


def test_commands_decorator_registers_handler() -> None:
    commands = CommandRegistry()

    @commands.command("show status", arguments="[host]", help="Show the status.")
    async def show_status(context: CommandContext) -> str:
        return "ok"

    entry = commands.get("SHOW STATUS")
    assert entry is not None
    assert entry.handler is show_status
    assert entry.usage == "show status [host]"


def test_commands_builtins_registered() -> None:
    load_command_modules()
    assert registry.get("hello") is not None
    assert registry.get("help") is not None


async def test_commands_hello_lists_every_command_and_mentioning() -> None:
    commands = load_command_modules()
    hello = commands.get("hello")
    assert hello is not None
    text = await hello.handler(make_context(commands, contact="ops@example.com"))
    assert isinstance(text, str)
    for entry in commands:
        assert f"`{entry.usage}`" in text
    assert "mention me" in text
    assert "ops@example.com" in text


async def test_commands_hello_without_contact_omits_it() -> None:
    commands = load_command_modules()
    hello = commands.get("hello")
    assert hello is not None
    text = await hello.handler(make_context(commands))
    assert isinstance(text, str)
    assert "Contact" not in text


async def test_commands_hello_direct_room_needs_no_mention() -> None:
    commands = load_command_modules()
    hello = commands.get("hello")
    assert hello is not None
    text = await hello.handler(make_context(commands, room_type="direct"))
    assert isinstance(text, str)
    assert "just type" in text


async def test_commands_help_describes_one_command() -> None:
    commands = load_command_modules()
    help_command = commands.get("help")
    assert help_command is not None
    text = await help_command.handler(make_context(commands, args="hello"))
    assert text == "`hello`: Introduce me and list my commands."


async def test_commands_help_ignores_punctuation_after_name() -> None:
    commands = load_command_modules()
    help_command = commands.get("help")
    assert help_command is not None

    text = await help_command.handler(make_context(commands, args="hello?"))

    assert text == "`hello`: Introduce me and list my commands."


async def test_commands_help_unknown_argument_lists_commands() -> None:
    commands = load_command_modules()
    help_command = commands.get("help")
    assert help_command is not None
    text = await help_command.handler(make_context(commands, args="fly `away`"))
    assert isinstance(text, str)
    assert "I have no command `fly 'away'`" in text
    assert "`hello`" in text


def test_commands_unknown_reply_points_to_help() -> None:
    reply = unknown_command_reply("dance")
    assert "`dance`" in reply
    assert "`help`" in reply


def test_commands_unknown_reply_shortens_long_text() -> None:
    reply = unknown_command_reply("x" * 200)
    assert "x" * 39 + "…" in reply
    assert "x" * 40 not in reply


def test_commands_reply_defaults() -> None:
    reply = Reply("**hi**")
    assert reply.text is None
    assert reply.card is None
