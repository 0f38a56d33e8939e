"""M5 — rate limits: the sender against a per-token bucket that returns 429 + Retry-After.

The simulator's bucket refills ``limit`` tokens per second and contains at most ``limit`` tokens,
so every 429 it sends carries ``Retry-After: 1`` (the wait is under one second and
the simulator rounds it up). ``outbound.messages`` holds ``limit x seconds`` messages;
the worker delivers them. Goodput is the rate of accepted posts between the 10 % and
95 % marks. An early request is a ``POST /messages`` that reached the simulator after
a 429 had been answered (plus a 100 ms grace for requests already on the wire) and
before its Retry-After expired.
"""

from __future__ import annotations

import logging
from typing import Any

from bench.context import Bench
from bench.corpus import Corpus
from bench.kafka_io import produce_all
from bench.m4_sender import delivery_times, steady_rate, wait_for_count
from bench.reconcile import reconcile
from bench.records import outbound_records
from bench.report import Section, Table, resource_table, utilisation_note
from bench.stack import BROKER
from schemas.topics import Topic, TopicCatalog

logger = logging.getLogger(__name__)

GOODPUT_TARGET = 0.9
RETRY_AFTER_SECONDS = 1.0
GRACE_SECONDS = 0.100
MESSAGES_PATH = "/v1/messages"


def early_requests(
    requests: list[dict[str, Any]],
    retry_after: float = RETRY_AFTER_SECONDS,
    grace: float = GRACE_SECONDS,
) -> int:
    """Count posts that arrived while the Retry-After of an earlier 429 was running."""
    posts = sorted((r for r in requests if r["method"] == "POST"), key=lambda r: r["time"])
    windows = [
        (r["time"] + r["latencyMs"] / 1000 + grace, r["time"] + retry_after)
        for r in posts
        if r["status"] == 429
    ]
    early = 0
    for request in posts:
        arrived = request["time"]
        if any(start < arrived < end for start, end in windows):
            early += 1
    return early


def run(bench: Bench, section: Section) -> None:
    stack = bench.stack
    limit = bench.mode.m5_limit
    count = int(limit * bench.mode.m5_seconds)
    prefix = stack.new_prefix("m5")
    corpus = Corpus(bench.seed)
    topic = TopicCatalog(prefix=prefix).name(Topic.OUTBOUND_MESSAGES)
    produce_all(stack.bootstrap, topic, outbound_records(corpus, count))
    stack.sim_reset()
    stack.sim_control(
        "POST",
        "faults",
        {
            "kind": "rateLimit",
            "path": "/messages",
            "method": "POST",
            "rate": limit,
            "burst": limit,
            "scope": "token",
        },
    )
    with stack.sampler.window() as window:
        worker = stack.start_worker(prefix)
        try:
            wait_for_count(stack, count, count / limit * 3 + 90)
        finally:
            stack.stop(worker)
    times, ids = delivery_times(stack)
    requests = stack.sim_control(
        "GET", "requests", params={"method": "POST", "path": MESSAGES_PATH}
    )["items"]
    stack.sim_reset()

    goodput = steady_rate(times)
    limited = sum(1 for r in requests if r["status"] == 429)
    early = early_requests(requests)
    reconciliation = reconcile([item.bench_id for item in corpus.alerts(count)], ids)
    table = Table(["figure", "value", "target"])
    table.add("configured limit, posts/s (burst the same)", limit, "—")
    table.add("goodput, accepted posts/s", goodput, f"≥ {GOODPUT_TARGET * limit:.1f}")
    table.add("goodput / limit", goodput / limit, f"≥ {GOODPUT_TARGET}")
    table.add("429 answers", limited, "—")
    table.add("requests before Retry-After expired", early, "0")
    table.add("reconciliation", reconciliation.describe(), "nothing lost")
    section.add_table(f"{count:,} messages, one worker, one token", table)
    names = ["worker", "sim", BROKER]
    section.add_table("Resources, start-up included", resource_table(window, len(times), names))
    section.notes.append(utilisation_note("the run", window, names))
    met = goodput >= GOODPUT_TARGET * limit and early == 0 and reconciliation.ok
    section.verdict = (
        f"{'met' if met else 'not met'}: goodput {goodput / limit:.2f} x limit, "
        f"{early} early requests, {reconciliation.describe()}"
    )
