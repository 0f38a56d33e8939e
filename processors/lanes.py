"""Per-conversation lanes: one task at a time per key, different keys in parallel.

:meth:`ConversationLanes.start` runs a coroutine as a task that first waits for the
previous task started with the same key, so a conversation's messages are handled in
the order they were started. Tasks of other keys do not wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Hashable
from typing import Any

logger = logging.getLogger(__name__)


class ConversationLanes:
    """Chains tasks by key and keeps the tasks that have not finished yet."""

    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, key: Hashable, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` after the last task started with ``key`` has finished.

        The task is created in the caller's context, so context variables set by the
        caller (faust's current event) are the ones ``work`` sees.
        """
        previous = self._tails.get(key)
        task = asyncio.create_task(self._after(previous, work))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    @staticmethod
    async def _after(previous: asyncio.Task[None] | None, work: Coroutine[Any, Any, None]) -> None:
        try:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
        except BaseException:
            work.close()
            raise
        await work

    def _forget(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
        if not task.cancelled() and task.exception() is not None:
            logger.error("conversation task failed", exc_info=task.exception())

    async def cancel_all(self) -> None:
        """Cancel every unfinished task and wait for them to end."""
        await cancel_and_wait(self._tasks)


async def cancel_and_wait(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel every task of a snapshot of ``tasks`` and wait for them to end."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
