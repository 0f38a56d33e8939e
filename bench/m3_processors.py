"""M3 — processors: events per second draining pre-filled alert events.

``backend.events`` is pre-filled with alert events; wxstream's worker, running its alert
router alone (:mod:`bench.agent_worker`), turns each into a message on
``outbound.messages``, and the baseline, a bare confluent-kafka consume → transform →
produce loop, does the same. A third system, the smallest faust-streaming agent doing the
transform (:mod:`bench.baselines.faust_transform`), shows how much of the gap is the
framework's. It is reported beside the target, not scored. The rate is read from the
growth of ``outbound.messages`` between the 10 % and 95 % marks. Every alert is then
found in ``outbound.messages`` by the bench id in its text. The sender is left out
because M4 measures it, and because a sender that cannot deliver would, once its buffer
is full, hold up the router it shares a consumer with.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from bench.charts import series_chart
from bench.context import Bench
from bench.corpus import Corpus
from bench.kafka_io import produce_all, read_values, record_count
from bench.profiling import Recorder
from bench.reconcile import Reconciliation, reconcile, scored
from bench.records import alert_records, bench_ids_in
from bench.report import Section, Table, ratio_cell, resource_table, utilisation_note
from bench.resources import Window
from bench.stack import BROKER, Stack
from bench.stats import pair_ratios, per_thousand
from schemas.topics import Topic, TopicCatalog
from wxstream.supervisor import ChildProcess

logger = logging.getLogger(__name__)

TARGET_RATIO = 0.5
BASELINE, WXSTREAM = "baseline", "wxstream"
# A bare faust-streaming agent: the drain rate of the framework under the worker.
FAUST = "faust agent"
SYSTEMS = (BASELINE, FAUST, WXSTREAM)
# The process name of each system's processor in the resource tables.
PROCESS = {BASELINE: "transform", FAUST: "faust", WXSTREAM: "worker"}
POLL_SECONDS = 0.5
# Maximum drain time of one run, so a stalled run cannot use up the time budget.
MAX_DRAIN_SECONDS = 600.0
BRIEF_EVENTS = 200_000
ROUTING_AGENTS = ("processors.alert_router",)


@dataclass
class M3Run:
    system: str
    pair: int
    events: int
    rate: float
    drained: int
    window: Window
    reconciliation: Reconciliation
    progress: list[tuple[float, float]]

    @property
    def score(self) -> float:
        return scored(self.rate, self.reconciliation)


def steady_rate(progress: list[tuple[float, float]], total: int) -> float:
    """Events per second between the 10 % and 95 % marks of a (seconds, count) series."""
    low = _time_at(progress, total * 0.10)
    high = _time_at(progress, total * 0.95)
    if low is None or high is None or high <= low:
        return 0.0
    return total * 0.85 / (high - low)


def _time_at(progress: list[tuple[float, float]], count: float) -> float | None:
    """Interpolate the time at which the series reached ``count``."""
    previous = (0.0, 0.0)
    for seconds, value in progress:
        if value >= count:
            if value == previous[1]:
                return seconds
            share = (count - previous[1]) / (value - previous[1])
            return previous[0] + share * (seconds - previous[0])
        previous = (seconds, value)
    return None


def follow(stack: Stack, topic: str, total: int, child: ChildProcess) -> list[tuple[float, float]]:
    """Sample the record count of ``topic`` until it reaches ``total`` or the time is up."""
    started = time.monotonic()
    progress: list[tuple[float, float]] = []
    while time.monotonic() - started < MAX_DRAIN_SECONDS:
        count = record_count(stack.bootstrap, topic)
        progress.append((time.monotonic() - started, float(count)))
        if count >= total:
            break
        if not child.running() and child.exit_code() not in (None, 0):
            raise RuntimeError(f"{child.name} exited early: {child.log_tail()}")
        time.sleep(POLL_SECONDS)
    return progress


def start_processor(bench: Bench, system: str, prefix: str, count: int) -> ChildProcess:
    stack = bench.stack
    if system == WXSTREAM:
        return stack.start_worker(prefix, agents=ROUTING_AGENTS)
    catalog = TopicCatalog(prefix=prefix)
    module = "transform" if system == BASELINE else "faust_transform"
    args = [
        *("--bootstrap", stack.bootstrap, "--source", catalog.name(Topic.BACKEND_EVENTS)),
        *("--target", catalog.name(Topic.OUTBOUND_MESSAGES), "--group", f"{prefix}{module}"),
        *("--linger-ms", str(stack.defaults.producer_linger_ms)),
    ]
    if system == BASELINE:
        args += ["--count", str(count)]
    else:
        args += ["--datadir", str(stack.root / f"{prefix}faust")]
    return stack.start_baseline(PROCESS[system], module, args)


def measure_run(bench: Bench, system: str, pair: int) -> M3Run:
    stack = bench.stack
    count = bench.mode.m3_events
    prefix = stack.new_prefix("m3")
    catalog = TopicCatalog(prefix=prefix)
    corpus = Corpus(bench.seed)
    produce_all(stack.bootstrap, catalog.name(Topic.BACKEND_EVENTS), alert_records(corpus, count))
    output = catalog.name(Topic.OUTBOUND_MESSAGES)

    with stack.sampler.window() as window:
        child = start_processor(bench, system, prefix, count)
        recorder = None
        if system == WXSTREAM and "m3_profile" not in bench.shared:
            recorder = Recorder(
                child.pid, 20, stack.root / "m3-worker.pyspy", "the worker during an M3 drain"
            )
        try:
            progress = follow(stack, output, count, child)
            if recorder is not None and (profile := recorder.finish()) is not None:
                bench.shared["m3_profile"] = profile
        finally:
            stack.stop(child, timeout=10)
    observed = bench_ids_in(
        json.loads(value).get("text") for value in read_values(stack.bootstrap, output)
    )
    expected = [item.bench_id for item in corpus.alerts(count)]
    drained = int(progress[-1][1]) if progress else 0
    result = M3Run(
        system,
        pair,
        count,
        steady_rate(progress, count),
        drained,
        window,
        reconcile(expected, observed),
        progress,
    )
    logger.info("M3 %s pair %d: %.0f events/s (%d drained)", system, pair, result.rate, drained)
    return result


def run(bench: Bench, section: Section) -> None:
    runs = [
        measure_run(bench, system, pair + 1)
        for pair in range(bench.mode.pairs)
        for system in SYSTEMS
    ]
    baseline = [r for r in runs if r.system == BASELINE]
    system = [r for r in runs if r.system == WXSTREAM]
    framework = [r for r in runs if r.system == FAUST]
    ratios = pair_ratios([r.score for r in system], [r.score for r in baseline])

    table = Table(
        ["pair", "system", "events/s", "drained", "process CPU s / 1,000", "reconciliation"]
    )
    for result in runs:
        name = PROCESS[result.system]
        cpu = per_thousand(result.window.cpu_seconds.get(name, 0.0), result.drained)
        table.add(
            result.pair,
            result.system,
            result.score,
            result.drained,
            cpu,
            result.reconciliation.describe(),
        )
    section.add_table(f"{bench.mode.m3_events:,} pre-filled alert events per run", table)
    summary = Table(["figure", "value"])
    summary.add("ratio wxstream / baseline, median (min-max)", ratio_cell(ratios))
    summary.add("target", f"≥ {TARGET_RATIO}")
    framework_ratios = pair_ratios([r.score for r in framework], [r.score for r in baseline])
    summary.add("ratio faust agent / baseline (not a target)", ratio_cell(framework_ratios))
    own_ratios = pair_ratios([r.score for r in system], [r.score for r in framework])
    summary.add("ratio wxstream / faust agent (not a target)", ratio_cell(own_ratios))
    section.add_table("", summary)
    section.notes.append(
        "The faust agent is the smallest faust-streaming agent doing the same transform "
        "(bench/baselines/faust_transform.py): faust's automatic acknowledgement, no "
        "deduplication, no dead letters. Its rate is about the most an agent on "
        "faust-streaming drains here, and the worker, built on the same framework, is unlikely "
        "to go faster."
    )
    for label in SYSTEMS:
        last = [r for r in runs if r.system == label][-1]
        names = [n for n in (*PROCESS.values(), BROKER, "sim") if n in last.window.peak_rss]
        section.add_table(
            f"Resources of the last {label} run, start-up included",
            resource_table(last.window, last.drained, names),
        )
        section.notes.append(utilisation_note(f"the last {label} run", last.window, names))
    chart = bench.charts_dir / "m3_drain.png"
    drawn = series_chart(
        chart,
        "M3 outbound messages written over time",
        "messages written",
        {f"{r.system} pair {r.pair}": r.progress for r in runs},
    )
    if drawn:
        section.charts.append(("M3 drain progress", bench.chart_link(chart)))

    if bench.mode.m3_events < BRIEF_EVENTS:
        rates = [r.rate for r in system if r.rate > 0]
        minutes = BRIEF_EVENTS / min(rates) / 60 * bench.mode.pairs if rates else float("nan")
        section.notes.append(
            f"Scaled down: {bench.mode.m3_events:,} events per run instead of "
            f"{BRIEF_EVENTS:,}, because at the worker's rate its {bench.mode.pairs} runs of "
            f"{BRIEF_EVENTS:,} would take about {minutes:.0f} minutes, most of the time budget."
        )
    if "m3_profile" in bench.shared:
        section.notes.append(bench.shared["m3_profile"].describe())
    lost = [r for r in runs if not r.reconciliation.ok]
    met = bool(ratios.ratios) and ratios.median >= TARGET_RATIO and not lost
    section.verdict = f"{'met' if met else 'not met'}: ratio {ratio_cell(ratios)}" + (
        f"; {len(lost)} run(s) lost events and scored zero" if lost else ""
    )
