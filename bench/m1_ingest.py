"""M1 — ingest: the highest webhook rate held with no error and p99 under 50 ms.

Each run warms up (discarded), searches for the highest passing rate in short open-loop
steps, then holds 90 % of that rate for the hold time, because a long hold meets stalls
that a short step rarely sees. A failed hold is retried 15 % lower, twice at most.
The baseline is a bare ASGI endpoint under the same server. wxstream is ``wxstream
ingest`` with signature checks on, appending every webhook with ``acks=all`` before it
responds. Every webhook ingest acknowledged is then looked up in ``webex.webhooks`` by
its ``data.id``. Two more systems are reported beside the target, not scored. The bare
endpoint as one FastAPI route shows the web framework's share of the gap. A raw
endpoint that checks the signature and appends durably before it responds shows the
least work of any service that appends first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.charts import percentile_chart, timeline_chart
from bench.context import Bench
from bench.corpus import Corpus
from bench.kafka_io import read_values
from bench.load import LOADGEN, LoadResult, drive
from bench.plans import RequestPlan
from bench.profiling import Profile, Recorder
from bench.reconcile import Reconciliation, reconcile, scored
from bench.report import Section, Table, ratio_cell, resource_table, utilisation_note
from bench.resources import Window
from bench.search import find_highest_rate
from bench.stack import BROKER, free_port
from bench.stats import pair_ratios, per_thousand
from bench.wrkcheck import INSTALL_HINT, saturate, write_requests, wrk_path
from schemas.topics import Topic, TopicCatalog
from wxstream.supervisor import ChildProcess

logger = logging.getLogger(__name__)

TARGET_RATIO = 0.5
BASELINE, WXSTREAM = "baseline", "wxstream"
# The bare endpoint as one FastAPI route: the web framework's share of the gap.
FASTAPI = "bare FastAPI"
# A raw endpoint that checks the signature and appends durably before it responds.
APPEND = "bare append"
SYSTEMS = (BASELINE, FASTAPI, APPEND, WXSTREAM)
# Systems reported beside the target, each as a ratio to the baseline and from wxstream.
FLOORS = (FASTAPI, APPEND)
# The process name of each system's server in the resource tables.
SERVER = {BASELINE: "bare", FASTAPI: "fastapi", APPEND: "append", WXSTREAM: "ingest"}
FIRST_START_RATE = {BASELINE: 2500.0, FASTAPI: 2500.0}
# The baseline appends nothing, so its requests need no unique ids: rendering this many
# and repeating them keeps a 60 s hold at thousands of requests per second cheap to set up.
BASELINE_DISTINCT_REQUESTS = 20_000
HOLD_SHARE = 0.9
HOLD_RETRY_SHARE = 0.85


@dataclass
class M1Run:
    system: str
    pair: int
    held_rate: float = 0.0
    hold: LoadResult | None = None
    window: Window | None = None
    reconciliation: Reconciliation | None = None
    trials: list[tuple[float, bool, float]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return scored(self.held_rate, self.reconciliation)


class _Run:
    """One baseline or wxstream run: its server, the ids it used and what it acknowledged."""

    def __init__(self, bench: Bench, system: str) -> None:
        self.bench = bench
        self.system = system
        self.next_index = 0
        self.acked: list[str] = []
        self.prefix = ""
        self.server: ChildProcess | None = None
        self.port = 0

    def start(self) -> None:
        stack = self.bench.stack
        if self.system == WXSTREAM:
            self.prefix = stack.new_prefix("m1")
            self.server, self.port = stack.start_ingest(self.prefix)
            return
        self.port = free_port()
        if self.system == APPEND:
            self.prefix = stack.new_prefix("m1a")
            topic = TopicCatalog(prefix=self.prefix).name(Topic.WEBEX_WEBHOOKS)
            self.server = stack.start_baseline(
                SERVER[APPEND],
                "append",
                [
                    *("--port", str(self.port), "--bootstrap", stack.bootstrap, "--topic", topic),
                    *("--linger-ms", str(stack.defaults.producer_linger_ms)),
                ],
                prefix=self.prefix,
                ready_url=f"http://127.0.0.1:{self.port}/",
            )
            return
        framework = "asgi" if self.system == BASELINE else "fastapi"
        self.server = stack.start_baseline(
            SERVER[self.system],
            "bare",
            ["--port", str(self.port), "--framework", framework],
            ready_url=f"http://127.0.0.1:{self.port}/",
        )

    def stop(self) -> None:
        if self.server is not None:
            self.bench.stack.stop(self.server)

    def send(self, rate: float, seconds: float) -> LoadResult:
        count = max(1, int(rate * seconds))
        stack = self.bench.stack
        plan = RequestPlan(
            "127.0.0.1",
            self.port,
            "webhook",
            stack.secret,
            stack.api_token,
            self.bench.seed,
            start=self.next_index,
            distinct=0 if self.system == WXSTREAM else BASELINE_DISTINCT_REQUESTS,
        )
        self.next_index += count
        result = drive(stack, plan, rate, count)
        self.acked.extend(result.acked)
        return result

    def reconcile(self) -> Reconciliation | None:
        """Find every acknowledged webhook in webex.webhooks, by its data.id."""
        if self.system != WXSTREAM:
            return None
        corpus = Corpus(self.bench.seed)
        by_message = {}
        for index in range(self.next_index):
            item = corpus.webhook(index)
            by_message[item.message_id] = item.bench_id
        topic = TopicCatalog(prefix=self.prefix).name(Topic.WEBEX_WEBHOOKS)
        observed = [
            by_message.get(json.loads(value)["data"]["id"], "?")
            for value in read_values(self.bench.stack.bootstrap, topic)
        ]
        return reconcile(self.acked, observed)


def measure_run(bench: Bench, system: str, pair: int, start_rate: float, first: bool) -> M1Run:
    mode = bench.mode
    run = _Run(bench, system)
    outcome = M1Run(system, pair)
    run.start()
    try:
        run.send(min(200.0, start_rate / 2), mode.m1_warmup_seconds)

        def trial(rate: float) -> bool:
            result = run.send(rate, mode.m1_step_seconds)
            outcome.trials.append((rate, result.passes(), result.latency.p99))
            logger.info("M1 %s pair %d: %.0f/s p99 %.1f ms", system, pair, rate, result.latency.p99)
            return result.passes()

        best = find_highest_rate(
            trial,
            start_rate,
            grow=1.4 if first else 1.15,
            refine=2 if first else 1,
            max_trials=7 if first else 3,
        )
        _hold(bench, run, outcome, best)
        if system == WXSTREAM and "m1_profile" not in bench.shared and outcome.held_rate:
            bench.shared["m1_profile"] = _profile(bench, run, outcome.held_rate)
        if system == BASELINE and first:
            _cross_check_with_wrk(bench, run.port)
        outcome.reconciliation = run.reconcile()
    finally:
        run.stop()
    return outcome


def _cross_check_with_wrk(bench: Bench, port: int) -> None:
    requests = write_requests(bench.stack.root / "wrk-requests.txt", bench.seed, bench.stack.secret)
    with bench.stack.sampler.window():
        bench.shared["wrk_bare"] = saturate(port, requests)


def _hold(bench: Bench, run: _Run, outcome: M1Run, rate: float) -> None:
    rate *= HOLD_SHARE
    for _ in range(3):
        if rate <= 0:
            return
        with bench.stack.sampler.window() as window:
            result = run.send(rate, bench.mode.m1_hold_seconds)
        logger.info("M1 %s hold %.0f/s: p99 %.1f ms", run.system, rate, result.latency.p99)
        if result.passes():
            outcome.held_rate, outcome.hold, outcome.window = rate, result, window
            return
        rate *= HOLD_RETRY_SHARE


def _profile(bench: Bench, run: _Run, rate: float) -> Profile | None:
    """Record ingest at its held rate for up to 20 s in an extra phase that is not counted.

    py-spy's sampling takes CPU from the server, so a recorded hold would hold less.
    """
    if run.server is None:
        return None
    seconds = min(20.0, bench.mode.m1_hold_seconds)
    output = bench.stack.root / "m1-ingest.pyspy"
    label = f"ingest at its held rate, {rate:.0f}/s (a phase not counted)"
    recorder = Recorder(run.server.pid, seconds, output, label)
    run.send(rate, seconds)
    return recorder.finish()


def run(bench: Bench, section: Section) -> None:
    runs: list[M1Run] = []
    best: dict[str, float] = {}
    for pair in range(bench.mode.pairs):
        for system in SYSTEMS:
            first = system not in best
            default = FIRST_START_RATE.get(system, bench.mode.m1_start_rate)
            start = best.get(system) or default
            result = measure_run(bench, system, pair + 1, start, first)
            runs.append(result)
            if result.held_rate > 0:
                best[system] = result.held_rate
    _write(bench, section, runs)


def _write(bench: Bench, section: Section, runs: list[M1Run]) -> None:
    baseline = [r for r in runs if r.system == BASELINE]
    system = [r for r in runs if r.system == WXSTREAM]
    ratios = pair_ratios([r.score for r in system], [r.score for r in baseline])
    bench.shared["m1_capacity"] = max((r.score for r in system), default=0.0)

    table = Table(
        [
            "pair",
            "system",
            "held rate /s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "server CPU s / 1,000",
            "reconciliation",
        ]
    )
    for result in runs:
        hold = result.hold
        cpu = _cpu_per_thousand(result, SERVER[result.system])
        table.add(
            result.pair,
            result.system,
            result.score,
            hold.latency.p50 if hold else None,
            hold.latency.p99 if hold else None,
            hold.latency.max if hold else None,
            cpu,
            result.reconciliation.describe() if result.reconciliation else "not applicable",
        )
    section.add_table(f"Held rate per run ({bench.mode.m1_hold_seconds:.0f} s hold)", table)

    summary = Table(["figure", "value"])
    summary.add("ratio wxstream / baseline, median (min-max)", ratio_cell(ratios))
    summary.add("target", f"≥ {TARGET_RATIO}")
    for floor in FLOORS:
        scores = [r.score for r in runs if r.system == floor]
        floor_ratios = pair_ratios(scores, [r.score for r in baseline])
        summary.add(f"ratio {floor} / baseline (not a target)", ratio_cell(floor_ratios))
        own_ratios = pair_ratios([r.score for r in system], scores)
        summary.add(f"ratio wxstream / {floor} (not a target)", ratio_cell(own_ratios))
    section.add_table("", summary)
    section.notes.append(
        "Bare FastAPI is the bare endpoint as one FastAPI route under the same server "
        "(bench/baselines/bare.py --framework fastapi): the web framework's own cost. Bare "
        "append is a raw ASGI endpoint under the same server that checks the signature, "
        "appends the body with an idempotent acks=all producer and responds after the "
        "acknowledgement (bench/baselines/append.py, also M2's baseline): about the least "
        "work of any service that appends before it responds, so its ratio to the "
        "baseline bounds what such a service reaches on this machine."
    )
    _resources(section, runs)
    _generator_capacity(bench, section, runs)
    _charts(bench, section, runs)
    if (profile := bench.shared.get("m1_profile")) is not None:
        section.notes.append(profile.describe())

    lost = [r for r in system if r.reconciliation and not r.reconciliation.ok]
    met = ratios.ratios and ratios.median >= TARGET_RATIO and not lost
    section.verdict = f"{'met' if met else 'not met'}: ratio {ratio_cell(ratios)}" + (
        f"; {len(lost)} run(s) lost events and scored zero" if lost else ""
    )


def _cpu_per_thousand(result: M1Run, name: str) -> float | None:
    if result.window is None or result.hold is None:
        return None
    return per_thousand(result.window.cpu_seconds.get(name, 0.0), len(result.hold.acked))


def _resources(section: Section, runs: list[M1Run]) -> None:
    for system in SYSTEMS:
        last = next((r for r in reversed(runs) if r.system == system and r.window), None)
        if last is None or last.hold is None or last.window is None:
            continue
        names = [n for n in (*SERVER.values(), BROKER, LOADGEN) if n in last.window.peak_rss]
        section.add_table(
            f"Resources during the last {system} hold ({last.held_rate:.0f}/s)",
            resource_table(last.window, len(last.hold.acked), names),
        )
        section.notes.append(utilisation_note(f"the last {system} hold", last.window, names))


def _generator_capacity(bench: Bench, section: Section, runs: list[M1Run]) -> None:
    holds = [r.hold for r in runs if r.hold is not None and r.hold.cpu_seconds > 0]
    if not holds:
        return
    fastest = max(holds, key=lambda hold: hold.rate)
    capacity = len(fastest.ids) / fastest.cpu_seconds
    verdict = (
        "it is not the bottleneck"
        if capacity > 1.5 * fastest.rate
        else "it may limit the baseline's figure"
    )
    section.notes.append(
        f"Load generator: open loop, its own process. At {fastest.rate:.0f} requests/s it "
        f"used {fastest.cpu_seconds / fastest.send_seconds:.0%} of one core, so one core "
        f"drives about {capacity:,.0f} requests/s: {verdict}."
    )
    wrk = bench.shared.get("wrk_bare")
    if wrk:
        section.notes.append(
            f"Cross-check with wrk (closed loop, 1 thread, 16 connections, 5 s): the bare "
            f"endpoint served {wrk:,.0f} requests/s with no latency limit."
        )
    elif wrk_path() is None:
        section.notes.append(f"No wrk cross-check: {INSTALL_HINT}.")
    bench.shared["generator_capacity"] = capacity


def _charts(bench: Bench, section: Section, runs: list[M1Run]) -> None:
    holds: dict[str, LoadResult] = {}
    for result in runs:
        if result.hold is not None:
            holds[f"{result.system} at {result.held_rate:.0f}/s"] = result.hold
    if not holds:
        return
    timeline = bench.charts_dir / "m1_timeline.png"
    if timeline_chart(timeline, "M1 hold runs: answers per second and p99 latency", holds):
        section.charts.append(("M1 throughput and p99 over time", bench.chart_link(timeline)))
    curve = bench.charts_dir / "m1_percentiles.png"
    samples = {label: hold.latencies_ms for label, hold in holds.items()}
    if percentile_chart(curve, "M1 hold runs: latency percentiles", samples):
        section.charts.append(("M1 latency percentiles", bench.chart_link(curve)))


Runner = Callable[[Bench, Section], None]
