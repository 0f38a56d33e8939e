"""The delivered table: the Webex message id of every delivered part, by part id.

The table is a changelogged faust Table with as many partitions as the outbound topic.
Reads and writes go to the partition of faust's current event, so they must run in a
task created while that event was current (see :mod:`processors.sender`).

A failed write after Webex accepted a part is retried a few times and then given up,
never raised: raising would make the caller handle the message again and post it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import cast

from processors.changelogs import verify_changelog_partitions
from processors.context import WorkerContext
from schemas.topics import Topic

logger = logging.getLogger(__name__)

TABLE_NAME = "delivered"
WRITE_ATTEMPTS = 3
WRITE_PAUSE_SECONDS = 1.0


class DeliveredTable:
    """Looks up and records delivered part ids in the changelogged table."""

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self.table = context.table(
            TABLE_NAME,
            key_type=str,
            value_type=str,
            help="Webex message id of every delivered part, by part id",
        )
        self._data = cast(MutableMapping[str, str], self.table)

    def get(self, part_id: str) -> str | None:
        return self._data.get(part_id)

    async def record(self, part_id: str, webex_id: str) -> None:
        """Record a delivered part; log and give up after a few failed writes."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self._data[part_id] = webex_id
                return
            except Exception as exc:
                logger.error(
                    "recording part %s as delivered failed (attempt %d of %d): %r",
                    part_id,
                    attempt,
                    WRITE_ATTEMPTS,
                    exc,
                )
            await asyncio.sleep(WRITE_PAUSE_SECONDS)
        logger.error(
            "part %s was delivered as %s but is not in the %s table; a replay may post it again",
            part_id,
            webex_id,
            TABLE_NAME,
        )

    async def verify_partitions(self) -> None:
        """Check the changelog's partition count against the broker before the first write."""
        await verify_changelog_partitions(self.context, self.table, [Topic.OUTBOUND_MESSAGES])
