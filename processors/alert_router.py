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

from faust.types import EventT, StreamT

from processors.alerts import AlertRouteError, alert_message
from processors.changelogs import verify_changelog_partitions
from processors.context import WorkerContext, event_headers
from processors.dedup import SeenKeys, seen_table
from processors.guard import guarded
from processors.pipeline import OrderedPipeline, Outbox
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
    """Turns one ``backend.events`` record into a message, for the alert router agent."""

    def __init__(self, seen: SeenKeys) -> None:
        self.seen = seen

    async def process(self, event: EventT, outbox: Outbox) -> None:
        try:
            envelope = decode_headers(event_headers(event))
            alert = decode_payload(envelope, event.value, BackendEvent)
        except EventDecodeError as exc:
            await outbox.dead_letter(
                Topic.INBOUND_DEAD_LETTER, event, reason=str(exc), stage="decode"
            )
            return
        if envelope.type != ALERT_RAISED and not alert.to:
            logger.info("event %s of type %s has no 'to'; not routed", envelope.id, envelope.type)
            return
        if self.seen.seen(envelope.id):
            logger.info("skipped duplicate back-end event %s", envelope.id)
            return

        try:
            outbound = alert_message(envelope.id, alert)
        except (AlertRouteError, ValueError) as exc:
            await outbox.dead_letter(
                Topic.INBOUND_DEAD_LETTER, event, reason=str(exc), stage="alert", cause=envelope
            )
            return
        await self._emit(outbox, envelope, outbound)
        self.seen.claim(envelope.id, outbox)

    async def _emit(self, outbox: Outbox, cause: Envelope, outbound: OutboundMessage) -> None:
        key = outbound.conversation_key
        envelope = Envelope.new(
            type=OUTBOUND_REQUESTED,
            source=SOURCE_WORKER,
            subject=key,
            id=outbound.message_id,
            cause=cause,
        )
        await outbox.send(Topic.OUTBOUND_MESSAGES, encode_event(envelope, key, outbound))
        # DEBUG, not INFO: alert storms make this the busiest line of the worker, and the
        # outbound event on the topic records the same facts.
        logger.debug("alert %s routed as message %s to %s", cause.id, outbound.message_id, key)


def register(context: WorkerContext) -> None:
    """Define the alert router agent and its table of seen event ids."""
    seen = seen_table(context, "alert-router-dedup", help="Back-end event ids already routed.")
    router = AlertRouter(SeenKeys(seen))
    pipeline = OrderedPipeline(
        context,
        guarded(router.process, stage="alert"),
        capacity=context.settings.worker_max_pending_events,
    )

    @context.app.agent(context.topic(Topic.BACKEND_EVENTS), name="alert-router")
    async def route_alerts(stream: StreamT) -> None:
        await verify_changelog_partitions(context, seen, [Topic.BACKEND_EVENTS])
        await pipeline.consume(stream)
