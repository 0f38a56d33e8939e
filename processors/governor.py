"""One rate governor per Webex token: after a 429, the token sends nothing until the hold ends.

Webex rate limits are shared by everything that uses one token, so a 429 for one room
holds the sends to every room. A hold only ever extends: a shorter ``Retry-After`` that
arrives during a longer hold does not shorten it.

Once rate-limited, the governor also paces requests. Holding alone lets every waiting
request go at once when the hold ends, which spends the limit's burst in a moment and
then waits out the next whole ``Retry-After`` idle. At the second 429 the governor
estimates the rate the limit let through, the requests it admitted since the first 429
divided by the time since then, and spaces requests at that rate. Each request admitted
without a 429 raises the rate by a small step, and each 429 sets it again from the
requests admitted since the previous one, so the pace follows a limit that changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# Each request admitted while pacing raises the pace by this share.
PACE_STEP = 0.001
# Above this rate, pacing stops until the next 429.
PACE_CEILING_PER_SECOND = 1000.0
# No pace is estimated from two 429s further apart than this.
ESTIMATE_WINDOW_SECONDS = 120.0
# Nor after a hold longer than this: a long Retry-After fills most of the time between
# the two 429s, so the estimate would be far below the limit and pacing would take
# thousands of requests to recover.
MAX_PACED_HOLD_SECONDS = 5.0
# A pace lasts this long after the 429 it was estimated at. With fewer requests than the
# limit allows, the estimate measures the demand rather than the limit, and a later
# burst must not stay paced at it.
PACE_SECONDS = 10.0


class RateGovernor:
    """Holds every send behind one token while a 429's hold lasts, then paces the sends."""

    def __init__(
        self,
        name: str = "token",
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._hold_until = 0.0
        self._rate = 0.0
        self._paced_until = 0.0
        self._next_slot = 0.0
        self._limited_at: float | None = None
        self._admitted = 0

    @property
    def rate(self) -> float:
        """Requests per second the governor paces at; 0 while it does not pace."""
        return self._rate if self._clock() < self._paced_until else 0.0

    def hold(self, seconds: float) -> None:
        """Hold sends for ``seconds`` from now, unless a longer hold is already in place.

        A 429 that arrives while no hold is in place starts a new pacing estimate.
        """
        now = self._clock()
        if now >= self._hold_until:
            self._estimate_rate(now)
        until = now + max(0.0, seconds)
        if until > self._hold_until:
            self._hold_until = until
            logger.warning("rate limited: holding sends with %s for %.1f s", self.name, seconds)

    def _estimate_rate(self, now: float) -> None:
        self._rate = self._paced_rate(now)
        self._paced_until = now + PACE_SECONDS
        if self._rate:
            logger.info("pacing requests with %s at %.1f/s", self.name, self._rate)
        self._limited_at = now
        self._admitted = 0

    def _paced_rate(self, now: float) -> float:
        """Return the requests admitted per second since the previous 429, or 0 for no pace."""
        if self._limited_at is None or not self._admitted:
            return 0.0
        since = now - self._limited_at
        hold_seconds = self._hold_until - self._limited_at
        if not 0 < since <= ESTIMATE_WINDOW_SECONDS or hold_seconds > MAX_PACED_HOLD_SECONDS:
            return 0.0
        return self._admitted / since

    @property
    def remaining(self) -> float:
        """Seconds left on the current hold; 0 when sends may go."""
        return max(0.0, self._hold_until - self._clock())

    async def wait(self) -> float:
        """Wait until no hold is in place and return the seconds waited.

        A hold placed or extended while waiting is waited for as well.
        """
        waited = 0.0
        while (remaining := self.remaining) > 0:
            started = self._clock()
            await self._sleep(remaining)
            waited += self._clock() - started
        return waited

    async def admit(self) -> float:
        """Wait for any hold and for this request's pacing slot; return the seconds waited.

        Call it right before each request, so that it counts the requests sent.
        """
        waited = await self.wait()
        if self.rate > 0:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1 / self._rate
            if slot > now:
                await self._sleep(slot - now)
                waited += slot - now
                # A 429 may have arrived during the pause.
                waited += await self.wait()
            self._rate *= 1 + PACE_STEP
            if self._rate > PACE_CEILING_PER_SECOND:
                self._rate = 0.0
        self._admitted += 1
        return waited


class GovernorRegistry:
    """The governors of a process, one per token, keyed by a digest so no token is kept."""

    def __init__(self) -> None:
        self._governors: dict[str, RateGovernor] = {}

    def for_token(self, token: str) -> RateGovernor:
        digest = hashlib.sha256(token.encode()).hexdigest()
        governor = self._governors.get(digest)
        if governor is None:
            governor = RateGovernor(name=f"token sha256:{digest[:8]}")
            self._governors[digest] = governor
        return governor
