"""The topic catalog: every topic wxstream reads or writes, with its Kafka settings.

Event topics keep their records for as long as the retention setting says (forever by
default) and are never compacted, because the log is the audit trail. Every keyed topic
uses the same partition count so that one conversation key maps to the same partition
number everywhere, and so the tables that the worker derives from these topics can be
co-partitioned with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wxstream.settings import Settings


class Topic(StrEnum):
    """Logical topic names, without the configurable prefix."""

    WEBEX_WEBHOOKS = "webex.webhooks"
    WEBEX_MESSAGES = "webex.messages"
    BACKEND_EVENTS = "backend.events"
    OUTBOUND_MESSAGES = "outbound.messages"
    OUTBOUND_DELIVERIES = "outbound.deliveries"
    OUTBOUND_DEAD_LETTER = "outbound.dead-letter"
    INBOUND_DEAD_LETTER = "inbound.dead-letter"


TOPIC_DESCRIPTIONS: dict[Topic, str] = {
    Topic.WEBEX_WEBHOOKS: "raw Webex webhook bodies, byte for byte, with envelope headers",
    Topic.WEBEX_MESSAGES: "fetched messages, card actions and bot memberships",
    Topic.BACKEND_EVENTS: "alerts and other back-end events",
    Topic.OUTBOUND_MESSAGES: "messages to deliver to Webex, each with a stable id",
    Topic.OUTBOUND_DELIVERIES: "every delivery attempt and its outcome",
    Topic.OUTBOUND_DEAD_LETTER: "messages that failed permanently or exhausted retries",
    Topic.INBOUND_DEAD_LETTER: "inbound events that could not be parsed or fetched",
}


@dataclass(frozen=True)
class TopicSpec:
    """The name and broker settings of one topic."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicCatalog:
    """Maps logical topics to prefixed names and their settings."""

    prefix: str = "wxstream."
    partitions: int = 12
    replication_factor: int = 1
    retention_ms: int = -1

    def name(self, topic: Topic) -> str:
        return f"{self.prefix}{topic.value}"

    def spec(self, topic: Topic) -> TopicSpec:
        config = {
            "cleanup.policy": "delete",
            "retention.ms": str(self.retention_ms),
            # Seeking by time (audit, replay) relies on the producer's timestamp.
            "message.timestamp.type": "CreateTime",
        }
        if self.replication_factor > 1:
            config["min.insync.replicas"] = str(min(2, self.replication_factor))
        return TopicSpec(self.name(topic), self.partitions, self.replication_factor, config)

    def specs(self) -> list[TopicSpec]:
        return [self.spec(topic) for topic in Topic]

    def topic_of(self, name: str) -> Topic | None:
        """Return the logical topic of a prefixed name, or None for a foreign topic."""
        if not name.startswith(self.prefix):
            return None
        try:
            return Topic(name.removeprefix(self.prefix))
        except ValueError:
            return None


def catalog_from_settings(settings: Settings) -> TopicCatalog:
    return TopicCatalog(
        prefix=settings.topic_prefix,
        partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
        retention_ms=settings.topic_retention_ms,
    )
