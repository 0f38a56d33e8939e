"""A part waiting for a send slot honours a 429 that arrived while it waited."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from processors.delivery import MessageDelivery
from processors.governor import RateGovernor
from processors.retry import RetryPolicy
from processors.webex import WebexRateLimited, WebexResponse
from schemas.payloads import OutboundMessage

RETRY_AFTER = 0.5


class MemoryDelivered:
    def __init__(self) -> None:
        self.parts: dict[str, str] = {}

    def get(self, part_id: str) -> str | None:
        return self.parts.get(part_id)

    async def record(self, part_id: str, webex_id: str) -> None:
        self.parts[part_id] = webex_id


async def test_delivery_slot_waiter_honours_later_429() -> None:
    posts: list[tuple[float, str]] = []
    first_post_started = asyncio.Event()

    async def post(body: dict[str, Any]) -> WebexResponse:
        posts.append((time.monotonic(), body["roomId"]))
        if len(posts) == 1:
            first_post_started.set()
            await asyncio.sleep(0.05)
            raise WebexRateLimited("429", status_code=429, retry_after=RETRY_AFTER)
        return WebexResponse(200, {"id": f"webex-{len(posts)}"}, "tracking", 1.0, httpx.Headers())

    async def report(attempt: Any) -> None:
        return None

    delivery = MessageDelivery(
        post=post,
        governor=RateGovernor(),
        policy=RetryPolicy(
            max_attempts=3,
            max_seconds=10,
            backoff_base=0.1,
            backoff_max=1,
            retry_after_default=1,
            retry_after_max=5,
        ),
        slots=asyncio.Semaphore(1),
        delivered=MemoryDelivered(),
    )
    first = OutboundMessage(message_id="m-1", room_id="room-a", text="one")
    second = OutboundMessage(message_id="m-2", room_id="room-b", text="two")

    async def deliver_second_once_first_posts() -> Any:
        await first_post_started.wait()
        return await delivery.deliver(second, report)

    results = await asyncio.gather(
        delivery.deliver(first, report), deliver_second_once_first_posts()
    )

    assert results == [None, None]
    rate_limited_at = posts[0][0]
    later_posts = posts[1:]
    assert len(later_posts) == 2
    assert all(at - rate_limited_at >= RETRY_AFTER for at, _ in later_posts)
