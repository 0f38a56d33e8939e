"""One rate governor per Webex token: after a 429, the token sends nothing until the hold ends.

Webex rate limits are shared by everything that uses one token, so a 429 for one room
holds the sends to every room. A hold only ever extends: a shorter ``Retry-After`` that
arrives during a longer hold does not shorten it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class RateGovernor:
    """Holds every send behind one token until a rate limit's ``Retry-After`` has passed."""

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

    def hold(self, seconds: float) -> None:
        """Hold sends for ``seconds`` from now, unless a longer hold is already in place."""
        until = self._clock() + max(0.0, seconds)
        if until > self._hold_until:
            self._hold_until = until
            logger.warning("rate limited: holding sends with %s for %.1f s", self.name, seconds)

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
