"""Run the load generator as its own process and summarise what it recorded."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.plans import RequestPlan
from bench.stack import PYTHON, Stack
from bench.stats import LatencySummary, percentile

LOADGEN = "loadgen"
OK_STATUSES = frozenset({200, 201, 202})
P99_LIMIT_MS = 50.0


@dataclass
class LoadResult:
    """The outcome of one open-loop run: per-request times (epoch seconds) and statuses."""

    rate: float
    ids: list[str]
    intended: list[float]
    done: list[float]
    status: list[int]
    cpu_seconds: float = 0.0
    send_seconds: float = 0.0
    # When each request was written to its connection (NaN if never), after any wait for
    # a free connection.
    sent: list[float] = field(default_factory=list)
    acked: list[str] = field(init=False)
    latencies_ms: list[float] = field(init=False)

    def __post_init__(self) -> None:
        ok = [i for i, status in enumerate(self.status) if status in OK_STATUSES]
        self.acked = [self.ids[i] for i in ok]
        self.latencies_ms = [(self.done[i] - self.intended[i]) * 1000 for i in ok]

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def errors(self) -> int:
        return self.count - len(self.acked)

    @property
    def unanswered(self) -> int:
        return sum(1 for value in self.done if math.isnan(value))

    @property
    def latency(self) -> LatencySummary:
        return LatencySummary.of(self.latencies_ms)

    @property
    def achieved_rate(self) -> float:
        """Acknowledged requests per second from the first due time to the last response."""
        finished = [value for value in self.done if not math.isnan(value)]
        if not finished or not self.intended:
            return 0.0
        span = max(finished) - self.intended[0]
        return len(self.acked) / span if span > 0 else 0.0

    def passes(self, p99_limit_ms: float = P99_LIMIT_MS) -> bool:
        """True with no failed request and a p99 latency under the limit."""
        if self.errors or not self.latencies_ms:
            return False
        return percentile(self.latencies_ms, 0.99) < p99_limit_ms

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for value in self.status:
            counts[value] = counts.get(value, 0) + 1
        return counts

    def per_second(self) -> list[tuple[float, int, float, float]]:
        """Return (second since start, responses, p50 ms, p99 ms) for each full second."""
        if not self.intended:
            return []
        origin = self.intended[0]
        buckets: dict[int, list[float]] = {}
        for index, latency in zip(self._ok_indexes(), self.latencies_ms, strict=True):
            second = int(self.done[index] - origin)
            buckets.setdefault(second, []).append(latency)
        rows = [
            (float(second), len(values), percentile(values, 0.5), percentile(values, 0.99))
            for second, values in sorted(buckets.items())
        ]
        # The last second is partial: the run ends inside it.
        return rows[:-1] if len(rows) > 2 else rows

    def _ok_indexes(self) -> list[int]:
        return [i for i, status in enumerate(self.status) if status in OK_STATUSES]


def drive(
    stack: Stack,
    plan: RequestPlan,
    rate: float,
    count: int,
    *,
    timeout: float = 15.0,
    connections: int = 256,
) -> LoadResult:
    """Send ``count`` requests of ``plan`` at ``rate`` per second from a generator process."""
    work = stack.root / "load"
    work.mkdir(exist_ok=True)
    plan_path = plan.save(work / "plan.json")
    out = work / "results.json"
    out.unlink(missing_ok=True)
    command = [
        PYTHON,
        "-m",
        "bench.loadgen",
        "--plan",
        str(plan_path),
        "--rate",
        f"{rate:.3f}",
        "--count",
        str(count),
        "--timeout",
        str(timeout),
        "--connections",
        str(connections),
        "--out",
        str(out),
    ]
    with (stack.logs / "loadgen.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        stack.sampler.watch(LOADGEN, process.pid)
        try:
            process.wait(timeout=count / rate + timeout + 120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    if process.returncode != 0:
        raise RuntimeError(
            f"the load generator exited with code {process.returncode}; "
            f"see {stack.logs / 'loadgen.log'}"
        )
    return read_results(out, rate)


def read_results(path: Path, rate: float) -> LoadResult:
    document = json.loads(path.read_text())
    return LoadResult(
        rate=rate,
        ids=document["ids"],
        intended=document["intended"],
        done=document["done"],
        status=document["status"],
        cpu_seconds=document["cpu_seconds"],
        send_seconds=document["send_seconds"],
        sent=document["sent"],
    )
