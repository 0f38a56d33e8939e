"""M4 — sender: messages per second to a simulator that adds 50 ms to every post.

``outbound.messages`` is pre-filled with messages to 64 people; wxstream's worker
delivers them with 16 posts in flight (``WXSTREAM_SENDER_MAX_IN_FLIGHT``), and the
baseline posts the same bodies from a plain httpx loop with 16 in flight. The rate is
read from the simulator's creation times of the bot's messages, leaving out the first
10 % (start-up) and the last 5 % (tail). Every message is then found at the simulator
by the bench id in its text.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bench.charts import series_chart
from bench.context import Bench
from bench.corpus import Corpus
from bench.kafka_io import produce_all
from bench.reconcile import Reconciliation, reconcile, scored
from bench.records import bench_ids_in, outbound_records
from bench.report import Section, Table, ratio_cell, resource_table, utilisation_note
from bench.resources import Window
from bench.stack import BROKER, Stack
from bench.stats import pair_ratios, per_thousand
from schemas.topics import Topic, TopicCatalog
from wxstream.sim.clock import parse_iso

logger = logging.getLogger(__name__)

TARGET_RATIO = 0.8
IN_FLIGHT = 16
LATENCY_MS = 50
BASELINE, WXSTREAM = "baseline", "wxstream"
POLL_SECONDS = 0.5


@dataclass
class M4Run:
    system: str
    pair: int
    rate: float
    delivered: int
    window: Window
    reconciliation: Reconciliation
    timeline: list[tuple[float, float]]

    @property
    def score(self) -> float:
        return scored(self.rate, self.reconciliation)


def add_latency(stack: Stack, milliseconds: float) -> None:
    stack.sim_control(
        "POST",
        "faults",
        {"kind": "latency", "path": "/messages", "method": "POST", "latencyMs": milliseconds},
    )


def delivery_times(stack: Stack) -> tuple[list[float], list[str]]:
    """Return the creation times (epoch) and bench ids of the bot's messages."""
    messages = stack.bot_messages()
    times = sorted(parse_iso(m["created"]) or 0.0 for m in messages)
    return times, bench_ids_in(m.get("text") for m in messages)


def steady_rate(times: list[float]) -> float:
    """Messages per second between the 10 % and 95 % marks of the creation times."""
    if len(times) < 20:
        return 0.0
    first, last = int(len(times) * 0.10), int(len(times) * 0.95)
    span = times[last] - times[first]
    return (last - first) / span if span > 0 else 0.0


def per_second(times: list[float]) -> list[tuple[float, float]]:
    if not times:
        return []
    counts: dict[int, int] = {}
    for value in times:
        second = int(value - times[0])
        counts[second] = counts.get(second, 0) + 1
    return [(float(second), float(count)) for second, count in sorted(counts.items())]


def wait_for_count(stack: Stack, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(stack.bot_messages()) >= count:
            return
        time.sleep(POLL_SECONDS)
    logger.warning(
        "only %d of %d messages arrived in %.0f s", len(stack.bot_messages()), count, timeout
    )


def measure_run(bench: Bench, system: str, pair: int) -> M4Run:
    stack = bench.stack
    count = bench.mode.m4_messages
    prefix = stack.new_prefix("m4")
    topic = TopicCatalog(prefix=prefix).name(Topic.OUTBOUND_MESSAGES)
    corpus = Corpus(bench.seed)
    produce_all(stack.bootstrap, topic, outbound_records(corpus, count))
    expected = [item.bench_id for item in corpus.alerts(count)]
    stack.sim_reset()
    add_latency(stack, LATENCY_MS)
    timeout = count / (IN_FLIGHT * 1000 / LATENCY_MS) * 4 + 60

    with stack.sampler.window() as window:
        if system == WXSTREAM:
            child = stack.start_worker(prefix, sender_max_in_flight=IN_FLIGHT)
        else:
            child = stack.start_baseline(
                "httpx-sender",
                "sender",
                [
                    "--bootstrap",
                    stack.bootstrap,
                    "--topic",
                    topic,
                    "--url",
                    f"{stack.sim_url}/v1",
                    "--in-flight",
                    str(IN_FLIGHT),
                ],
            )
        try:
            wait_for_count(stack, count, timeout)
        finally:
            stack.stop(child)
    times, ids = delivery_times(stack)
    result = M4Run(
        system,
        pair,
        steady_rate(times),
        len(times),
        window,
        reconcile(expected, ids),
        per_second(times),
    )
    logger.info("M4 %s pair %d: %.1f messages/s", system, pair, result.rate)
    return result


def run(bench: Bench, section: Section) -> None:
    runs = [
        measure_run(bench, system, pair + 1)
        for pair in range(bench.mode.pairs)
        for system in (BASELINE, WXSTREAM)
    ]
    bench.stack.sim_reset()
    baseline = [r for r in runs if r.system == BASELINE]
    system = [r for r in runs if r.system == WXSTREAM]
    ratios = pair_ratios([r.score for r in system], [r.score for r in baseline])
    bench.shared["m4_rate"] = max((r.score for r in system), default=0.0)

    table = Table(
        ["pair", "system", "messages/s", "delivered", "process CPU s / 1,000", "reconciliation"]
    )
    for result in runs:
        name = "worker" if result.system == WXSTREAM else "httpx-sender"
        cpu = per_thousand(result.window.cpu_seconds.get(name, 0.0), result.delivered)
        table.add(
            result.pair,
            result.system,
            result.score,
            result.delivered,
            cpu,
            result.reconciliation.describe(),
        )
    section.add_table(
        f"{bench.mode.m4_messages:,} messages per run, {LATENCY_MS} ms added per post, "
        f"{IN_FLIGHT} in flight (ceiling {IN_FLIGHT * 1000 // LATENCY_MS}/s)",
        table,
    )
    summary = Table(["figure", "value"])
    summary.add("ratio wxstream / baseline, median (min-max)", ratio_cell(ratios))
    summary.add("target", f"≥ {TARGET_RATIO}")
    section.add_table("", summary)
    for label in (BASELINE, WXSTREAM):
        last = [r for r in runs if r.system == label][-1]
        names = [n for n in ("worker", "httpx-sender", "sim", BROKER) if n in last.window.peak_rss]
        section.add_table(
            f"Resources of the last {label} run, whole run including start-up",
            resource_table(last.window, last.delivered, names),
        )
        section.notes.append(utilisation_note(f"the last {label} run", last.window, names))
    chart = bench.charts_dir / "m4_throughput.png"
    drawn = series_chart(
        chart,
        "M4 deliveries per second",
        "messages / s",
        {f"{r.system} pair {r.pair}": r.timeline for r in runs},
    )
    if drawn:
        section.charts.append(("M4 deliveries per second", bench.chart_link(chart)))

    lost = [r for r in runs if not r.reconciliation.ok]
    met = bool(ratios.ratios) and ratios.median >= TARGET_RATIO and not lost
    section.verdict = f"{'met' if met else 'not met'}: ratio {ratio_cell(ratios)}" + (
        f"; {len(lost)} run(s) lost messages and scored zero" if lost else ""
    )
