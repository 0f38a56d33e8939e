"""Check a table's changelog partitions against the broker before the table's first write.

faust checks, on a table's first write from each source topic, that the changelog topic
has as many partitions as the source. It reads both counts from the consumer group's
metadata snapshot of the last join. For a changelog created just before that join, the
snapshot can show 0 partitions until the next metadata refresh (5 minutes by default),
and every write fails meanwhile. :func:`verify_changelog_partitions` reads the count
from the broker instead and, when it matches, marks the sources as verified.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, cast

from confluent_kafka.admin import AdminClient

from processors.context import WorkerContext
from schemas.topics import Topic

logger = logging.getLogger(__name__)

METADATA_TIMEOUT_SECONDS = 10.0
CHANGELOG_WAIT_SECONDS = 60.0


async def verify_changelog_partitions(
    context: WorkerContext, table: Any, sources: Iterable[Topic]
) -> bool:
    """Compare the changelog's partition count with the catalog's; return whether it matched.

    ``table`` is a faust table, or the window wrapper of one. A mismatch is logged with
    the fix, and faust's own check then fails each write with the same complaint.
    """
    table = getattr(table, "table", table)
    changelog = table.changelog_topic.get_topic_name()
    expected = context.catalog.partitions
    try:
        found = await asyncio.to_thread(
            _wait_for_partitions, context.settings.bootstrap_servers, changelog
        )
    except Exception as exc:
        logger.error("reading the partitions of %s failed: %r", changelog, exc)
        return False
    if found != expected:
        logger.error(
            "changelog topic %s has %d partitions but the catalog topics have %d; delete the "
            "changelog topic so the worker recreates it, or set WXSTREAM_TOPIC_PARTITIONS=%d",
            changelog,
            found,
            expected,
            found,
        )
        return False
    # NOTE: a private set of faust 0.15.3 (Collection._verified_source_topics_for_partitions)
    # caches the check; adding the sources skips the stale snapshot comparison.
    verified = cast(set[str], table._verified_source_topics_for_partitions)
    verified.update(context.catalog.name(topic) for topic in sources)
    return True


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
