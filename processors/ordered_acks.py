"""Acknowledge events strictly in offset order per partition, however they finish.

faust-streaming 0.15.3 commits, per partition, the end of the first run of consecutive
acknowledged offsets (``Consumer._new_offset``). It skips the check that the offsets
before that run were acknowledged when nothing has been committed yet, or when the
first acknowledged offset is one past the committed one. An acknowledgement that
overtakes an earlier, unfinished event can therefore commit past it. :class:`AckWindow` therefore
acknowledges an event only once every earlier event of its partition has finished, so
the acknowledged offsets always form one run starting at the committed offset.

The window also bounds memory: :meth:`AckWindow.wait_for_room` blocks the consumer
loop while ``capacity`` events are unfinished or waiting for an earlier one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

EventT = TypeVar("EventT")


@dataclass(eq=False)
class Ticket(Generic[EventT]):
    """One admitted event; :meth:`AckWindow.finish` marks it finished."""

    partition: Hashable
    offset: int
    event: EventT
    finished: bool = field(default=False)


class AckWindow(Generic[EventT]):
    """Events taken from a stream and not yet acknowledged, in offset order per partition."""

    def __init__(self, capacity: int, ack: Callable[[EventT], Awaitable[object]]) -> None:
        if capacity < 1:
            raise ValueError(f"window capacity {capacity} is invalid; use 1 or more")
        self.capacity = capacity
        self._ack = ack
        self._pending: dict[Hashable, deque[Ticket[EventT]]] = {}
        self._size = 0
        self._ack_lock = asyncio.Lock()
        self._room = asyncio.Event()
        self._room.set()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return self._size

    def latest_offset(self, partition: Hashable) -> int | None:
        """Return the highest offset of ``partition`` still in the window, if any."""
        queue = self._pending.get(partition)
        return queue[-1].offset if queue else None

    def admit(self, partition: Hashable, offset: int, event: EventT) -> Ticket[EventT]:
        """Add an event; events of one partition must be admitted in offset order."""
        queue = self._pending.setdefault(partition, deque())
        if queue and queue[-1].offset >= offset:
            raise ValueError(
                f"offset {offset} of partition {partition} admitted after offset "
                f"{queue[-1].offset}; events must arrive in offset order"
            )
        ticket = Ticket(partition, offset, event)
        queue.append(ticket)
        self._size += 1
        self._empty.clear()
        if self._size >= self.capacity:
            self._room.clear()
        return ticket

    async def wait_for_room(self) -> None:
        """Wait until fewer than ``capacity`` events are in the window."""
        await self._room.wait()

    async def wait_empty(self) -> None:
        """Wait until every admitted event has been acknowledged."""
        await self._empty.wait()

    async def finish(self, ticket: Ticket[EventT]) -> int:
        """Mark an event finished and acknowledge the finished events at the partition's head.

        Returns how many events were acknowledged. Acknowledgements happen under one lock,
        so two finishing tasks cannot acknowledge a partition's offsets out of order.
        """
        ticket.finished = True
        async with self._ack_lock:
            heads = self._pop_finished_heads(ticket.partition)
            for head in heads:
                await self._ack(head.event)
        self._size -= len(heads)
        if self._size < self.capacity:
            self._room.set()
        if self._size == 0:
            self._empty.set()
        return len(heads)

    def _pop_finished_heads(self, partition: Hashable) -> list[Ticket[EventT]]:
        queue = self._pending.get(partition)
        heads: list[Ticket[EventT]] = []
        while queue and queue[0].finished:
            heads.append(queue.popleft())
        if queue is not None and not queue:
            del self._pending[partition]
        return heads

    def oldest_unfinished(self, partition: Hashable) -> int | None:
        """Return the offset of the partition's oldest unfinished event, or None."""
        queue = self._pending.get(partition)
        return queue[0].offset if queue else None
