"""When to retry a failed Webex send, and how long to wait before the next attempt.

Two kinds of waiting exist. A 429 puts the whole token on hold (see
:mod:`processors.governor`); that wait is not counted against a message's attempts or
its time budget. A transient failure (5xx, 423, timeout, connection error) is the
message's own: it backs off exponentially with jitter, for at most ``max_attempts``
attempts and ``max_seconds`` of retrying.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from wxstream.settings import Settings


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff and ``Retry-After`` rules for one message, all durations in seconds."""

    max_attempts: int = 6
    max_seconds: float = 120.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_default: float = 5.0
    retry_after_max: float = 120.0
    max_rate_limited: int = 50
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.sender_max_attempts,
            max_seconds=settings.sender_max_seconds,
            backoff_base=settings.sender_backoff_base_seconds,
            backoff_max=settings.sender_backoff_max_seconds,
            retry_after_default=settings.sender_retry_after_default_seconds,
            retry_after_max=settings.sender_retry_after_max_seconds,
            max_rate_limited=settings.sender_max_rate_limited,
        )

    def backoff(self, failures: int) -> float:
        """Return the wait after the ``failures``-th transient failure (1-based).

        The ceiling doubles from ``backoff_base`` up to ``backoff_max``. The wait is drawn
        uniformly from the upper half of the ceiling, so concurrent senders spread out
        and no wait is shorter than half the ceiling.
        """
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** max(0, failures - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def transient_wait(self, failures: int, retry_after: float | None) -> float:
        """Return the wait after a transient failure: the backoff, or a longer ``Retry-After``."""
        wait = self.backoff(failures)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_max))
        return wait

    def rate_limit_wait(self, retry_after: float | None) -> float:
        """Return how long a token is held after a 429 with this ``Retry-After`` (parsed).

        A missing or invalid header gives the default plus up to 50 % jitter. A given
        value gets up to 10 % (at most 1 s) on top, so senders sharing a token do not
        all return at the same instant. The result never exceeds ``retry_after_max``.
        """
        if retry_after is None:
            wait = self.retry_after_default * (1 + self.rng.uniform(0, 0.5))
        else:
            wait = retry_after + self.rng.uniform(0, min(1.0, retry_after * 0.1))
        return min(wait, self.retry_after_max)

    def may_retry(self, failures: int, retrying_seconds: float, wait: float) -> bool:
        """Return whether another attempt is allowed after ``failures`` transient failures.

        ``retrying_seconds`` is the time the message has spent on its own attempts and
        backoff so far; the next attempt must start within ``max_seconds``.
        """
        if failures >= self.max_attempts:
            return False
        return retrying_seconds + wait <= self.max_seconds
