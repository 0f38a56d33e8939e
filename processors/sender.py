"""The sender agent: deliver ``outbound.messages`` to Webex at least once.

The sender consumes through :class:`processors.pipeline.OrderedPipeline`: one
conversation's messages are posted in order while other conversations proceed in
parallel, with at most ``sender_max_in_flight`` requests to Webex at a time. An event
is acknowledged once it is finished (delivered, skipped or dead-lettered, with every
attempt event in the log) and every earlier event of its partition is finished too, so
the committed offset never passes an unfinished message. The sender stops taking events
while ``sender_max_pending_events`` are unacknowledged. It also keeps the message
status view (:mod:`processors.status`) as it takes messages and writes attempts and
dead letters.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.types import EventT, StreamT

from processors.context import WorkerContext
from processors.delivered_table import DeliveredTable
from processors.delivery import DeliveryFailure, MessageDelivery
from processors.pipeline import OrderedPipeline, Outbox, position
from processors.retry import RetryPolicy
from processors.status import StatusView
from schemas.envelope import Envelope
from schemas.events import (
    DELIVERY_ATTEMPTED,
    SOURCE_WORKER,
    EventDecodeError,
    decode_headers,
    decode_payload,
    encode_event,
    model_for,
)
from schemas.payloads import DeliveryAttempt, OutboundMessage
from schemas.topics import Topic
from wxstream.settings import require

logger = logging.getLogger(__name__)

STAGE_DECODE = "sender.decode"
STAGE_DELIVER = "sender.deliver"
STAGE_INTERNAL = "sender.internal"
# An event whose handling raises unexpectedly (not a Webex error: a broker timeout, a
# bug) is handled again after a pause, and dead-lettered after this many rounds.
MAX_HANDLING_ROUNDS = 5
MAX_HANDLING_PAUSE_SECONDS = 30.0


def register(context: WorkerContext) -> None:
    """Define the delivered and status tables and the sender agent; the token must be set."""
    require(context.settings, "webex_token")
    sender = Sender(context, DeliveredTable(context), StatusView(context))

    @context.app.agent(context.topic(Topic.OUTBOUND_MESSAGES), name="sender")
    async def deliver_outbound(stream: StreamT) -> None:
        await sender.consume(stream)


class Sender:
    """Consumes outbound messages and delivers them; one per worker process."""

    def __init__(
        self, context: WorkerContext, delivered: DeliveredTable, status: StatusView
    ) -> None:
        settings = context.settings
        self.context = context
        self.delivered = delivered
        self.status = status
        self.pipeline = OrderedPipeline(
            context,
            self._handle,
            capacity=settings.sender_max_pending_events,
            on_take=status.fold_taken,
            on_written=status.fold_written,
        )
        self.delivery = MessageDelivery(
            post=self._post,
            governor=context.governor(),
            policy=RetryPolicy.from_settings(settings),
            slots=asyncio.Semaphore(settings.sender_max_in_flight),
            delivered=delivered,
        )

    async def _post(self, body: dict[str, Any]) -> Any:
        return await self.context.webex().post_message(body)

    async def consume(self, stream: StreamT) -> None:
        """Deliver every event of the stream; see :class:`OrderedPipeline`."""
        await self.delivered.verify_partitions()
        await self.status.verify_partitions()
        await self.pipeline.consume(stream)

    async def _handle(self, event: EventT, outbox: Outbox) -> None:
        """Deliver the event; an unexpected error is retried, then dead-lettered."""
        for round_number in range(1, MAX_HANDLING_ROUNDS + 1):
            try:
                await self._process(event, outbox)
                return
            except Exception:
                logger.exception(
                    "handling %s failed unexpectedly (round %d of %d)",
                    position(event),
                    round_number,
                    MAX_HANDLING_ROUNDS,
                )
            if round_number == MAX_HANDLING_ROUNDS:
                await self._dead_letter_forever(event, outbox)
                return
            await asyncio.sleep(min(MAX_HANDLING_PAUSE_SECONDS, 2.0**round_number))

    async def _process(self, event: EventT, outbox: Outbox) -> None:
        try:
            envelope, message = _decode(event)
        except EventDecodeError as exc:
            await outbox.dead_letter(
                Topic.OUTBOUND_DEAD_LETTER, event, reason=str(exc), stage=STAGE_DECODE
            )
            return

        key = _conversation_key(event, message)

        async def report(attempt: DeliveryAttempt) -> None:
            attempt_envelope = Envelope.new(
                type=DELIVERY_ATTEMPTED, source=SOURCE_WORKER, subject=key, cause=envelope
            )
            await outbox.send(
                Topic.OUTBOUND_DELIVERIES, encode_event(attempt_envelope, key, attempt)
            )

        failure = await self.delivery.deliver(message, report)
        if failure is not None:
            await _dead_letter_failure(outbox, event, envelope, message, failure)

    async def _dead_letter_forever(self, event: EventT, outbox: Outbox) -> None:
        """Dead-letter an event that keeps failing; its outbox confirms the dead letter.

        The event stays unacknowledged until the broker has the dead letter, so a broker
        outage delays it but never loses it.
        """
        reason = f"handling failed unexpectedly {MAX_HANDLING_ROUNDS} times; see the worker log"
        while True:
            try:
                await outbox.dead_letter(
                    Topic.OUTBOUND_DEAD_LETTER, event, reason=reason, stage=STAGE_INTERNAL
                )
                return
            except Exception:
                logger.exception("dead-lettering %s failed; trying again", position(event))
                await asyncio.sleep(MAX_HANDLING_PAUSE_SECONDS)


async def _dead_letter_failure(
    outbox: Outbox,
    event: EventT,
    envelope: Envelope,
    message: OutboundMessage,
    failure: DeliveryFailure,
) -> None:
    error = failure.error
    await outbox.dead_letter(
        Topic.OUTBOUND_DEAD_LETTER,
        event,
        reason=failure.reason,
        stage=STAGE_DELIVER,
        cause=envelope,
        status_code=error.status_code if error else None,
        error_body=error.body if error else None,
        tracking_id=error.tracking_id if error else None,
        message_id=message.message_id,
    )


def _decode(event: EventT) -> tuple[Envelope, OutboundMessage]:
    envelope = decode_headers(_header_pairs(event))
    model = model_for(envelope.type)
    if model is not OutboundMessage:
        raise EventDecodeError(
            f"event {envelope.id} has type {envelope.type}, which is not an outbound message"
        )
    return envelope, decode_payload(envelope, event.message.value, OutboundMessage)


def _header_pairs(event: EventT) -> list[tuple[str, bytes | str | None]]:
    headers = event.headers
    if headers is None:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)


def _conversation_key(event: EventT, message: OutboundMessage) -> str:
    raw = event.message.key
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
        if text:
            return text
    return message.conversation_key
