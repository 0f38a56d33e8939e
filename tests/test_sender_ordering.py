"""Offset-ordered acknowledgement and per-conversation lanes, without Kafka."""

from __future__ import annotations

import asyncio

import pytest

from processors.lanes import ConversationLanes
from processors.ordered_acks import AckWindow


def recording_window(capacity: int = 10) -> tuple[AckWindow[str], list[str]]:
    acked: list[str] = []

    async def ack(event: str) -> None:
        acked.append(event)

    return AckWindow(capacity, ack), acked


async def test_ack_window_acks_in_offset_order() -> None:
    window, acked = recording_window()
    tickets = [window.admit("p0", offset, f"e{offset}") for offset in range(4)]

    await window.finish(tickets[2])
    await window.finish(tickets[1])
    assert acked == []

    await window.finish(tickets[0])
    assert acked == ["e0", "e1", "e2"]

    await window.finish(tickets[3])
    assert acked == ["e0", "e1", "e2", "e3"]


async def test_ack_window_partitions_are_independent() -> None:
    window, acked = recording_window()
    slow = window.admit("p0", 10, "slow")
    fast = window.admit("p1", 5, "fast")

    await window.finish(fast)

    assert acked == ["fast"]
    assert window.oldest_unfinished("p0") == 10
    await window.finish(slow)
    assert acked == ["fast", "slow"]


async def test_ack_window_blocks_when_full() -> None:
    window, _ = recording_window(capacity=2)
    first = window.admit("p0", 0, "e0")
    window.admit("p0", 1, "e1")

    waiter = asyncio.create_task(window.wait_for_room())
    await asyncio.sleep(0.05)
    assert not waiter.done()

    await window.finish(first)
    await asyncio.wait_for(waiter, timeout=1)
    assert len(window) == 1


async def test_ack_window_finished_events_behind_head_still_count() -> None:
    window, _ = recording_window(capacity=2)
    window.admit("p0", 0, "e0")
    second = window.admit("p0", 1, "e1")

    await window.finish(second)

    assert len(window) == 2
    waiter = asyncio.create_task(window.wait_for_room())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    waiter.cancel()


async def test_ack_window_rejects_offsets_out_of_order() -> None:
    window, _ = recording_window()
    window.admit("p0", 5, "e5")

    with pytest.raises(ValueError, match="offset order"):
        window.admit("p0", 5, "again")


async def test_ack_window_latest_offset_of_partition() -> None:
    window, _ = recording_window()
    assert window.latest_offset("p0") is None

    first = window.admit("p0", 3, "e3")
    second = window.admit("p0", 4, "e4")
    window.admit("p1", 9, "e9")
    assert window.latest_offset("p0") == 4
    assert window.latest_offset("p1") == 9

    await window.finish(first)
    await window.finish(second)
    assert window.latest_offset("p0") is None


async def test_lanes_run_one_key_in_start_order() -> None:
    lanes = ConversationLanes()
    finished: list[int] = []

    async def work(number: int, delay: float) -> None:
        await asyncio.sleep(delay)
        finished.append(number)

    tasks = [lanes.start("room", work(number, 0.05 - number * 0.01)) for number in range(4)]
    await asyncio.gather(*tasks)

    assert finished == [0, 1, 2, 3]


async def test_lanes_run_other_keys_in_parallel() -> None:
    lanes = ConversationLanes()
    finished: list[str] = []

    async def work(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        finished.append(name)

    slow = lanes.start("slow-room", work("slow", 0.3))
    fast = [lanes.start(f"room-{n}", work(f"fast-{n}", 0.01)) for n in range(5)]
    await asyncio.gather(*fast)

    assert not slow.done()
    assert len(finished) == 5
    await slow
    assert finished[-1] == "slow"


async def test_lanes_forget_finished_tasks() -> None:
    lanes = ConversationLanes()

    async def work() -> None:
        await asyncio.sleep(0)

    await lanes.start("room", work())
    await asyncio.sleep(0)

    assert len(lanes) == 0


async def test_lanes_cancel_all_stops_waiting_tasks() -> None:
    lanes = ConversationLanes()
    ran: list[int] = []

    async def work(number: int) -> None:
        await asyncio.sleep(10)
        ran.append(number)

    tasks = [lanes.start("room", work(number)) for number in range(3)]
    await lanes.cancel_all()

    assert all(task.cancelled() for task in tasks)
    assert ran == []
