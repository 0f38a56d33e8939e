"""Idempotent creation of the catalog's topics with confluent-kafka's admin client."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from schemas.topics import TopicCatalog, TopicSpec


class TopicError(Exception):
    """Topics could not be listed or created; the message names the topic and the cause."""


@dataclass(frozen=True)
class TopicResult:
    """What ``ensure_topics`` did with one topic."""

    name: str
    action: str  # "created", "exists" or "mismatch"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.action != "mismatch"


def admin_client(bootstrap: str) -> AdminClient:
    # librdkafka's own connection logs would repeat every few milliseconds while the broker
    # is down; the failure reaches the caller as a TopicError instead.
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, "log_level": 0})


def ensure_topics(
    bootstrap: str, catalog: TopicCatalog, timeout: float = 30.0
) -> list[TopicResult]:
    """Create missing topics; report existing ones whose partition count differs.

    A topic that exists with the expected partition count is left alone. One that exists
    with another count is reported as a mismatch and not changed: changing it would move
    conversations to other partitions and break per-conversation order.
    """
    admin = admin_client(bootstrap)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TopicError(
            f"could not reach the Kafka broker at {bootstrap} within {timeout:.0f} s "
            f"({exc.args[0].str() if exc.args else exc}). Check that it runs "
            "('wxstream kafka status') or set WXSTREAM_KAFKA_BOOTSTRAP_SERVERS."
        ) from exc

    results: list[TopicResult] = []
    missing: list[TopicSpec] = []
    for spec in catalog.specs():
        existing = metadata.topics.get(spec.name)
        if existing is None or existing.error is not None:
            missing.append(spec)
            continue
        count = len(existing.partitions)
        if count != spec.partitions:
            results.append(
                TopicResult(
                    spec.name,
                    "mismatch",
                    f"has {count} partitions, expected {spec.partitions}; it was left as it is. "
                    "Set WXSTREAM_TOPIC_PARTITIONS to match, or recreate the topic",
                )
            )
        else:
            results.append(TopicResult(spec.name, "exists", f"{count} partitions"))

    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=spec.replication_factor,
                    config=spec.config,
                )
                for spec in missing
            ],
            request_timeout=timeout,
            operation_timeout=timeout,
        )
        for spec in missing:
            try:
                futures[spec.name].result(timeout=timeout)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if getattr(error, "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                    results.append(TopicResult(spec.name, "exists", "created concurrently"))
                    continue
                raise TopicError(f"could not create topic {spec.name}: {exc}") from exc
            results.append(TopicResult(spec.name, "created", f"{spec.partitions} partitions"))

    created = [result.name for result in results if result.action == "created"]
    if created:
        _wait_for_leaders(admin, created, timeout)
    order = {spec.name: index for index, spec in enumerate(catalog.specs())}
    return sorted(results, key=lambda result: order[result.name])


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Wait until every partition of the new topics has a leader, so clients can use them."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout)
        leaderless = [
            name
            for name in names
            if name not in metadata.topics
            or not metadata.topics[name].partitions
            or any(p.leader < 0 for p in metadata.topics[name].partitions.values())
        ]
        if not leaderless:
            return
        if time.monotonic() > deadline:
            raise TopicError(f"topics {leaderless} have no partition leader after {timeout} s")
        time.sleep(0.2)
