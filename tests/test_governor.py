"""The rate governor delays every send with its token until the Retry-After has passed."""

from __future__ import annotations

import asyncio
import itertools
import time

from processors.governor import GovernorRegistry, RateGovernor


async def test_governor_without_hold_does_not_wait() -> None:
    governor = RateGovernor()

    assert await governor.wait() == 0.0


async def test_governor_holds_concurrent_sends() -> None:
    governor = RateGovernor()
    released: list[float] = []

    async def send() -> None:
        await governor.wait()
        released.append(time.monotonic())

    held_at = time.monotonic()
    governor.hold(0.3)
    await asyncio.gather(*(send() for _ in range(8)))

    assert len(released) == 8
    assert min(released) - held_at >= 0.3


async def test_governor_hold_during_wait_extends_it() -> None:
    governor = RateGovernor()
    started = time.monotonic()
    governor.hold(0.1)

    waiter = asyncio.create_task(governor.wait())
    await asyncio.sleep(0.05)
    governor.hold(0.25)
    await waiter

    assert time.monotonic() - started >= 0.3


async def test_governor_shorter_hold_does_not_shorten() -> None:
    governor = RateGovernor()

    governor.hold(0.3)
    governor.hold(0.05)

    assert governor.remaining > 0.2


def test_governor_registry_keeps_one_governor_per_token() -> None:
    registry = GovernorRegistry()

    first = registry.for_token("token-a")

    assert registry.for_token("token-a") is first
    assert registry.for_token("token-b") is not first


def test_governor_registry_never_names_the_token() -> None:
    governor = GovernorRegistry().for_token("secret-token-value")

    assert "secret-token-value" not in governor.name


async def test_governor_fetch_429_holds_other_sends() -> None:
    from processors.fetching import fetch_with_retry
    from processors.webex import WebexRateLimited

    governor = RateGovernor()
    fetch_times: list[float] = []
    send_times: list[float] = []
    first_fetch_done = asyncio.Event()

    async def rate_limited_once() -> str:
        fetch_times.append(time.monotonic())
        if len(fetch_times) == 1:
            first_fetch_done.set()
            raise WebexRateLimited("GET /messages/m returned 429", status_code=429, retry_after=0.4)
        return "message"

    async def send_after_the_429() -> None:
        await first_fetch_done.wait()
        await asyncio.sleep(0)  # let the fetch place its hold
        await governor.wait()
        send_times.append(time.monotonic())

    result, _ = await asyncio.gather(
        fetch_with_retry("GET /messages/m", rate_limited_once, governor=governor),
        send_after_the_429(),
    )

    assert result == "message"
    assert len(fetch_times) == 2
    assert fetch_times[1] - fetch_times[0] >= 0.4
    assert send_times[0] - fetch_times[0] >= 0.4


class FakeTime:
    """A clock that only moves when the governor sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def paced_governor() -> tuple[RateGovernor, FakeTime]:
    fake = FakeTime()
    return RateGovernor(clock=fake.clock, sleep=fake.sleep), fake


async def admit_between_429s(governor: RateGovernor, hold: float, requests: int) -> None:
    """Answer a 429 with ``hold``, admit ``requests`` and answer another 429 with a 1 s hold."""
    governor.hold(hold)
    for _ in range(requests):
        await governor.admit()
    governor.hold(1.0)


async def test_governor_first_429_does_not_pace() -> None:
    governor, _ = paced_governor()
    for _ in range(5):
        await governor.admit()

    governor.hold(1.0)

    assert governor.rate == 0.0
    assert await governor.admit() == 1.0


async def test_governor_second_429_paces_at_admitted_rate() -> None:
    governor, fake = paced_governor()
    governor.hold(1.0)
    for _ in range(20):
        await governor.admit()
    fake.now += 0.25

    governor.hold(1.0)

    # 20 requests admitted in the 1.25 s between the two 429s.
    assert governor.rate == 16.0


async def test_governor_pace_spaces_requests() -> None:
    governor, fake = paced_governor()
    await admit_between_429s(governor, 1.0, 10)
    rate = governor.rate
    starts = []

    for _ in range(5):
        await governor.admit()
        starts.append(fake.now)

    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # 10 requests admitted in the 1 s hold between the two 429s.
    assert rate == 10.0
    assert all(0.099 < gap <= 0.1 for gap in gaps)
    assert governor.rate > rate


async def test_governor_429_during_hold_keeps_estimate() -> None:
    governor, fake = paced_governor()
    await admit_between_429s(governor, 1.0, 10)
    rate = governor.rate

    fake.now += 0.5
    governor.hold(1.0)

    assert governor.rate == rate


async def test_governor_distant_429s_stop_pacing() -> None:
    governor, _ = paced_governor()
    await admit_between_429s(governor, 3600.0, 10)

    assert governor.rate == 0.0


async def test_governor_long_retry_after_does_not_pace() -> None:
    governor, fake = paced_governor()
    governor.hold(30.0)
    for _ in range(16):
        await governor.admit()
    fake.now += 1.0

    governor.hold(30.0)

    assert governor.rate == 0.0


async def test_governor_pace_ends_after_pace_seconds() -> None:
    governor, fake = paced_governor()
    await admit_between_429s(governor, 1.0, 10)
    assert governor.rate == 10.0

    fake.now += 11.0

    assert governor.rate == 0.0
    assert await governor.admit() == 0.0
