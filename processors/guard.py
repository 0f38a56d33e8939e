"""Keep a stream loop alive: one event's unexpected error dead-letters that event.

faust acknowledges an event whose handler raised and restarts the agent, so the event
would be skipped without a trace. :func:`guarded` catches the error and puts the event
on ``inbound.dead-letter`` with it instead, through the event's outbox, so the event is
acknowledged only once its dead letter is in the log.
"""

from __future__ import annotations

import logging

from faust.types import EventT

from processors.pipeline import Handler, Outbox, position
from schemas.topics import Topic

logger = logging.getLogger(__name__)


def guarded(process: Handler, *, stage: str) -> Handler:
    """Wrap ``process`` so that an unexpected error dead-letters the event instead."""

    async def handle(event: EventT, outbox: Outbox) -> None:
        try:
            await process(event, outbox)
        except Exception as exc:
            logger.exception("%s failed on %s", stage, position(event))
            reason = f"unexpected error: {type(exc).__name__}: {exc}"
            await outbox.dead_letter(Topic.INBOUND_DEAD_LETTER, event, reason=reason, stage=stage)

    return handle
