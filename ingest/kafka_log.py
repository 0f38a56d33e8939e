"""Logging of librdkafka client errors for the ingest service's Kafka clients.

librdkafka reports a broker that is down again and again, through the error callback and
through its own log on stderr. Each client of the service keeps only emergencies of that
log, sent to the ``ingest.kafka`` logger, and logs each error code of the error callback
at most once per interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

ERROR_LOG_INTERVAL_SECONDS = 10.0


class ClientErrorLog:
    """The error callback of one client: logs each error code at most once per interval."""

    def __init__(
        self,
        logger: logging.Logger,
        client: str,
        interval: float = ERROR_LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._client = client
        self._interval = interval
        self._clock = clock
        self._logged_at: dict[int, float] = {}

    def __call__(self, error: KafkaError) -> None:
        now = self._clock()
        logged_at = self._logged_at.get(error.code())
        if logged_at is not None and now - logged_at < self._interval:
            return
        self._logged_at[error.code()] = now
        self._logger.warning("Kafka %s error: %s", self._client, error.str())

    def client_config(self) -> dict[str, Any]:
        """Return the librdkafka settings that route the client's errors through this log."""
        return {
            "error_cb": self,
            "logger": logging.getLogger("ingest.kafka"),
            "log_level": 0,
        }
