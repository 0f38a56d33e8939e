"""The command router agent: events on ``webex.messages`` to replies on ``outbound.messages``.

A received message runs the command it names, a card submission runs the command in its
``command`` input, and the bot joining a room posts a welcome. Each reply's id is derived
from the input event's id, so reprocessing an input yields the same outbound id and the
sender does not post twice. Untrusted senders get no reply; the decision is logged.
"""

from __future__ import annotations

import logging

from faust.types import EventT, StreamT

from processors.commands import load_command_modules
from processors.context import WorkerContext, event_headers
from processors.fetching import FetchFailed, fetch_with_retry
from processors.guard import guarded
from processors.pipeline import OrderedPipeline, Outbox
from processors.replies import reply_for
from processors.routing import Bot, Decision, Router
from schemas.envelope import Envelope
from schemas.events import (
    BOT_ADDED,
    CARD_SUBMITTED,
    MESSAGE_RECEIVED,
    OUTBOUND_REQUESTED,
    SOURCE_WORKER,
    EventDecodeError,
    decode_event,
    encode_event,
)
from schemas.payloads import BotAdded, CardSubmitted, OutboundMessage, ReceivedMessage
from schemas.topics import Topic

logger = logging.getLogger(__name__)

ROUTED_TYPES = frozenset({MESSAGE_RECEIVED, CARD_SUBMITTED, BOT_ADDED})
Routed = ReceivedMessage | CardSubmitted | BotAdded


class CommandRouter:
    """Turns one ``webex.messages`` record into a reply, for the router agent."""

    def __init__(self, context: WorkerContext, router: Router) -> None:
        self.context = context
        self.router = router

    async def process(self, event: EventT, outbox: Outbox) -> None:
        decoded = await self._decode(event, outbox)
        if decoded is None:
            return
        envelope, payload = decoded

        try:
            identity = await fetch_with_retry(
                "GET /people/me", self.context.bot_identity, governor=self.context.governor()
            )
        except FetchFailed as exc:
            await outbox.dead_letter(
                Topic.INBOUND_DEAD_LETTER,
                event,
                reason=str(exc),
                stage="route",
                cause=envelope,
                status_code=exc.error.status_code,
                tracking_id=exc.error.tracking_id,
            )
            return
        bot = Bot(identity.id, identity.display_name)

        decision = await self._decide(payload, bot)
        if decision.reply is None:
            logger.info("no reply to %s %s: %s", envelope.type, envelope.id, decision.reason)
            return
        outbound = reply_for(envelope, payload, decision.reply)
        await self._emit(outbox, envelope, outbound, decision)

    async def _decode(self, event: EventT, outbox: Outbox) -> tuple[Envelope, Routed] | None:
        try:
            envelope, payload = decode_event(event_headers(event), event.value)
        except EventDecodeError as exc:
            await outbox.dead_letter(
                Topic.INBOUND_DEAD_LETTER, event, reason=str(exc), stage="decode"
            )
            return None
        if envelope.type not in ROUTED_TYPES or not isinstance(payload, Routed):
            reason = f"event type {envelope.type!r} is not routed by the command router"
            await outbox.dead_letter(
                Topic.INBOUND_DEAD_LETTER, event, reason=reason, stage="decode", cause=envelope
            )
            return None
        return envelope, payload

    async def _decide(self, payload: Routed, bot: Bot) -> Decision:
        if isinstance(payload, ReceivedMessage):
            return await self.router.answer_message(payload, bot)
        if isinstance(payload, CardSubmitted):
            return await self.router.answer_card(payload, bot)
        return self.router.welcome(payload, bot)

    async def _emit(
        self, outbox: Outbox, cause: Envelope, outbound: OutboundMessage, decision: Decision
    ) -> None:
        key = outbound.conversation_key
        envelope = Envelope.new(
            type=OUTBOUND_REQUESTED,
            source=SOURCE_WORKER,
            subject=key,
            id=outbound.message_id,
            cause=cause,
        )
        await outbox.send(Topic.OUTBOUND_MESSAGES, encode_event(envelope, key, outbound))
        logger.info(
            "reply %s to %s %s: %s%s",
            outbound.message_id,
            cause.type,
            cause.id,
            decision.reason,
            f" ({decision.command})" if decision.command else "",
        )


def register(context: WorkerContext) -> None:
    """Define the command router agent, with every command module loaded."""
    registry = load_command_modules()
    handler = CommandRouter(context, Router(registry, context.settings))
    pipeline = OrderedPipeline(
        context,
        guarded(handler.process, stage="route"),
        capacity=context.settings.worker_max_pending_events,
    )

    @context.app.agent(context.topic(Topic.WEBEX_MESSAGES), name="command-router")
    async def route_commands(stream: StreamT) -> None:
        await pipeline.consume(stream)
