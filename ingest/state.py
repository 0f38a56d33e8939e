"""Shared state of one ingest application's request handlers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from ingest.auth import require_bearer
from ingest.body import parse_json_object, read_body
from ingest.errors import AppendUnavailable
from ingest.idempotency import IdempotencyCache, IdempotentRequest, request_fingerprint
from ingest.metrics import IngestMetrics
from ingest.producer import Acknowledgement, DurableProducer
from ingest.rejections import RejectionLog
from schemas.envelope import Record
from schemas.topics import Topic, TopicCatalog
from wxstream.settings import Settings


@dataclass
class IngestState:
    """Settings, secrets as bytes, topic names, metrics, idempotency keys and the producer."""

    settings: Settings
    catalog: TopicCatalog
    metrics: IngestMetrics
    rejections: RejectionLog
    api_token: bytes
    webhook_secret: bytes | None
    idempotency: IdempotencyCache
    producer: DurableProducer | None = field(default=None)
    _readiness: asyncio.Future[str | None] | None = field(default=None, repr=False)

    @property
    def ingest_topics(self) -> list[str]:
        return [
            self.catalog.name(topic)
            for topic in (Topic.WEBEX_WEBHOOKS, Topic.BACKEND_EVENTS, Topic.OUTBOUND_MESSAGES)
        ]

    async def append(self, topic: Topic, record: Record) -> Acknowledgement:
        if self.producer is None:
            raise AppendUnavailable("the ingest service is not started yet; retry later")
        return await self.producer.append(self.catalog.name(topic), record)

    async def append_idempotent(
        self,
        topic: Topic,
        record: Record,
        request: IdempotentRequest,
    ) -> str:
        """Append ``record`` unless this process already appended the request; return its id.

        Without a key the record is always appended. See ``ingest.idempotency`` for what
        a repeated key returns and how far the check reaches.
        """
        if request.key is None:
            await self.append(topic, record)
            return request.event_id
        return await self.idempotency.append_once(
            request.endpoint,
            request.key,
            request_fingerprint(request.document),
            request.event_id,
            lambda: self.append(topic, record),
        )

    async def check_ready(self, timeout_seconds: float) -> str | None:
        """Return why the service is not ready, or None; concurrent probes share one check.

        The metadata request blocks, so it runs in a worker thread, and at most one runs
        at a time however many probes arrive while the broker is down.
        """
        producer = self.producer
        if producer is None:
            return "the ingest service is not started yet"
        if self._readiness is None or self._readiness.done():
            self._readiness = asyncio.ensure_future(
                asyncio.to_thread(producer.check_ready, self.ingest_topics, timeout_seconds)
            )
        return await asyncio.shield(self._readiness)


def state_of(request: Request) -> IngestState:
    state: IngestState = request.app.state.ingest
    return state


async def read_bearer_json(request: Request) -> tuple[IngestState, datetime, dict[str, Any]]:
    """Check the Bearer token, then read the body as a JSON object within the limits.

    Returns the service state, the receive time and the parsed object.
    """
    state = state_of(request)
    received_at = datetime.now(UTC)
    require_bearer(request, state.api_token)
    body = await read_body(
        request, state.settings.max_body_bytes, state.settings.body_read_timeout_seconds
    )
    return state, received_at, parse_json_object(body)
