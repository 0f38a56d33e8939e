"""Prometheus metrics of one ingest application, in its own registry.

Each application owns a CollectorRegistry, so several applications can live in one
process (tests, benchmarks) without colliding on metric names.
"""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Buckets in seconds, around the expected 1-50 ms append latency of a healthy broker.
APPEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

UNMATCHED_ROUTE = "unmatched"
# Labelled children kept per metric. Routes x methods x statuses stay well below it.
LABELLED_CHILDREN = 1024


class IngestMetrics:
    """Request counts, append latency and failures, appends in flight, producer renewals."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "wxstream_ingest_requests",
            "HTTP responses sent, by route template, method and status code",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.append_seconds = Histogram(
            "wxstream_ingest_append_seconds",
            "Seconds from produce() to the broker's acknowledgement, by topic",
            ("topic",),
            buckets=APPEND_BUCKETS,
            registry=self.registry,
        )
        self.append_failures = Counter(
            "wxstream_ingest_append_failures",
            "Appends the broker did not acknowledge, by topic and reason",
            ("topic", "reason"),
            registry=self.registry,
        )
        self.producer_renewals = Counter(
            "wxstream_ingest_producer_renewals",
            "Kafka producers replaced after a fatal error",
            registry=self.registry,
        )
        self.appends_in_flight = Gauge(
            "wxstream_ingest_appends_in_flight",
            "Appends waiting for the broker's acknowledgement",
            registry=self.registry,
        )

        # Looking a labelled child up took about 5 % of a webhook request's CPU in a py-spy
        # profile, and the label sets are few, so each child is made once and reused.
        self.request_counter = lru_cache(maxsize=LABELLED_CHILDREN)(self.requests.labels)
        self.append_histogram = lru_cache(maxsize=LABELLED_CHILDREN)(self.append_seconds.labels)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
