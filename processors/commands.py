"""The command registry and the built-in commands ``hello`` and ``help``.

A command is an async handler registered under a name of one or more words::

    @command("show status", arguments="[host]", help="Show the monitoring status.")
    async def show_status(context: CommandContext) -> str: ...

Names match case-insensitively at the start of the command text, longest name first, so
``show status`` wins over a command named ``show``. Sentence punctuation (``!``, ``?``,
``.`` and their full-width forms) right after the name's last word is ignored, so
``hello!`` runs ``hello``. A handler returns markdown, or a
:class:`Reply` with a text fallback and an optional adaptive card. Modules that define
commands are listed in :data:`COMMAND_MODULES`; the command router imports them at start.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.mentions import CommandText, Mention
from wxstream.settings import Settings

# Modules whose import registers commands on :data:`registry`. Add a module here to add
# its commands to the bot.
COMMAND_MODULES: tuple[str, ...] = ("processors.commands", "processors.zabbix_commands")

_WORD = re.compile(r"\S+")
# Sentence punctuation that may follow a command name: ASCII, full-width and the
# ideographic full stop.
TRAILING_PUNCTUATION = "!?.\uff01\uff1f\uff0e\u3002"


@dataclass(frozen=True)
class Reply:
    """The result of a command: markdown, an optional plain-text fallback and card."""

    markdown: str
    text: str | None = None
    card: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CommandContext:
    """Everything a handler may use: who asked, where, with which arguments."""

    name: str
    args: str
    sender_id: str
    sender_email: str | None
    room_id: str
    room_type: str | None
    settings: Settings
    registry: CommandRegistry
    bot_name: str = ""
    mentions: tuple[Mention, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    message_id: str | None = None

    @property
    def argv(self) -> list[str]:
        return self.args.split()


Handler = Callable[[CommandContext], Awaitable["Reply | str"]]


@dataclass(frozen=True)
class Command:
    """A registered command: its name, argument synopsis, help text and handler."""

    name: str
    handler: Handler
    help: str
    arguments: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    @property
    def usage(self) -> str:
        return f"{self.name} {self.arguments}".strip()


@dataclass(frozen=True)
class ParsedCommand:
    """A command found at the start of the command text, and the text after it."""

    command: Command
    args: str


def strip_trailing_punctuation(word: str) -> str:
    """Remove the sentence punctuation that ends ``word``: ``hello?!`` becomes ``hello``."""
    return word.rstrip(TRAILING_PUNCTUATION)


def normalize_name(name: str) -> str:
    """Lowercase a command name and join its words with single spaces."""
    return " ".join(name.casefold().split())


class CommandRegistry:
    """Commands by name, in registration order."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def register(self, name: str, handler: Handler, *, help: str, arguments: str = "") -> Command:
        normalized = normalize_name(name)
        if not normalized:
            raise ValueError(f"command name {name!r} is empty; give it at least one word")
        if normalized in self._commands:
            raise ValueError(f"command {normalized!r} is already registered; choose another name")
        entry = Command(normalized, handler, help.strip(), arguments.strip())
        self._commands[normalized] = entry
        return entry

    def command(self, name: str, *, help: str, arguments: str = "") -> Callable[[Handler], Handler]:
        """Register the decorated async function as the handler of ``name``."""

        def decorate(handler: Handler) -> Handler:
            self.register(name, handler, help=help, arguments=arguments)
            return handler

        return decorate

    def get(self, name: str) -> Command | None:
        return self._commands.get(normalize_name(name))

    def __iter__(self) -> Iterator[Command]:
        return iter(list(self._commands.values()))

    def __len__(self) -> int:
        return len(self._commands)

    def match(self, text: str) -> ParsedCommand | None:
        """Find the longest command name that opens ``text``, ignoring case.

        The last word of the name may carry trailing :data:`TRAILING_PUNCTUATION`; the
        arguments are the rest of the text, unchanged.
        """
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        words = [text[start:end].casefold() for start, end in spans]
        for entry in sorted(self._commands.values(), key=lambda c: len(c.words), reverse=True):
            count = len(entry.words)
            if len(words) < count:
                continue
            opening = tuple(words[:count])
            stripped = (*opening[:-1], strip_trailing_punctuation(opening[-1]))
            if entry.words in (opening, stripped):
                return ParsedCommand(entry, text[spans[count - 1][1] :].strip())
        return None

    def parse(self, command_text: CommandText) -> ParsedCommand | None:
        """Find the command in a message, also after other people's mentions that open it.

        ``@Ann @Bot show issues`` runs ``show issues`` with ``Ann`` as its argument.
        """
        text = command_text.text
        parsed = self.match(text)
        skip = command_text.leading_mentions_end
        if parsed is not None or skip == 0:
            return parsed
        parsed = self.match(text[skip:])
        if parsed is None:
            return None
        args = f"{text[:skip].strip()} {parsed.args}".strip()
        return ParsedCommand(parsed.command, args)


registry = CommandRegistry()
command = registry.command


def load_command_modules(names: Iterable[str] = COMMAND_MODULES) -> CommandRegistry:
    """Import the modules that register commands and return the shared registry."""
    for name in names:
        importlib.import_module(name)
    return registry


# --- built-in commands ----------------------------------------------------------------


def command_list(commands: Iterable[Command]) -> str:
    """Return a markdown list of commands with their arguments and help text."""
    return "\n".join(f"- `{entry.usage}`: {entry.help}" for entry in commands)


def how_to_talk(bot_name: str, room_type: str | None) -> str:
    """Return how to address the bot in a room of this type."""
    name = bot_name or "the bot"
    if room_type == "direct":
        return "Here, just type a command."
    if room_type == "group":
        return f"In this space, mention me first, for example `@{name} help`."
    return (
        f"In a space with other people, mention me first (`@{name} help`); "
        "in a direct conversation, just type the command."
    )


def contact_line(settings: Settings) -> str:
    return f"\n\nQuestions about me? Contact {settings.contact}." if settings.contact else ""


def introduction(
    bot_name: str, room_type: str | None, commands: Sequence[Command], settings: Settings
) -> str:
    """Return the bot's introduction: who it is, its commands and how to address it."""
    name = bot_name or "a bot"
    return (
        f"Hello, I am {name}. I answer these commands:\n\n"
        f"{command_list(commands)}\n\n"
        f"{how_to_talk(bot_name, room_type)}"
        f"{contact_line(settings)}"
    )


@command("hello", help="Introduce me and list my commands.")
async def hello(context: CommandContext) -> str:
    return introduction(
        context.bot_name, context.room_type, list(context.registry), context.settings
    )


@command("help", arguments="[command]", help="List the commands, or describe one.")
async def help_command(context: CommandContext) -> str:
    if context.args:
        entry = context.registry.get(context.args) or context.registry.get(
            strip_trailing_punctuation(context.args)
        )
        if entry is None:
            shown = context.args.replace("`", "'")
            return f"I have no command `{shown}`.\n\n{command_list(context.registry)}"
        return f"`{entry.usage}`: {entry.help}"
    return (
        f"Commands:\n\n{command_list(context.registry)}\n\n"
        f"{how_to_talk(context.bot_name, context.room_type)}"
    )


def unknown_command_reply(text: str) -> str:
    """Return the short reply to text that names no command."""
    shown = text.replace("`", "'")
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"I do not know the command `{shown}`. Send `help` to see what I can do."
