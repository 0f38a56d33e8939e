"""M6 — recovery: kill -9 of the worker, then a broker restart, under steady half load.

The load is an open-loop mix of signed webhooks and alerts at half of wxstream's
end-to-end capacity (from M2, else 40 events/s). A third of the way into each phase
the worker is killed with SIGKILL and a new one started, or the broker is stopped and
started again on the same data. Afterwards every acknowledged event must have a reply
at the simulator; replies beyond the first are duplicates. A request counts as hanging
when it got no response, or its response came more than the append timeout plus 5 s
after the load generator sent it. The clock starts at sending, not at the request's
planned time: while the broker is down each request waits up to the append timeout for
its 503, the generator's connections fill up, and later requests wait in the generator
before they reach ingest.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.context import Bench
from bench.conversations import ReplyLog, create_people, create_targets
from bench.corpus import Corpus
from bench.load import LoadResult, drive
from bench.plans import RequestPlan
from bench.reconcile import Reconciliation, reconcile
from bench.report import Section, Table
from bench.stack import Stack
from wxstream.supervisor import ChildProcess

logger = logging.getLogger(__name__)

DEFAULT_RATE = 40.0
HANG_SECONDS = 10.0
FIRST_DELIVERY_TARGET_SECONDS = 15.0
DRAIN_TIMEOUT_SECONDS = 240.0


@dataclass
class RecoveryPhase:
    label: str
    load: LoadResult
    reconciliation: Reconciliation
    hanging: int
    first_delivery_seconds: float | None = None


class _System:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.stack: Stack = bench.stack
        self.corpus = Corpus(bench.seed)
        self.prefix = ""
        self.port = 0
        self.worker: ChildProcess | None = None
        self.ingest: ChildProcess | None = None
        self.next_index = 0
        self.replies = ReplyLog(self.stack)

    def start(self) -> None:
        self.stack.sim_reset()
        self.replies = ReplyLog(self.stack)
        create_people(self.stack, self.corpus)
        self.prefix = self.stack.new_prefix("m6")
        self.ingest, self.port = self.stack.start_ingest(self.prefix)
        self.worker = self.stack.start_worker(self.prefix)

    def stop(self) -> None:
        for child in (self.worker, self.ingest):
            if child is not None:
                self.stack.stop(child, timeout=15)
        self.stack.sim_reset()

    def phase(
        self, label: str, rate: float, seconds: float, disrupt: Callable[[], float | None]
    ) -> RecoveryPhase:
        count = max(2, int(rate * seconds))
        indexes = range(self.next_index, self.next_index + count)
        targets = create_targets(self.stack, self.corpus, [i for i in indexes if i % 2 == 0])
        plan = RequestPlan(
            "127.0.0.1",
            self.port,
            "mixed",
            self.stack.secret,
            self.stack.api_token,
            self.bench.seed,
            start=self.next_index,
            targets=targets,
        )
        self.next_index += count
        box: dict[str, LoadResult] = {}
        thread = threading.Thread(
            target=lambda: box.update(load=drive(self.stack, plan, rate, count, timeout=30))
        )
        thread.start()
        time.sleep(seconds / 3)
        back_at = disrupt()
        thread.join()
        load = box["load"]
        replies = self.replies.wait_for(load.acked, DRAIN_TIMEOUT_SECONDS)
        observed = [i for i in load.ids for _ in replies.get(i, [])]
        hanging = sum(
            1
            for sent, done in zip(load.sent, load.done, strict=True)
            if math.isnan(sent) or math.isnan(done) or done - sent > HANG_SECONDS
        )
        result = RecoveryPhase(label, load, reconcile(load.acked, observed), hanging)
        if back_at is not None:
            result.first_delivery_seconds = _first_delivery(load, replies, back_at)
        return result

    def kill_worker(self) -> None:
        assert self.worker is not None
        logger.info("M6: killing the worker (pid %d) with SIGKILL", self.worker.pid)
        self.worker.kill()
        self.stack.stop(self.worker)
        self.worker = self.stack.start_worker(self.prefix)

    def restart_broker(self) -> float:
        logger.info("M6: restarting the broker")
        self.stack.stop_broker()
        return self.stack.start_broker()


def _first_delivery(load: LoadResult, replies: dict[str, list[float]], back_at: float) -> float:
    """Seconds from the broker's return to the first reply to an event acked after it."""
    done = dict(zip(load.ids, load.done, strict=True))
    after = [min(replies[i]) for i in load.acked if i in replies and done[i] >= back_at]
    return min(after) - back_at if after else math.nan


def run(bench: Bench, section: Section) -> None:
    capacity = bench.shared.get("m2_capacity_wxstream")
    rate = capacity * bench.mode.m6_rate_share if capacity else DEFAULT_RATE
    seconds = bench.mode.m6_seconds
    system = _System(bench)
    system.start()
    try:
        phases = [
            system.phase("worker kill -9", rate, seconds, lambda: system.kill_worker()),
            system.phase("broker restart", rate, seconds, system.restart_broker),
        ]
    finally:
        system.stop()

    table = Table(
        [
            "disruption",
            "sent",
            "acknowledged",
            "errors (non-2xx)",
            "hanging",
            "lost",
            "duplicates",
            "first delivery after broker back, s",
        ]
    )
    for phase in phases:
        table.add(
            phase.label,
            phase.load.count,
            len(phase.load.acked),
            phase.load.errors,
            phase.hanging,
            len(phase.reconciliation.lost),
            phase.reconciliation.duplicates,
            phase.first_delivery_seconds,
        )
    section.add_table(
        f"Mixed webhooks and alerts at {rate:.0f} events/s for {seconds:.0f} s per phase", table
    )
    lost = sum(len(p.reconciliation.lost) for p in phases)
    hanging = sum(p.hanging for p in phases)
    first = phases[1].first_delivery_seconds
    first_ok = (
        first is not None and not math.isnan(first) and first <= (FIRST_DELIVERY_TARGET_SECONDS)
    )
    met = lost == 0 and hanging == 0 and first_ok
    if first is not None and not math.isnan(first):
        recovery = f"first delivery {first:.1f} s after the broker was back"
    else:
        recovery = "no event was acknowledged after the broker was back: lengthen the phase"
    section.verdict = f"{'met' if met else 'not met'}: {lost} lost, {hanging} hanging, {recovery}"
    for phase in phases:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(phase.load.statuses().items()))
        section.notes.append(
            f"{phase.label}: HTTP statuses {statuses} (0 = no answer, -1 = connection failed)."
        )
