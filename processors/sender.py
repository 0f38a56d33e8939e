"""The sender agent: deliver ``outbound.messages`` to Webex at least once.

One actor consumes the topic with faust's automatic acknowledgement disabled. Each
event becomes a task in its conversation's lane (:mod:`processors.lanes`), so one
conversation's messages are posted in order while other conversations proceed in
parallel, with at most ``sender_max_in_flight`` requests to Webex at a time. An event
is acknowledged through :class:`processors.ordered_acks.AckWindow` once it is finished
(delivered, skipped or dead-lettered, with every attempt event written) and every
earlier event of its partition is finished too, so the committed offset never passes
an unfinished message. The actor stops taking events while
``sender_max_pending_events`` are unacknowledged.

A task runs in the context copied when the actor created it. In that context faust's
current event is the task's own event, so the delivered table's reads and writes go to
the event's partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.types import EventT, StreamT

from processors.context import SEND_TIMEOUT_SECONDS, WorkerContext
from processors.delivered_table import DeliveredTable
from processors.delivery import DeliveryFailure, MessageDelivery
from processors.lanes import ConversationLanes
from processors.ordered_acks import AckWindow, Ticket
from processors.retry import RetryPolicy
from schemas.envelope import Envelope, Record
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
    """Define the delivered table and the sender agent; the Webex token must be set."""
    require(context.settings, "webex_token")
    sender = Sender(context, DeliveredTable(context))

    @context.app.agent(context.topic(Topic.OUTBOUND_MESSAGES), name="sender")
    async def deliver_outbound(stream: StreamT) -> None:
        await sender.consume(stream)


@dataclass(frozen=True)
class PendingWrite:
    """An attempt event handed to the producer, and the future of its acknowledgement."""

    record: Record
    future: Awaitable[Any]


class Sender:
    """Consumes outbound messages and delivers them; one per worker process."""

    def __init__(self, context: WorkerContext, delivered: DeliveredTable) -> None:
        settings = context.settings
        self.context = context
        self.delivered = delivered
        self.capacity = settings.sender_max_pending_events
        self._completions: set[asyncio.Task[None]] = set()
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
        """Start a task per event and acknowledge events in offset order as they finish."""
        await self.delivered.verify_partitions()
        manual = cast(faust.Stream, stream).noack()
        window: AckWindow[EventT] = AckWindow(self.capacity, manual.ack)
        lanes = ConversationLanes()
        try:
            async for event in manual.events():
                try:
                    self._start(event, window, lanes)
                except Exception:
                    logger.exception("could not start delivering %s", _position(event))
                await window.wait_for_room()
        finally:
            await lanes.cancel_all()
            await self._cancel_completions()

    def _start(self, event: EventT, window: AckWindow[EventT], lanes: ConversationLanes) -> None:
        message = event.message
        # The generation id separates a partition's events read again after a rebalance
        # from the earlier ones, which are still acknowledged in their own order.
        partition: Hashable = (message.tp, message.generation_id)
        ticket = window.admit(partition, message.offset, event)
        lane: Hashable = (message.topic, message.key or f"partition:{message.partition}")
        lanes.start(lane, self._handle(event, ticket, window))

    async def _handle(
        self, event: EventT, ticket: Ticket[EventT], window: AckWindow[EventT]
    ) -> None:
        """Deliver the event, then leave its lane while its attempt events are confirmed."""
        writes: list[PendingWrite] = []
        for round_number in range(1, MAX_HANDLING_ROUNDS + 1):
            try:
                await self._process(event, writes)
                break
            except Exception:
                logger.exception(
                    "handling %s failed unexpectedly (round %d of %d)",
                    _position(event),
                    round_number,
                    MAX_HANDLING_ROUNDS,
                )
            if round_number == MAX_HANDLING_ROUNDS:
                await self._dead_letter_forever(event)
                break
            await asyncio.sleep(min(MAX_HANDLING_PAUSE_SECONDS, 2.0**round_number))
        completion = asyncio.create_task(self._complete(ticket, window, writes))
        self._completions.add(completion)
        completion.add_done_callback(self._completions.discard)

    async def _complete(
        self, ticket: Ticket[EventT], window: AckWindow[EventT], writes: list[PendingWrite]
    ) -> None:
        """Wait until the broker confirmed every attempt event, then finish the event.

        A write that failed is sent again until it succeeds, so the event's offset is
        never acknowledged without its attempt events in the log.
        """
        for write in writes:
            await self._confirm(write)
        await window.finish(ticket)

    async def _confirm(self, write: PendingWrite) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(write.future), timeout=SEND_TIMEOUT_SECONDS)
            return
        except Exception as exc:
            logger.error("writing a delivery attempt event failed: %r; sending it again", exc)
        while True:
            try:
                await self.context.send(Topic.OUTBOUND_DELIVERIES, write.record)
                return
            except Exception as exc:
                logger.error("writing a delivery attempt event failed again: %r", exc)
                await asyncio.sleep(MAX_HANDLING_PAUSE_SECONDS)

    async def _cancel_completions(self) -> None:
        completions = list(self._completions)
        for completion in completions:
            completion.cancel()
        if completions:
            await asyncio.wait(completions)

    async def _process(self, event: EventT, writes: list[PendingWrite]) -> None:
        try:
            envelope, message = _decode(event)
        except EventDecodeError as exc:
            await self.context.dead_letter(
                Topic.OUTBOUND_DEAD_LETTER, event, reason=str(exc), stage=STAGE_DECODE
            )
            return

        key = _conversation_key(event, message)

        async def report(attempt: DeliveryAttempt) -> None:
            attempt_envelope = Envelope.new(
                type=DELIVERY_ATTEMPTED, source=SOURCE_WORKER, subject=key, cause=envelope
            )
            record = encode_event(attempt_envelope, key, attempt)
            future = await self.context.topic(Topic.OUTBOUND_DELIVERIES).send(
                key=record.key_bytes, value=record.value, headers=record.headers
            )
            writes.append(PendingWrite(record, future))

        failure = await self.delivery.deliver(message, report)
        if failure is not None:
            await self._dead_letter_failure(event, envelope, message, failure)

    async def _dead_letter_failure(
        self,
        event: EventT,
        envelope: Envelope,
        message: OutboundMessage,
        failure: DeliveryFailure,
    ) -> None:
        error = failure.error
        await self.context.dead_letter(
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

    async def _dead_letter_forever(self, event: EventT) -> None:
        """Dead-letter an event that keeps failing, retrying the write until it succeeds.

        The event stays unacknowledged until then, so a broker outage delays it but never
        loses it.
        """
        reason = f"handling failed unexpectedly {MAX_HANDLING_ROUNDS} times; see the worker log"
        while True:
            try:
                await self.context.dead_letter(
                    Topic.OUTBOUND_DEAD_LETTER, event, reason=reason, stage=STAGE_INTERNAL
                )
                return
            except Exception:
                logger.exception("dead-lettering %s failed; trying again", _position(event))
                await asyncio.sleep(MAX_HANDLING_PAUSE_SECONDS)


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


def _position(event: EventT) -> str:
    message = event.message
    return f"{message.topic}[{message.partition}]@{message.offset}"
