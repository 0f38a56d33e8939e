"""The message status agent: the worker's view of every outbound message's delivery status.

Why the worker owns the view: the worker already consumes the outbound topics in
partition order, and a faust table gives the view a changelog topic for free. The agent
folds ``outbound.messages``, ``outbound.deliveries`` and ``outbound.dead-letter`` into
one :class:`wxstream.audit.status.MessageStatus` per message id, stored in the
changelogged table ``message-status``. Its changelog topic
(``<prefix>worker-message-status-changelog``) is compacted, so it contains the latest
status of each message and nothing else: the ingest service reads it from the start
into a local on-disk store and serves ``GET /api/v1/messages/{id}`` from there, without
asking the worker and without rereading the event topics.

The three topics are keyed by conversation, so all events of one message arrive in one
partition, and the table writes go to that partition of the changelog. The view is
derived data: an event it cannot fold is logged and skipped, never dead-lettered, since
the event itself stays in the log.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from faust.types import EventT, StreamT

from processors.changelogs import verify_changelog_partitions
from processors.context import WorkerContext
from schemas.topics import Topic
from wxstream.audit.status import STATUS_TABLE, MessageStatus, apply_event, message_id_of

logger = logging.getLogger(__name__)

STATUS_TOPICS = (Topic.OUTBOUND_MESSAGES, Topic.OUTBOUND_DELIVERIES, Topic.OUTBOUND_DEAD_LETTER)


class StatusFolder:
    """Folds one outbound event at a time into the status table."""

    def __init__(self, context: WorkerContext, table: object) -> None:
        self.context = context
        self.table = table

    def fold(self, event: EventT) -> None:
        message = event.message
        topic = self.context.catalog.topic_of(message.topic)
        value = message.value
        if topic is None or not isinstance(value, bytes | bytearray):
            return
        try:
            payload = json.loads(value)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        message_id = message_id_of(topic, payload)
        if message_id is None:
            return

        key = message_id.encode()
        stored = self.table.get(key)  # type: ignore[attr-defined]
        current = MessageStatus.from_bytes(stored) if stored else None
        at = datetime.fromtimestamp(message.timestamp, tz=UTC).isoformat(timespec="milliseconds")
        conversation = message.key.decode("utf-8", errors="replace") if message.key else None
        origin = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        status = apply_event(current, topic, payload, at=at, key=conversation, origin=origin)
        if status is not None:
            self.table[key] = status.to_bytes()  # type: ignore[index]


def register(context: WorkerContext) -> None:
    """Define the status table and the agent that keeps it up to date."""
    table = context.table(
        STATUS_TABLE,
        # bytes keys and values use the raw codec: message id and status JSON as they are.
        key_type=bytes,
        value_type=bytes,
        help="Delivery status of each outbound message, by message id.",
    )
    folder = StatusFolder(context, table)
    names = [context.catalog.name(topic) for topic in STATUS_TOPICS]
    source = context.app.topic(
        *names,
        key_serializer="raw",
        value_serializer="raw",
        partitions=context.catalog.partitions,
        internal=False,
    )

    @context.app.agent(source, name="message-status")
    async def keep_message_status(stream: StreamT) -> None:
        await verify_changelog_partitions(context, table, STATUS_TOPICS)
        async for event in stream.events():
            try:
                folder.fold(event)
            except Exception:
                message = event.message
                logger.exception(
                    "could not fold %s[%s]@%s into the message status view",
                    message.topic,
                    message.partition,
                    message.offset,
                )
