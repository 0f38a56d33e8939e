"""An open-loop HTTP load generator: ``python -m bench.loadgen --plan FILE``.

Request ``i`` is due at ``t0 + i / rate`` whatever happened to earlier requests, so a
slow server meets a growing queue instead of a politely slower client. A due request
goes out on an idle keep-alive connection; when none is idle it waits in a backlog
while another connection opens, and its latency counts from the time it was due, so
queueing inside the generator is charged to the server (no coordinated omission).

Requests are rendered to bytes before the clock starts. Each response is parsed with
httptools on uvloop, so the generator spends a few microseconds of CPU per request;
the harness measures that CPU and reports the generator's own capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httptools

from bench.plans import RequestPlan, load_plan

NOT_ANSWERED = 0
CONNECTION_FAILED = -1
MIN_SLEEP_SECONDS = 0.001


@dataclass
class Results:
    """Per-request outcome arrays, index-aligned with the requests of the plan slice."""

    ids: list[str]
    intended: list[float]
    sent: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)

    @classmethod
    def empty(cls, ids: list[str], intended: list[float]) -> Results:
        count = len(ids)
        return cls(ids, intended, [math.nan] * count, [math.nan] * count, [NOT_ANSWERED] * count)

    cpu_seconds: float = 0.0
    send_seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "cpu_seconds": self.cpu_seconds,
            "send_seconds": self.send_seconds,
            "ids": self.ids,
            "intended": self.intended,
            "sent": self.sent,
            "done": self.done,
            "status": self.status,
        }


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, generator: _Generator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.current: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.generator.on_idle(self)

    def send(self, index: int, payload: bytes) -> None:
        assert self.transport is not None
        self.current = index
        self.generator.results.sent[index] = time.time()
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail()
            assert self.transport is not None
            self.transport.close()

    def on_message_complete(self) -> None:
        index, self.current = self.current, None
        if index is not None:
            self.generator.on_response(index, self.parser.get_status_code())
        self.generator.on_idle(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail()
        self.generator.on_closed(self)

    def _fail(self) -> None:
        index, self.current = self.current, None
        if index is not None:
            self.generator.on_response(index, CONNECTION_FAILED)


class _Generator:
    """Dispatches due requests onto connections and records every outcome."""

    def __init__(
        self, plan: RequestPlan, payloads: Sequence[bytes], results: Results, max_connections: int
    ) -> None:
        self.plan = plan
        self.payloads = payloads
        self.results = results
        self.max_connections = max_connections
        self.idle: deque[_Connection] = deque()
        self.backlog: deque[int] = deque()
        self.open_connections = 0
        self.opening = 0
        self.outstanding = 0
        self.finished = asyncio.Event()

    def dispatch(self, index: int) -> None:
        self.outstanding += 1
        if self.idle:
            self.idle.popleft().send(index, self.payloads[index])
            return
        self.backlog.append(index)
        if self.open_connections + self.opening < self.max_connections:
            self.open_connection()

    def open_connection(self) -> None:
        self.opening += 1
        loop = asyncio.get_running_loop()
        task = loop.create_task(
            loop.create_connection(lambda: _Connection(self), self.plan.host, self.plan.port)
        )
        task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[object]) -> None:
        self.opening -= 1
        if task.cancelled() or task.exception() is not None:
            if self.backlog:
                self.on_response(self.backlog.popleft(), CONNECTION_FAILED)
            return
        self.open_connections += 1

    def on_idle(self, connection: _Connection) -> None:
        if self.backlog:
            index = self.backlog.popleft()
            connection.send(index, self.payloads[index])
            return
        self.idle.append(connection)

    def on_response(self, index: int, status: int) -> None:
        self.results.done[index] = time.time()
        self.results.status[index] = status
        self.outstanding -= 1
        if self.outstanding == 0:
            self.finished.set()

    def on_closed(self, connection: _Connection) -> None:
        self.open_connections -= 1
        if connection in self.idle:
            self.idle.remove(connection)


async def run_plan(
    plan: RequestPlan, rate: float, count: int, grace: float, connections: int
) -> Results:
    """Send ``count`` requests at ``rate`` per second; wait ``grace`` seconds for responses."""
    payloads = plan.render(count)
    ids = plan.ids(count)
    loop = asyncio.get_running_loop()
    epoch_offset = time.time() - loop.time()
    start = loop.time() + 0.2
    intended = [epoch_offset + start + index / rate for index in range(count)]
    results = Results.empty(ids, intended)
    generator = _Generator(plan, payloads, results, connections)
    for _ in range(min(connections, 32)):
        generator.open_connection()

    cpu_before, wall_before = time.process_time(), time.monotonic()
    await _schedule(generator, start, rate, count)
    if generator.outstanding:
        generator.finished.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(generator.finished.wait(), grace)
    results.cpu_seconds = time.process_time() - cpu_before
    results.send_seconds = time.monotonic() - wall_before
    return results


async def _schedule(generator: _Generator, start: float, rate: float, count: int) -> None:
    loop = asyncio.get_running_loop()
    index = 0
    while index < count:
        now = loop.time()
        due = min(count, int((now - start) * rate) + 1) if now >= start else 0
        while index < due:
            generator.dispatch(index)
            index += 1
        next_time = start + index / rate
        # Waking at most once a millisecond sends the requests due meanwhile together.
        # Their latency still counts from their own due time, so the batching adds about
        # a millisecond while the generator keeps up, and saves a timer wake-up per request.
        await asyncio.sleep(max(MIN_SLEEP_SECONDS, next_time - loop.time()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--plan", type=Path, required=True, help="request plan (JSON)")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--count", type=int, required=True, help="requests to send")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait at the end")
    parser.add_argument("--connections", type=int, default=256, help="max open connections")
    parser.add_argument("--out", type=Path, required=True, help="results file (JSON)")
    args = parser.parse_args(argv)

    import uvloop

    plan = load_plan(args.plan)
    results = uvloop.run(run_plan(plan, args.rate, args.count, args.timeout, args.connections))
    args.out.write_text(json.dumps(results.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
