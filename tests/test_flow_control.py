"""Waking the event handoffs that a rebalance would otherwise leave blocked forever.

These use mode's own flow control and queue classes, the ones faust's agent buffers use.
"""

from __future__ import annotations

import asyncio

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from processors.app import wake_blocked_puts


async def blocked_handoff() -> tuple[FlowControlEvent, FlowControlQueue[str], asyncio.Task[None]]:
    """Fill a one-slot buffer, block a second put on it, then suspend and clear like faust."""
    flow = FlowControlEvent(initially_suspended=False)
    buffer: FlowControlQueue[str] = FlowControlQueue(1, flow_control=flow, clear_on_resume=True)
    await buffer.put("first")
    handoff = asyncio.create_task(buffer.put("second"))
    await asyncio.sleep(0.01)
    flow.suspend()
    flow.clear()
    return flow, buffer, handoff


def test_cleared_buffer_leaves_put_blocked() -> None:
    async def scenario() -> bool:
        _, buffer, handoff = await blocked_handoff()
        await asyncio.sleep(0.05)
        blocked = not handoff.done() and buffer.empty()
        handoff.cancel()
        return blocked

    assert asyncio.run(scenario())


def test_wake_blocked_puts_completes_handoff() -> None:
    async def scenario() -> tuple[int, bool, str]:
        flow, buffer, handoff = await blocked_handoff()
        woken = wake_blocked_puts(flow)
        await asyncio.wait_for(handoff, timeout=1)
        return woken, handoff.done(), buffer.get_nowait()

    woken, done, item = asyncio.run(scenario())

    assert woken == 1
    assert done
    assert item == "second"


def test_wake_blocked_puts_without_waiters() -> None:
    async def scenario() -> int:
        flow = FlowControlEvent(initially_suspended=False)
        buffer: FlowControlQueue[str] = FlowControlQueue(1, flow_control=flow, clear_on_resume=True)
        await buffer.put("only")
        return wake_blocked_puts(flow)

    assert asyncio.run(scenario()) == 0
