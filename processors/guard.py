"""Keep a stream loop alive: one event's unexpected error dead-letters that event.

faust acknowledges an event whose handler raised and restarts the agent, so the event
would be skipped without a trace. Catching here records it on ``inbound.dead-letter``
with the error instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from faust.types import EventT

from processors.context import WorkerContext
from schemas.topics import Topic

logger = logging.getLogger(__name__)


async def guarded(
    context: WorkerContext,
    event: EventT,
    process: Callable[[EventT], Awaitable[None]],
    *,
    stage: str,
) -> None:
    """Run ``process`` on one event; an unexpected error dead-letters the event instead."""
    try:
        await process(event)
    except Exception as exc:
        logger.exception("%s failed on %s", stage, position(event))
        try:
            await context.dead_letter(
                Topic.INBOUND_DEAD_LETTER,
                event,
                reason=f"unexpected error: {type(exc).__name__}: {exc}",
                stage=stage,
            )
        except Exception:
            # NOTE: the event is then acknowledged without a dead letter; the log line
            # above and this one are its only trace.
            logger.exception("dead-lettering %s failed; the event is skipped", position(event))


def position(event: EventT) -> str:
    """Return ``topic[partition]@offset`` of an event, for log lines."""
    message = event.message
    return f"{message.topic}[{message.partition}]@{message.offset}"
