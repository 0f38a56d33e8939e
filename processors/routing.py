"""Replies of the bot to a received message, a card submission or being added to a room.

The functions here decide and run the command; the command router agent only decodes
events and writes the outcome. A :class:`Decision` without a reply is logged with its
reason and nothing is posted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processors.commands import (
    CommandContext,
    CommandRegistry,
    ParsedCommand,
    Reply,
    introduction,
    unknown_command_reply,
)
from processors.mentions import CommandText, extract_command_text
from processors.trust import TrustPolicy
from schemas.payloads import BotAdded, CardSubmitted, ReceivedMessage
from wxstream.settings import Settings

logger = logging.getLogger(__name__)

# A handler that runs longer is abandoned and the reply says that it failed. It stays well
# under the Kafka consumer's poll interval, so a slow command cannot stall the partition.
COMMAND_TIMEOUT_SECONDS = 30.0
CARD_COMMAND_INPUT = "command"
CARD_ARGS_INPUT = "args"


@dataclass(frozen=True)
class Bot:
    """The bot as routing needs it: its person id and display name."""

    id: str
    name: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else ""


@dataclass(frozen=True)
class Decision:
    """The reply to post (None for none) and why, for the log."""

    reply: Reply | None
    reason: str
    command: str | None = None


@dataclass(frozen=True)
class Router:
    """The command registry, trust policy and settings that replies are decided with."""

    registry: CommandRegistry
    settings: Settings
    policy: TrustPolicy = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", TrustPolicy(self.settings.trusted_users))

    async def answer_message(self, message: ReceivedMessage, bot: Bot) -> Decision:
        """Decide and run the reply to a received message."""
        trust = self.policy.decide(message.person_email)
        if not trust.trusted:
            return Decision(None, f"untrusted sender: {trust.rule}")

        command_text = extract_command_text(
            text=message.text,
            html=message.html,
            mentioned_people=message.mentioned_people,
            bot_id=bot.id,
            room_type=message.room_type,
            bot_names=[bot.name, bot.first_name],
        )
        if message.room_type == "group" and not command_text.bot_mentioned:
            return Decision(None, "group message does not mention the bot")
        if not command_text.text and message.files:
            return Decision(Reply(_FILES_ONLY), "file without a command")

        parsed = self._parse(command_text)
        if parsed is None:
            return Decision(Reply(unknown_command_reply(command_text.text)), "unknown command")

        context = CommandContext(
            name=parsed.command.name,
            args=parsed.args,
            sender_id=message.person_id,
            sender_email=message.person_email,
            room_id=message.room_id,
            room_type=message.room_type,
            settings=self.settings,
            registry=self.registry,
            bot_name=bot.name,
            mentions=command_text.mentions,
            message_id=message.message_id,
        )
        return await self.run(parsed, context)

    async def answer_card(self, card: CardSubmitted, bot: Bot) -> Decision:
        """Decide and run the reply to a card submission, routed by its ``command`` input."""
        trust = self.policy.decide(card.person_email)
        if not trust.trusted:
            return Decision(None, f"untrusted sender: {trust.rule}")

        name = _input_text(card.inputs, CARD_COMMAND_INPUT)
        entry = self.registry.get(name) if name else None
        if entry is None:
            reason = f"card names no known command ({name or 'no command input'})"
            return Decision(Reply(unknown_command_reply(name or "(card)")), reason)

        context = CommandContext(
            name=entry.name,
            args=_input_text(card.inputs, CARD_ARGS_INPUT),
            sender_id=card.person_id,
            sender_email=card.person_email,
            room_id=card.room_id,
            room_type=card.room_type,
            settings=self.settings,
            registry=self.registry,
            bot_name=bot.name,
            inputs=dict(card.inputs),
            message_id=card.message_id,
        )
        return await self.run(ParsedCommand(entry, context.args), context)

    def welcome(self, added: BotAdded, bot: Bot) -> Decision:
        """Return the welcome posted when the bot joins a room."""
        text = introduction(bot.name, added.room_type, list(self.registry), self.settings)
        return Decision(Reply(text), "bot added to the room")

    async def run(self, parsed: ParsedCommand, context: CommandContext) -> Decision:
        """Run a command's handler; a failure or timeout becomes a reply saying it failed."""
        name = parsed.command.name
        try:
            result = await asyncio.wait_for(
                parsed.command.handler(context), timeout=COMMAND_TIMEOUT_SECONDS
            )
        except TimeoutError:
            logger.error("command %r timed out after %.0f s", name, COMMAND_TIMEOUT_SECONDS)
            return Decision(Reply(_failed(name)), "command timed out", name)
        except Exception:
            logger.exception("command %r failed", name)
            return Decision(Reply(_failed(name)), "command failed", name)
        reply = result if isinstance(result, Reply) else Reply(str(result))
        return Decision(reply, "command answered", name)

    def _parse(self, command_text: CommandText) -> ParsedCommand | None:
        if not command_text.text:
            entry = self.registry.get("help")
            return ParsedCommand(entry, "") if entry is not None else None
        return self.registry.parse(command_text)


_FILES_ONLY = "I received your file, but I only answer text commands. Send `help` to see them."


def _failed(name: str) -> str:
    return f"Sorry, the command `{name}` failed. The error has been logged; please try again later."


def _input_text(inputs: Mapping[str, Any], name: str) -> str:
    value = inputs.get(name)
    return str(value).strip() if value is not None else ""
