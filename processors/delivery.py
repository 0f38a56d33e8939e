"""Deliver one outbound message to Webex: split it, send each part, retry, record attempts.

:class:`MessageDelivery` sends the parts of a message in order. A part whose id is in
the delivered table is skipped; a part Webex accepts is recorded there with the Webex
message id. Every attempt is reported to ``record_attempt`` before the next step, and
the first part that fails permanently or runs out of retries ends the delivery: the
later parts are not sent. Waiting for the token's rate governor uses up neither
attempts nor the message's retry time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from processors.governor import RateGovernor
from processors.retry import RetryPolicy
from processors.splitting import WEBEX_MAX_BYTES, split_text, utf8_size
from processors.webex import WebexError, WebexRateLimited, WebexResponse, WebexTransientError
from schemas.payloads import DeliveryAttempt, DeliveryOutcome, OutboundMessage

logger = logging.getLogger(__name__)

PostMessage = Callable[[dict[str, Any]], Awaitable[WebexResponse]]
RecordAttempt = Callable[[DeliveryAttempt], Awaitable[None]]


class DeliveredParts(Protocol):
    """Storage of delivered part ids, with lookup and recording."""

    def get(self, part_id: str) -> str | None: ...

    async def record(self, part_id: str, webex_id: str) -> None: ...


@dataclass(frozen=True)
class PlannedPart:
    """One Webex ``POST /messages`` body and the stable id it is delivered under."""

    id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class DeliveryFailure:
    """Why a message could not be delivered: the failing part and its last error."""

    part_id: str
    reason: str
    attempts: int
    error: WebexError | None = None


def plan_parts(message: OutboundMessage, limit: int = WEBEX_MAX_BYTES) -> list[PlannedPart]:
    """Turn an outbound message into the request bodies to post, splitting oversized text.

    A message whose ``text`` or ``markdown`` is over ``limit`` bytes is split on its
    markdown when it has one, else on its text, and the parts carry only that field.
    Files and card attachments go with the first part; ``parentId`` with every part.
    """
    common = _destination(message)
    if message.parent_id:
        common["parentId"] = message.parent_id
    extras: dict[str, Any] = {}
    if message.files:
        extras["files"] = message.files
    if message.attachments:
        extras["attachments"] = message.attachments

    oversized = any(
        content is not None and utf8_size(content) > limit
        for content in (message.text, message.markdown)
    )
    if not oversized:
        body = {**common, **extras}
        if message.text is not None:
            body["text"] = message.text
        if message.markdown is not None:
            body["markdown"] = message.markdown
        return [PlannedPart(message.message_id, body)]

    field_name = "markdown" if message.markdown else "text"
    content = message.markdown or message.text or ""
    parts = split_text(message.message_id, content, markdown=field_name == "markdown", limit=limit)
    return [
        PlannedPart(
            part.id, {**common, **(extras if part.index == 1 else {}), field_name: part.text}
        )
        for part in parts
    ]


def _destination(message: OutboundMessage) -> dict[str, Any]:
    if message.room_id:
        return {"roomId": message.room_id}
    if message.to_person_id:
        return {"toPersonId": message.to_person_id}
    return {"toPersonEmail": message.to_person_email}


class MessageDelivery:
    """Sends the parts of outbound messages with one governor, policy and delivered table."""

    def __init__(
        self,
        *,
        post: PostMessage,
        governor: RateGovernor,
        policy: RetryPolicy,
        slots: asyncio.Semaphore,
        delivered: DeliveredParts,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.post = post
        self.governor = governor
        self.policy = policy
        self.slots = slots
        self.delivered = delivered
        self.sleep = sleep
        self.clock = clock

    async def deliver(
        self, message: OutboundMessage, report: RecordAttempt
    ) -> DeliveryFailure | None:
        """Deliver every part in order; return the failure that stopped it, or None.

        ``report`` receives every attempt and is awaited before the delivery goes on.
        """
        for part in plan_parts(message):
            failure = await _PartDelivery(self, report, message.message_id, part).run()
            if failure is not None:
                return failure
        return None


class _PartDelivery:
    """The attempts to deliver one part."""

    def __init__(
        self, delivery: MessageDelivery, report: RecordAttempt, message_id: str, part: PlannedPart
    ) -> None:
        self.delivery = delivery
        self.report = report
        self.message_id = message_id
        self.part = part
        self.attempt = 0

    async def run(self) -> DeliveryFailure | None:
        delivery = self.delivery
        webex_id = delivery.delivered.get(self.part.id)
        if webex_id is not None:
            logger.info(
                "skipped message %s part %s: already delivered as %s",
                self.message_id,
                self.part.id,
                webex_id,
            )
            await self._report("skipped", webex_message_id=webex_id)
            return None

        failures = rate_limited = 0
        retrying_seconds = 0.0
        while True:
            await delivery.governor.wait()
            self.attempt += 1
            started = delivery.clock()
            try:
                async with delivery.slots:
                    # A 429 may have arrived while this part waited for a slot.
                    await delivery.governor.admit()
                    started = delivery.clock()
                    response = await delivery.post(self.part.body)
            except WebexRateLimited as exc:
                rate_limited += 1
                wait = delivery.policy.rate_limit_wait(exc.retry_after)
                delivery.governor.hold(wait)
                if rate_limited > delivery.policy.max_rate_limited:
                    return await self._fail(exc, "rate limited too often")
                await self._retry(exc, wait)
                continue
            except WebexTransientError as exc:
                failures += 1
                wait = delivery.policy.transient_wait(failures, exc.retry_after)
                retrying_seconds += delivery.clock() - started
                if not delivery.policy.may_retry(failures, retrying_seconds, wait):
                    return await self._fail(exc, "retries exhausted")
                await self._retry(exc, wait)
                await delivery.sleep(wait)
                retrying_seconds += wait
                continue
            except WebexError as exc:
                return await self._fail(exc, "permanent error")
            await self._succeed(response)
            return None

    async def _succeed(self, response: WebexResponse) -> None:
        webex_id = str(response.body.get("id") or "")
        await self.delivery.delivered.record(self.part.id, webex_id)
        logger.info(
            "delivered message %s part %s as %s after %d attempt(s) "
            "(status %d, tracking id %s, %.0f ms)",
            self.message_id,
            self.part.id,
            webex_id,
            self.attempt,
            response.status_code,
            response.tracking_id,
            response.latency_ms,
        )
        await self._report(
            "delivered",
            status_code=response.status_code,
            latency_ms=round(response.latency_ms, 3),
            tracking_id=response.tracking_id,
            webex_message_id=webex_id,
        )

    async def _retry(self, exc: WebexError, wait: float) -> None:
        logger.warning(
            "retrying message %s part %s in %.1f s after attempt %d: %s (tracking id %s)",
            self.message_id,
            self.part.id,
            wait,
            self.attempt,
            _describe(exc),
            exc.tracking_id,
        )
        await self._report(
            "retrying",
            status_code=exc.status_code,
            tracking_id=exc.tracking_id,
            error=_describe(exc),
            retry_after_seconds=round(wait, 3),
        )

    async def _fail(self, exc: WebexError, summary: str) -> DeliveryFailure:
        await self._report(
            "dead-lettered",
            status_code=exc.status_code,
            tracking_id=exc.tracking_id,
            error=_describe(exc),
        )
        reason = (
            f"{summary} for message {self.message_id} part {self.part.id} after "
            f"{self.attempt} attempt(s): {_describe(exc)} (tracking id {exc.tracking_id})"
        )
        return DeliveryFailure(self.part.id, reason, self.attempt, exc)

    async def _report(self, outcome: DeliveryOutcome, **fields: Any) -> None:
        await self.report(
            DeliveryAttempt(
                message_id=self.message_id,
                part_id=self.part.id,
                attempt=self.attempt,
                outcome=outcome,
                **fields,
            )
        )


def _describe(exc: WebexError) -> str:
    """Describe a failed send by status and Webex's error text, or by error kind when no
    response came back."""
    if exc.status_code is not None and exc.webex_message:
        return f"POST /messages returned {exc.status_code}: {exc.webex_message}"
    if exc.status_code is not None:
        return f"POST /messages returned {exc.status_code}"
    cause = exc.__cause__
    return f"POST /messages failed: {type(cause).__name__ if cause else type(exc).__name__}"
