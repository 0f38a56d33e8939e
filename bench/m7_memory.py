"""M7 — memory: resident memory of every process after a first and a second checkpoint.

Alerts are posted to ``POST /api/v1/alert`` at a constant rate; each checkpoint waits
until every acknowledged alert has been delivered to the simulator, then records the
RSS of each process. Growth is the change from the first checkpoint to the second.
The simulator keeps every message it receives, so its growth is expected and not
judged.
"""

from __future__ import annotations

import logging
import time

from bench.charts import series_chart
from bench.context import Bench
from bench.conversations import ReplyLog, create_people
from bench.corpus import Corpus
from bench.load import drive
from bench.plans import RequestPlan
from bench.reconcile import reconcile
from bench.report import Section, Table
from bench.resources import MIB
from bench.stack import BROKER

logger = logging.getLogger(__name__)

GROWTH_TARGET = 0.10
JUDGED = ("ingest", "worker", BROKER)
RATE = {"full": 400.0, "quick": 100.0}
DRAIN_TIMEOUT_SECONDS = 1800.0
FULL_CHECKPOINTS = (100_000, 1_000_000)


def growth(first: int, second: int) -> float:
    """Return the relative change from ``first`` to ``second`` (0.1 is 10 % more)."""
    return (second - first) / first if first else float("nan")


def run(bench: Bench, section: Section) -> None:
    stack = bench.stack
    rate = RATE.get(bench.mode.name, 100.0)
    stack.sim_reset()
    replies = ReplyLog(stack)
    create_people(stack, Corpus(bench.seed))
    prefix = stack.new_prefix("m7")
    ingest, port = stack.start_ingest(prefix)
    worker = stack.start_worker(prefix)
    started = stack.sampler.series[-1][0] if stack.sampler.series else 0.0
    clock = time.monotonic()
    checkpoints: list[tuple[int, dict[str, int]]] = []
    acked: list[str] = []
    sent = 0
    try:
        for target in (bench.mode.m7_first, bench.mode.m7_second):
            count = target - sent
            plan = RequestPlan(
                "127.0.0.1", port, "alert", stack.secret, stack.api_token, bench.seed, start=sent
            )
            load = drive(stack, plan, rate, count)
            acked.extend(load.acked)
            sent = target
            replies.wait_for(acked, DRAIN_TIMEOUT_SECONDS)
            stack.sampler.sample()
            checkpoints.append((target, stack.sampler.rss()))
            logger.info("M7 checkpoint %d: %s", target, checkpoints[-1][1])
        delivered = replies.wait_for(acked, 1)
        bench.shared["m7_rate"] = len(acked) / (time.monotonic() - clock)
    finally:
        stack.stop(worker)
        stack.stop(ingest)
    observed = [i for i, times in delivered.items() for _ in times]
    reconciliation = reconcile(acked, observed)
    stack.sim_reset()
    _write(bench, section, checkpoints, reconciliation.describe(), reconciliation.ok, started)


def _write(
    bench: Bench,
    section: Section,
    checkpoints: list[tuple[int, dict[str, int]]],
    reconciliation: str,
    ok: bool,
    started: float,
) -> None:
    (first_count, first), (second_count, second) = checkpoints
    table = Table(
        [
            "process",
            f"RSS MiB after {first_count:,}",
            f"RSS MiB after {second_count:,}",
            "growth",
            "judged",
        ]
    )
    judged_growth = []
    for name in sorted(second):
        if name not in first or name in ("loadgen",):
            continue
        change = growth(first[name], second[name])
        judged = name in JUDGED
        if judged:
            judged_growth.append((name, change))
        table.add(name, first[name] / MIB, second[name] / MIB, f"{change:+.1%}", judged)
    section.add_table("Alerts through ingest, the alert router and the sender", table)
    section.add_table("", _one_row("reconciliation", reconciliation))
    chart = bench.charts_dir / "m7_memory.png"
    series = {
        name: [
            (t - started, rss.get(name, 0) / MIB)
            for t, rss in bench.stack.sampler.series
            if t >= started and name in rss
        ]
        for name in JUDGED
    }
    if series_chart(chart, "M7 resident memory over the run", "RSS MiB", series):
        section.charts.append(("M7 memory over time", bench.chart_link(chart)))
    rate = bench.shared["m7_rate"]
    section.notes.append(
        f"The chain delivered {rate:.0f} alerts per second on average. The worker's memory "
        "rises until the shared RocksDB cache and memtables are full and the backlog of alerts "
        "stops growing (see the chart), so an earlier first checkpoint would count that "
        "warm-up as growth."
    )
    if (first_count, second_count) != FULL_CHECKPOINTS:
        section.notes.append(
            f"Scaled down: checkpoints after {first_count:,} and {second_count:,} alerts instead "
            f"of {FULL_CHECKPOINTS[0]:,} and {FULL_CHECKPOINTS[1]:,}."
        )
    worst = max(judged_growth, key=lambda item: item[1], default=("none", 0.0))
    met = ok and all(change <= GROWTH_TARGET for _, change in judged_growth)
    section.verdict = (
        f"{'met' if met else 'not met'}: largest growth {worst[1]:+.1%} ({worst[0]}); "
        f"{reconciliation}"
    )


def _one_row(name: str, value: str) -> Table:
    table = Table(["figure", "value"])
    table.add(name, value)
    return table
