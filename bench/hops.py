"""Latency of each hop of wxstream's chain, from the records' timestamps.

Every record carries the time its producer created it, and every derived event carries
the id of the webhook that started its chain (``ce_correlationid``). The time between a
webhook's record and the enricher's record derived from it covers the broker, faust's
consumer, the enricher's fetch from Webex and its produce call, and so on for each hop.
Producers on one machine share one clock, so the differences are meaningful to about a
millisecond (the timestamps' resolution).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Message

from bench.kafka_io import read_messages
from schemas.topics import Topic, TopicCatalog

ID_HEADER = "ce_id"
CORRELATION_HEADER = "ce_correlationid"

# Each hop: its label, the topic it starts from and the topic it ends in.
HOPS: tuple[tuple[str, Topic, Topic], ...] = (
    ("webhook logged -> enricher output", Topic.WEBEX_WEBHOOKS, Topic.WEBEX_MESSAGES),
    ("enricher output -> command router output", Topic.WEBEX_MESSAGES, Topic.OUTBOUND_MESSAGES),
    (
        "command router output -> delivery logged (includes the post to Webex)",
        Topic.OUTBOUND_MESSAGES,
        Topic.OUTBOUND_DELIVERIES,
    ),
)


@dataclass
class Hop:
    """One hop's label and the latency of each chain that passed it, in milliseconds."""

    label: str
    latencies_ms: list[float]


def hop_latencies(bootstrap: str, prefix: str, start: float, end: float) -> list[Hop]:
    """Return each hop's latencies for the webhooks logged between ``start`` and ``end``.

    ``start`` and ``end`` are Unix times in seconds.
    """
    catalog = TopicCatalog(prefix=prefix)
    webhooks = {
        key: seconds
        for key, seconds in _record_times(
            read_messages(bootstrap, catalog.name(Topic.WEBEX_WEBHOOKS)), ID_HEADER
        ).items()
        if start <= seconds <= end
    }
    times: dict[Topic, dict[str, float]] = {Topic.WEBEX_WEBHOOKS: webhooks}
    for _, _, topic in HOPS:
        records = read_messages(bootstrap, catalog.name(topic))
        times[topic] = _record_times(records, CORRELATION_HEADER)
    hops = []
    for label, begin_topic, end_topic in HOPS:
        began, ended = times[begin_topic], times[end_topic]
        chains = began.keys() & ended.keys() & webhooks.keys()
        hops.append(Hop(label, [(ended[key] - began[key]) * 1000 for key in chains]))
    return hops


def _record_times(messages: Iterable[Message], header: str) -> dict[str, float]:
    """Return the earliest record time (Unix seconds) for each value of ``header``."""
    first: dict[str, float] = {}
    for message in messages:
        key = _header(message, header)
        if key is None:
            continue
        seconds = message.timestamp()[1] / 1000
        first[key] = min(seconds, first.get(key, seconds))
    return first


def _header(message: Message, name: str) -> str | None:
    for key, value in message.headers() or []:
        if key == name and value is not None:
            return bytes(value).decode("utf-8", "replace")
    return None
