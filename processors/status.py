"""The message status view: the delivery status of every outbound message, kept by the sender.

The view folds ``outbound.messages``, ``outbound.deliveries`` and ``outbound.dead-letter``
into one :class:`wxstream.audit.status.MessageStatus` per message id, stored in the
changelogged table ``message-status``. Its changelog topic
(``<prefix>worker-message-status-changelog``) is compacted, so it contains the latest
status of each message and nothing else: the ingest service reads it from the start
into a local on-disk store and serves ``GET /api/v1/messages/{id}`` from there, without
asking the worker and without rereading the event topics.

The sender keeps the view because it takes every outbound message and writes every
attempt and dead letter. It folds a message when it takes it, and an attempt or dead
letter once the broker has the record, with the record's timestamp, through the same
:func:`wxstream.audit.status.apply_event` that a reader of the three topics uses. The
worker therefore does not consume the deliveries and dead-letter topics only to read
its own records back: that added their partitions to every fetch request, and about one
more fetch round per message.

faust writes each table entry to the changelog partition of the current event, so every
fold for a message goes to the partition of the outbound message the sender took. An
event that names no message id is skipped, and a fold that fails is logged. The view is
derived data, and the event itself is in the log either way.

NOTE: records that another producer writes to the deliveries or dead-letter topic are not
folded, and a message waiting behind ``WXSTREAM_SENDER_MAX_PENDING_EVENTS`` unfinished
ones is unknown to the view (404) until the sender takes it.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT

from processors.changelogs import verify_changelog_partitions
from processors.context import WorkerContext
from schemas.envelope import Record
from schemas.topics import Topic
from wxstream.audit.status import STATUS_TABLE, MessageStatus, apply_event, message_id_of

logger = logging.getLogger(__name__)

# The sender's records on these topics are folded once the broker has them.
WRITTEN_TOPICS = (Topic.OUTBOUND_DELIVERIES, Topic.OUTBOUND_DEAD_LETTER)


class StatusView:
    """The changelogged status table and the folding of the sender's events into it."""

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self.table = context.table(
            STATUS_TABLE,
            # bytes keys and values use the raw codec: message id and status JSON as they are.
            key_type=bytes,
            value_type=bytes,
            help="Delivery status of each outbound message, by message id.",
        )

    async def verify_partitions(self) -> None:
        """Check the changelog's partition count against the broker before the first write."""
        await verify_changelog_partitions(self.context, self.table, [Topic.OUTBOUND_MESSAGES])

    def fold_taken(self, event: EventT) -> None:
        """Fold an outbound message the sender has just taken from its topic."""
        message = event.message
        origin = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        key = message.key.decode("utf-8", errors="replace") if message.key else None
        self._fold(
            Topic.OUTBOUND_MESSAGES, message.value, at=message.timestamp, key=key, origin=origin
        )

    def fold_written(self, topic: Topic, record: Record, at: float | None) -> None:
        """Fold a delivery attempt or dead letter of the sender once the broker has it."""
        if topic in WRITTEN_TOPICS:
            self._fold(topic, record.value, at=time.time() if at is None else at, key=record.key)

    def _fold(
        self,
        topic: Topic,
        value: Any,
        *,
        at: float,
        key: str | None,
        origin: dict[str, Any] | None = None,
    ) -> None:
        """Fold one event into its message's status. Skip an event that names no message."""
        try:
            payload = json.loads(value)
        except (TypeError, ValueError, RecursionError):
            # Not JSON, so there is no message id to file it under.
            return
        try:
            message_id = message_id_of(topic, payload) if isinstance(payload, dict) else None
            if message_id is None:
                return
            stored = self.table.get(message_id.encode())
            current = MessageStatus.from_bytes(stored) if stored else None
            moment = datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds")
            status = apply_event(current, topic, payload, at=moment, key=key, origin=origin)
            if status is not None:
                self.table[message_id.encode()] = status.to_bytes()
        except Exception:
            logger.exception("could not fold a %s event into the message status view", topic)
