"""Webhook delivery: signed callbacks, sent asynchronously, in order per webhook.

Each webhook has a queue and one worker task, so its callbacks arrive in the order the
events happened (unless a reorder fault says otherwise); a semaphore bounds how many
callbacks are in flight across all webhooks. A delivery that does not answer 2xx within
the timeout is a failure; enough failures within the window make the webhook inactive.
Failed deliveries are not retried, since Webex documents no retry behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from wxstream.sim.clock import iso_from_epoch
from wxstream.sim.config import SimConfig
from wxstream.sim.faults import FaultSet
from wxstream.sim.state import SimState, Webhook
from wxstream.sim.webhooks import WebhookEvent, callback_body, recipients

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Spark-Signature"


def sign(body: bytes, secret: str) -> str:
    """Return the lowercase hex HMAC-SHA1 of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def encode_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class PendingDelivery:
    webhook_id: str
    resource: str
    event: str
    data_id: str
    body: bytes
    reorder: bool = False
    duplicate: bool = False


class Dispatcher:
    """Queues callbacks per webhook and sends them from the server's event loop."""

    def __init__(self, config: SimConfig, state: SimState, faults: FaultSet) -> None:
        self.config = config
        self.state = state
        self.faults = faults
        self.records: deque[dict[str, Any]] = deque(maxlen=config.max_recorded_deliveries)
        self._queues: dict[str, asyncio.Queue[PendingDelivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    async def start(self) -> None:
        self._slots = asyncio.Semaphore(self.config.delivery_concurrency)
        limits = httpx.Limits(max_connections=self.config.delivery_concurrency)
        self._client = httpx.AsyncClient(
            timeout=self.config.delivery_timeout_seconds, limits=limits, trust_env=False
        )

    async def stop(self) -> None:
        await self.drop_all()
        if self._client is not None:
            await self._client.aclose()

    async def drop_all(self) -> None:
        """Cancel every queued and in-flight delivery."""
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._queues.clear()

    def forget(self, webhook_id: str) -> None:
        """Stop delivering to a deleted webhook."""
        task = self._workers.pop(webhook_id, None)
        if task is not None:
            task.cancel()
        self._queues.pop(webhook_id, None)

    @property
    def pending(self) -> int:
        return sum(queue.qsize() for queue in self._queues.values())

    def publish(self, event: WebhookEvent) -> int:
        """Queue one callback per receiving webhook; return how many were queued."""
        queued = 0
        for webhook in recipients(self.state, event):
            body = encode_body(callback_body(webhook, event, self.state))
            copies = self.faults.delivery_copies(event.resource)
            reorder = self.faults.reorders(event.resource)
            for copy in range(copies):
                pending = PendingDelivery(
                    webhook_id=webhook.id,
                    resource=event.resource,
                    event=event.event,
                    data_id=str(event.data.get("id", "")),
                    body=body,
                    reorder=reorder and copy == 0,
                    duplicate=copy > 0,
                )
                self._queue_for(webhook.id).put_nowait(pending)
                queued += 1
        return queued

    def _queue_for(self, webhook_id: str) -> asyncio.Queue[PendingDelivery]:
        queue = self._queues.get(webhook_id)
        if queue is None:
            queue = asyncio.Queue()
            self._queues[webhook_id] = queue
            self._workers[webhook_id] = asyncio.create_task(
                self._work(queue), name=f"webhook-delivery-{webhook_id}"
            )
        return queue

    async def _work(self, queue: asyncio.Queue[PendingDelivery]) -> None:
        while True:
            pending = await queue.get()
            try:
                if pending.reorder:
                    await self._send_after_next(queue, pending)
                else:
                    await self._deliver(pending)
            except Exception:
                # A bug here must not stop later callbacks of this webhook.
                logger.exception("webhook %s delivery failed unexpectedly", pending.webhook_id)

    async def _send_after_next(
        self, queue: asyncio.Queue[PendingDelivery], held: PendingDelivery
    ) -> None:
        """Send the next callback first, then the held one (a reorder fault)."""
        try:
            following = await asyncio.wait_for(queue.get(), self.config.reorder_hold_seconds)
        except TimeoutError:
            await self._deliver(held)
            return
        await self._deliver(following)
        await self._deliver(held)

    async def _deliver(self, pending: PendingDelivery) -> None:
        webhook = self.state.webhooks.get(pending.webhook_id)
        if webhook is None or webhook.status != "active":
            return
        assert self._client is not None and self._slots is not None
        headers = {"Content-Type": "application/json"}
        if webhook.secret:
            headers[SIGNATURE_HEADER] = sign(pending.body, webhook.secret)
        started = time.time()
        status: int | None = None
        error: str | None = None
        async with self._slots:
            try:
                response = await self._client.post(
                    webhook.target_url, content=pending.body, headers=headers
                )
                status = response.status_code
            except httpx.TimeoutException:
                error = f"timed out after {self.config.delivery_timeout_seconds} s"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        latency_ms = (time.time() - started) * 1000
        self._record(webhook, pending, started, status, latency_ms, error)

    def _record(
        self,
        webhook: Webhook,
        pending: PendingDelivery,
        started: float,
        status: int | None,
        latency_ms: float,
        error: str | None,
    ) -> None:
        succeeded = status is not None and 200 <= status < 300
        self.records.append(
            {
                "time": started,
                "timeIso": iso_from_epoch(started),
                "webhookId": webhook.id,
                "targetUrl": webhook.target_url,
                "resource": pending.resource,
                "event": pending.event,
                "dataId": pending.data_id,
                "statusCode": status,
                "latencyMs": round(latency_ms, 3),
                "error": error,
                "succeeded": succeeded,
                "duplicate": pending.duplicate,
                "reordered": pending.reorder,
            }
        )
        if succeeded:
            return
        logger.info(
            "webhook %s delivery of %s:%s %s failed: status %s, %s",
            webhook.id,
            pending.resource,
            pending.event,
            pending.data_id,
            status,
            error,
        )
        self._count_failure(webhook, started)

    def _count_failure(self, webhook: Webhook, now: float) -> None:
        failures = webhook.failures
        failures.append(now)
        window_start = now - self.config.failure_window_seconds
        while failures and failures[0] < window_start:
            failures.popleft()
        if len(failures) >= self.config.disable_after_failures and webhook.status == "active":
            webhook.status = "inactive"
            logger.warning(
                "webhook %s set inactive after %d failed deliveries within %.0f s",
                webhook.id,
                len(failures),
                self.config.failure_window_seconds,
            )
