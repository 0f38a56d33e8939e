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
import time
from collections.abc import MutableMapping
from typing import Any, cast

from confluent_kafka.admin import AdminClient

from processors.context import WorkerContext
from schemas.topics import Topic

logger = logging.getLogger(__name__)

TABLE_NAME = "delivered"
WRITE_ATTEMPTS = 3
WRITE_PAUSE_SECONDS = 1.0
METADATA_TIMEOUT_SECONDS = 10.0
CHANGELOG_WAIT_SECONDS = 60.0


class DeliveredTable:
    """Looks up and records delivered part ids in the changelogged table."""

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self.table = context.app.Table(
            TABLE_NAME,
            partitions=context.catalog.partitions,
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
        """Check the changelog's partition count against the broker and tell faust it matched.

        faust checks the count on the first write against the consumer group's metadata
        snapshot from the last join. For a changelog created just before that join, the
        snapshot can show 0 partitions until the next metadata refresh (5 minutes by
        default), and every write fails meanwhile. This method reads the count from the
        broker's metadata instead.
        """
        source = self.context.catalog.name(Topic.OUTBOUND_MESSAGES)
        changelog = self.table.changelog_topic.get_topic_name()
        expected = self.context.catalog.partitions
        try:
            found = await asyncio.to_thread(
                _wait_for_partitions, self.context.settings.bootstrap_servers, changelog
            )
        except Exception as exc:
            logger.error("reading the partitions of %s failed: %r", changelog, exc)
            return
        if found != expected:
            logger.error(
                "changelog topic %s has %d partitions but %s has %d; delete the changelog "
                "topic so the worker recreates it, or set WXSTREAM_TOPIC_PARTITIONS=%d",
                changelog,
                found,
                source,
                expected,
                found,
            )
            return
        # NOTE: a private set of faust 0.15.3 (Collection._verified_source_topics_for_partitions)
        # caches the check; adding the topic skips the stale snapshot comparison.
        verified = cast(Any, self.table)._verified_source_topics_for_partitions
        verified.add(source)


def _wait_for_partitions(bootstrap: str, topic: str) -> int:
    """Return the topic's partition count once the broker reports any, or 0 on timeout."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + CHANGELOG_WAIT_SECONDS
    while True:
        metadata = admin.list_topics(topic, timeout=METADATA_TIMEOUT_SECONDS)
        described = metadata.topics.get(topic)
        count = (
            len(described.partitions) if described is not None and described.error is None else 0
        )
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.5)
