"""Session fixtures: one real Kafka broker per test run, unique topics per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemas.topics import TopicCatalog
from tests.kafka_harness import KafkaHandle, create_catalog_topics, session_kafka, unique_prefix


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaHandle]:
    with session_kafka(tmp_path_factory.mktemp("broker")) as handle:
        yield handle


@pytest.fixture
def kafka_bootstrap(kafka: KafkaHandle) -> str:
    return kafka.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    return unique_prefix()


@pytest.fixture
def catalog(kafka_bootstrap: str, topic_prefix: str) -> TopicCatalog:
    """The catalog's topics, created under a prefix no other test uses."""
    return create_catalog_topics(kafka_bootstrap, topic_prefix)
