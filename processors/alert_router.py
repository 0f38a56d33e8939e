"""The alert router agent: back-end events on ``backend.events`` to ``outbound.messages``.

An alert (type ``ALERT_RAISED``), or any other back-end event that carries ``to``, becomes
one message: the subject, a blank line, then the message. An alert without a route is
dead-lettered with the reason; other events without ``to`` are not for this router and
stay in the log only. An event id seen before (a retried producer, a replay) is skipped,
and the outbound id derives from the event id, so the sender suppresses any repeat the
table misses.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import EventT, StreamT

from processors.alerts import AlertRouteError, alert_message
from processors.context import WorkerContext, event_headers
from processors.dedup import already_seen, seen_table
from processors.guard import guarded
from schemas.envelope import Envelope
from schemas.events import (
    ALERT_RAISED,
    OUTBOUND_REQUESTED,
    SOURCE_WORKER,
    EventDecodeError,
    decode_headers,
    decode_payload,
    encode_event,
)
from schemas.payloads import BackendEvent, OutboundMessage
from schemas.topics import Topic

logger = logging.getLogger(__name__)


class AlertRouter:
    """Processes one ``backend.events`` record at a time for the alert router agent."""

    def __init__(self, context: WorkerContext, seen: Any) -> None:
        self.context = context
        self.seen = seen

    async def process(self, event: EventT) -> None:
        try:
            envelope = decode_headers(event_headers(event))
            alert = decode_payload(envelope, event.value, BackendEvent)
        except EventDecodeError as exc:
            await self.context.dead_letter(
                Topic.INBOUND_DEAD_LETTER, event, reason=str(exc), stage="decode"
            )
            return
        if envelope.type != ALERT_RAISED and not alert.to:
            logger.info("event %s of type %s has no 'to'; not routed", envelope.id, envelope.type)
            return
        if self._already_seen(envelope.id):
            logger.info("skipped duplicate back-end event %s", envelope.id)
            return

        try:
            outbound = alert_message(envelope.id, alert)
        except (AlertRouteError, ValueError) as exc:
            await self.context.dead_letter(
                Topic.INBOUND_DEAD_LETTER, event, reason=str(exc), stage="alert", cause=envelope
            )
            return
        await self._emit(envelope, outbound)
        self.seen[envelope.id] = True

    def _already_seen(self, event_id: str) -> bool:
        return already_seen(self.seen, event_id)

    async def _emit(self, cause: Envelope, outbound: OutboundMessage) -> None:
        key = outbound.conversation_key
        envelope = Envelope.new(
            type=OUTBOUND_REQUESTED,
            source=SOURCE_WORKER,
            subject=key,
            id=outbound.message_id,
            cause=cause,
        )
        await self.context.send(Topic.OUTBOUND_MESSAGES, encode_event(envelope, key, outbound))
        logger.info("alert %s routed as message %s to %s", cause.id, outbound.message_id, key)


def register(context: WorkerContext) -> None:
    """Define the alert router agent and its table of seen event ids."""
    seen = seen_table(context, "alert-router-seen", help="Back-end event ids already routed.")
    router = AlertRouter(context, seen)

    @context.app.agent(context.topic(Topic.BACKEND_EVENTS), name="alert-router")
    async def route_alerts(stream: StreamT) -> None:
        async for event in stream.events():
            await guarded(context, event, router.process, stage="alert")
