"""Run an agent's events concurrently and acknowledge them strictly in offset order.

Every agent consumes its topic through :class:`OrderedPipeline`, with faust's automatic
acknowledgement disabled. An event becomes a task in its conversation's lane
(:mod:`processors.lanes`): one conversation's events are handled in the order they
arrived, other conversations in parallel. A handler hands its output records to an
:class:`Outbox` without waiting for the broker. Once the handler returns, a completion
task waits until the broker acknowledged every record of the outbox, runs the outbox's
follow-ups (marking the event as seen, for instance), and only then finishes the
event in the :class:`processors.ordered_acks.AckWindow`. The committed offset
therefore never passes an event whose output is not in the log, while the producer
batches the records of many events into one request.

A task runs in the context copied when the pipeline created it. In that context
faust's current event is the task's own event, so table reads and writes go to the
event's partition.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AsyncExitStack
from typing import Any, cast

import faust
from faust.types import EventT, StreamT

from processors.context import PendingWrite, WorkerContext, dead_letter_record, log_dead_letter
from processors.lanes import ConversationLanes, cancel_and_wait
from processors.ordered_acks import AckWindow, Ticket
from schemas.envelope import Envelope, Record
from schemas.topics import Topic

logger = logging.getLogger(__name__)


# Called with each record of an outbox once the broker has it, and the record's timestamp
# in seconds (None when unknown).
WrittenHook = Callable[[Topic, Record, float | None], None]


class Outbox:
    """The records one event produced, and what to do once the broker has them all."""

    def __init__(self, context: WorkerContext, on_written: WrittenHook | None = None) -> None:
        self._context = context
        self._on_written = on_written
        self.writes: list[PendingWrite] = []
        self._follow_ups: list[Callable[[], None]] = []
        self._releases: list[Callable[[], None]] = []

    async def send(self, topic: Topic, record: Record) -> None:
        """Hand a record to the producer. The event finishes only once the broker has it."""
        write = await self._context.enqueue(topic, record)
        self.writes.append(write)
        if self._on_written is not None:
            # The callback runs in this event's context, so table writes in the hook go to
            # the event's partition.
            asyncio.ensure_future(write.future).add_done_callback(
                functools.partial(self._acknowledged, write), context=contextvars.copy_context()
            )

    def _acknowledged(self, write: PendingWrite, future: asyncio.Future[Any]) -> None:
        if not _succeeded(future):
            return
        timestamp = getattr(future.result(), "timestamp", -1)
        at = timestamp / 1000 if timestamp > 0 else None
        _call_hook(cast(WrittenHook, self._on_written), write.topic, write.record, at)

    async def dead_letter(
        self,
        topic: Topic,
        event: EventT,
        *,
        reason: str,
        stage: str,
        cause: Envelope | None = None,
        **details: Any,
    ) -> None:
        """Hand the event's dead letter to the producer, like :meth:`send`, and log it."""
        record = dead_letter_record(
            topic, event, reason=reason, stage=stage, cause=cause, **details
        )
        await self.send(topic, record)
        log_dead_letter(event, stage, reason)

    def after_confirmed(self, follow_up: Callable[[], None]) -> None:
        """Run ``follow_up`` once every record of this outbox is acknowledged."""
        self._follow_ups.append(follow_up)

    def on_release(self, release: Callable[[], None]) -> None:
        """Run ``release`` when the event is confirmed or abandoned."""
        self._releases.append(release)

    def release(self) -> None:
        """Run the releases once, after the follow-ups or when the event is cancelled."""
        releases, self._releases = self._releases, []
        for release in releases:
            release()

    async def confirm(self) -> None:
        """Wait for every record, sending again any that failed, then run the follow-ups."""
        for write in self.writes:
            await self._context.confirm(write)
            if self._on_written is not None and not _succeeded(write.future):
                # confirm sent the record again, because the first send failed or timed out.
                _call_hook(self._on_written, write.topic, write.record, None)
        for follow_up in self._follow_ups:
            try:
                follow_up()
            except Exception:
                # The output is in the log, so the event still finishes. A follow-up only
                # records facts for later (the dedup table), whose loss costs a repeat.
                logger.exception("a follow-up after confirming an event's output failed")


Handler = Callable[[EventT, Outbox], Awaitable[None]]


class OrderedPipeline:
    """The consumer loop of one agent, with lanes per conversation and in-order acks.

    ``capacity`` is the maximum number of events taken and not yet acknowledged. When
    ``concurrency`` is given, it is the maximum number of handlers running at once, for
    agents that call Webex. ``on_take`` is called with each event admitted to the
    window, before its handler starts, with the event current. ``on_written`` is called
    with each record of a handler's outbox once the broker has it. An exception from
    either is logged.
    """

    def __init__(
        self,
        context: WorkerContext,
        handle: Handler,
        *,
        capacity: int,
        concurrency: int | None = None,
        on_take: Callable[[EventT], None] | None = None,
        on_written: WrittenHook | None = None,
    ) -> None:
        self.context = context
        self.handle = handle
        self.capacity = capacity
        self._on_take = on_take
        self._on_written = on_written
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self._completions: set[asyncio.Task[None]] = set()

    async def consume(self, stream: StreamT) -> None:
        """Start a task per event and acknowledge events in offset order as they finish."""
        manual = cast(faust.Stream, stream).noack()
        window: AckWindow[EventT] = AckWindow(self.capacity, manual.ack)
        lanes = ConversationLanes()
        try:
            async for event in manual.events():
                try:
                    self._start(event, window, lanes)
                except Exception:
                    logger.exception("could not start handling %s", position(event))
                # NOTE: while this waits, faust keeps filling the agent's buffer. Once that
                # buffer is full, faust's one consumer stops for every agent of the worker,
                # so a sender that cannot deliver also holds up the routers.
                await window.wait_for_room()
        finally:
            await lanes.cancel_all()
            await cancel_and_wait(self._completions)

    def _start(self, event: EventT, window: AckWindow[EventT], lanes: ConversationLanes) -> None:
        message = event.message
        # The generation id separates a partition's events read again after a rebalance
        # from the earlier ones, which are still acknowledged in their own order.
        partition: Hashable = (message.tp, message.generation_id)
        latest = window.latest_offset(partition)
        if latest is not None and message.offset <= latest:
            # faust can hand a record over again after it seeks a partition. The first copy
            # is still in the window and is acknowledged in order, so this copy is given up
            # without an acknowledgement and nothing waits for it.
            message.acked = True
            logger.warning(
                "skipping %s: faust handed it over again while its first copy is still "
                "being handled",
                position(event),
            )
            return
        ticket = window.admit(partition, message.offset, event)
        lane: Hashable = (message.topic, message.key or f"partition:{message.partition}")
        if self._on_take is not None:
            _call_hook(self._on_take, event)
        lanes.start(lane, self._run(event, ticket, window))

    async def _run(self, event: EventT, ticket: Ticket[EventT], window: AckWindow[EventT]) -> None:
        """Handle the event, then leave its lane while its output is confirmed."""
        outbox = Outbox(self.context, self._on_written)
        try:
            async with AsyncExitStack() as stack:
                if self._slots is not None:
                    await stack.enter_async_context(self._slots)
                await self.handle(event, outbox)
        except Exception:
            # Handlers catch their own errors. This is a last resort, so that one event
            # cannot stall its partition's acknowledgements for good.
            logger.exception(
                "handling %s failed unexpectedly, so it is acknowledged", position(event)
            )
        except BaseException:
            outbox.release()
            raise
        completion = asyncio.create_task(self._complete(outbox, ticket, window))
        self._completions.add(completion)
        completion.add_done_callback(self._completions.discard)

    @staticmethod
    async def _complete(outbox: Outbox, ticket: Ticket[EventT], window: AckWindow[EventT]) -> None:
        try:
            await outbox.confirm()
        finally:
            outbox.release()
        await window.finish(ticket)


def _call_hook(hook: Callable[..., None], *args: Any) -> None:
    # A hook that raised would leave an admitted event unfinished, stalling its partition.
    try:
        hook(*args)
    except Exception:
        logger.exception("a pipeline hook failed, and the event is handled regardless")


def _succeeded(future: Any) -> bool:
    return bool(future.done() and not future.cancelled() and future.exception() is None)


def position(event: EventT) -> str:
    """Return ``topic[partition]@offset`` of an event, for log lines."""
    message = event.message
    return f"{message.topic}[{message.partition}]@{message.offset}"
