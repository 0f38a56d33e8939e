"""Bounded retries for the Webex reads of the inbound agents (messages, card actions, people).

A read blocks its partition while it retries, so the whole budget stays far below the
Kafka consumer's poll interval (300 s by default in aiokafka): at most
:data:`FETCH_POLICY` ``.max_attempts`` attempts within ``.max_seconds``. A 429 waits for
its ``Retry-After``; a ``Retry-After`` longer than the budget ends the retries at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from processors.governor import RateGovernor
from processors.retry import RetryPolicy
from processors.webex import WebexError, WebexPermanentError, WebexRateLimited, WebexTransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")

FETCH_POLICY = RetryPolicy(
    max_attempts=4,
    max_seconds=20.0,
    backoff_base=0.5,
    backoff_max=5.0,
    retry_after_default=2.0,
    retry_after_max=3600.0,
)


class FetchFailed(Exception):
    """A Webex read failed for good: a permanent status, or the retry budget is used up."""

    def __init__(self, what: str, error: WebexError, attempts: int) -> None:
        kind = f"after {attempts} attempts" if error.retriable else "permanently"
        super().__init__(f"{what} failed {kind}: {error}")
        self.error = error


def retry_wait(policy: RetryPolicy, failures: int, error: WebexTransientError) -> float:
    """Return the wait before the next attempt after ``failures`` transient failures."""
    if isinstance(error, WebexRateLimited):
        return policy.rate_limit_wait(error.retry_after)
    return policy.transient_wait(failures, error.retry_after)


async def fetch_with_retry(
    what: str,
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy = FETCH_POLICY,
    governor: RateGovernor | None = None,
) -> T:
    """Call Webex, retrying transient failures within the policy's attempts and time.

    With a ``governor``, each attempt waits out the token's rate-limit hold, and a 429
    extends that hold for every other call behind the same token.
    """
    started = time.monotonic()
    failures = 0
    while True:
        if governor is not None:
            await governor.admit()
        try:
            return await call()
        except WebexPermanentError as exc:
            raise FetchFailed(what, exc, failures + 1) from exc
        except WebexTransientError as exc:
            failures += 1
            wait = retry_wait(policy, failures, exc)
            if governor is not None and isinstance(exc, WebexRateLimited):
                governor.hold(wait)
            if not policy.may_retry(failures, time.monotonic() - started, wait):
                raise FetchFailed(what, exc, failures) from exc
            logger.warning(
                "%s failed (status %s, tracking id %s); retry %d in %.1f s",
                what,
                exc.status_code,
                exc.tracking_id,
                failures,
                wait,
            )
            await asyncio.sleep(wait)
