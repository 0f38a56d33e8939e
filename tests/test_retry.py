"""The retry policy: exponential backoff with jitter, Retry-After defaults and caps, limits."""

from __future__ import annotations

import random

import pytest

from processors.retry import RetryPolicy
from wxstream.settings import load_settings


def policy(**overrides: object) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **overrides)  # type: ignore[arg-type]


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    rules = policy(backoff_base=0.5, backoff_max=30.0)

    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0)]:
        for _ in range(50):
            wait = rules.backoff(failures)
            assert ceiling / 2 <= wait <= ceiling


def test_backoff_is_capped() -> None:
    rules = policy(backoff_base=0.5, backoff_max=3.0)

    waits = [rules.backoff(20) for _ in range(100)]

    assert max(waits) <= 3.0
    assert min(waits) >= 1.5


def test_backoff_is_jittered() -> None:
    rules = policy()

    waits = {round(rules.backoff(3), 6) for _ in range(20)}

    assert len(waits) > 10


def test_rate_limit_wait_adds_small_jitter() -> None:
    rules = policy(retry_after_max=120.0)

    waits = [rules.rate_limit_wait(7.0) for _ in range(100)]

    assert min(waits) >= 7.0
    assert max(waits) <= 7.7
    assert len(set(waits)) > 50


def test_rate_limit_wait_missing_header_uses_jittered_default() -> None:
    rules = policy(retry_after_default=4.0, retry_after_max=120.0)

    waits = [rules.rate_limit_wait(None) for _ in range(100)]

    assert min(waits) >= 4.0
    assert max(waits) <= 6.0
    assert max(waits) - min(waits) > 0.5


def test_rate_limit_wait_is_capped() -> None:
    rules = policy(retry_after_max=60.0)

    assert rules.rate_limit_wait(3600.0) == 60.0
    assert rules.rate_limit_wait(None) <= 60.0


def test_rate_limit_wait_zero_retry_after_sends_soon() -> None:
    assert policy().rate_limit_wait(0.0) == 0.0


def test_transient_wait_honours_longer_retry_after() -> None:
    rules = policy(backoff_base=0.1, retry_after_max=10.0)

    assert rules.transient_wait(1, 5.0) == 5.0
    assert rules.transient_wait(1, 500.0) == 10.0
    assert rules.transient_wait(1, None) <= 0.1


def test_may_retry_stops_at_max_attempts() -> None:
    rules = policy(max_attempts=3, max_seconds=1000.0)

    assert rules.may_retry(2, 0.0, 1.0)
    assert not rules.may_retry(3, 0.0, 1.0)


def test_may_retry_stops_at_time_budget() -> None:
    rules = policy(max_attempts=50, max_seconds=10.0)

    assert rules.may_retry(1, 8.0, 2.0)
    assert not rules.may_retry(1, 8.0, 2.5)


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("SENDER_MAX_ATTEMPTS", "3", "max_attempts", 3),
        ("SENDER_MAX_SECONDS", "12.5", "max_seconds", 12.5),
        ("SENDER_BACKOFF_BASE_SECONDS", "0.2", "backoff_base", 0.2),
        ("SENDER_RETRY_AFTER_DEFAULT_SECONDS", "2", "retry_after_default", 2.0),
        ("SENDER_RETRY_AFTER_MAX_SECONDS", "30", "retry_after_max", 30.0),
    ],
)
def test_retry_policy_from_settings(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, attribute: str, expected: object
) -> None:
    monkeypatch.setenv(f"WXSTREAM_{name}", value)

    rules = RetryPolicy.from_settings(load_settings())

    assert getattr(rules, attribute) == expected
