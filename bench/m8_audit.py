"""M8 — audit memory and seeking: one conversation's timeline from a small and a large log.

Two logs of the same shape are written under fresh prefixes. Each is made of chains of
events in 1,000 rooms, with timestamps spread evenly over a simulated month. A chain is
a webhook, the received message, an outbound message and its delivery attempt, or an
alert, an outbound message and its delivery attempt. A target room has the same events
in both logs: chains spread over the month and more in its last hour.
``wxstream audit --room <target> --format jsonl`` then runs as a child process on each
log, over the room's whole history and ``--since`` the last hour.

Peak RSS is the child's ``VmHWM``, the kernel's high-water mark of its resident memory,
read every few milliseconds until it exits, so only growth in its last milliseconds can
be missed. The audit prints on stderr how many records it read, and that count is
compared with the records it must read: those at or after ``--since`` in the partitions
it reads. Every printed entry is reconciled by event id with the target's events, and a
run with a lost, extra or duplicated entry scores zero.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import re
import statistics
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import KafkaError, Message

from bench.context import Bench
from bench.corpus import rest_id
from bench.kafka_io import durable_producer, produce_one
from bench.reconcile import Reconciliation, reconcile
from bench.report import Section, Table
from bench.resources import MIB
from bench.stack import WXSTREAM, Stack
from schemas.envelope import SIGNATURE_EXTENSION, Envelope, Record
from schemas.events import (
    ALERT_RAISED,
    DELIVERY_ATTEMPTED,
    MESSAGE_RECEIVED,
    OUTBOUND_REQUESTED,
    SOURCE_INGEST,
    SOURCE_WORKER,
    encode_event,
    webhook_type,
)
from schemas.payloads import (
    BackendEvent,
    DeliveryAttempt,
    OutboundMessage,
    Payload,
    ReceivedMessage,
    WebhookData,
    WebhookNotification,
)
from schemas.topics import Topic, TopicCatalog
from wxstream.audit.logreader import (
    FETCH_MAX_BYTES,
    FETCH_QUEUE_KBYTES,
    KEY_PARTITIONED_TOPICS,
    PARTITION_FETCH_MAX_BYTES,
)
from wxstream.audit.timerange import from_millis, to_millis

logger = logging.getLogger(__name__)

ROOMS = 1_000
MONTH_START_MS = to_millis(datetime(2024, 6, 1, tzinfo=UTC))
MONTH_END_MS = to_millis(datetime(2024, 7, 1, tzinfo=UTC))
WINDOW_MS = 3_600_000
SINCE_MS = MONTH_END_MS - WINDOW_MS
# The target room's chains before the last hour and inside it, the same in every log.
TARGET_CHAINS = 120
TARGET_RECENT_CHAINS = 30
CHAIN_STEP_MS = 250
# Every fourth chain starts with an alert on backend.events instead of a webhook.
ALERT_EVERY = 4
ROOM_NAMESPACE = uuid.UUID("0c6f2d4e-8a31-4b7f-9e25-3d8c1a7b5f90")

RSS_GROWTH_TARGET = 1.10
FLAT_TIME_TARGET = 1.25
AUDIT_TIMEOUT_SECONDS = 600.0
FLUSH_TIMEOUT_SECONDS = 120.0
WAIT_POLL_SECONDS = 0.005
BRIEF_EVENTS = 1_000_000
WHOLE, RECENT = "whole history", "last hour"
VARIANTS = (WHOLE, RECENT)
SUMMARY = re.compile(
    r"audit: (?P<entries>\d+) entries from (?P<read>[\d,]+) records read "
    r"\((?P<partitions>\d+) partitions, (?P<seconds>[\d.]+) s\)"
)

WEBHOOK_CHAIN = (
    Topic.WEBEX_WEBHOOKS,
    Topic.WEBEX_MESSAGES,
    Topic.OUTBOUND_MESSAGES,
    Topic.OUTBOUND_DELIVERIES,
)
ALERT_CHAIN = (Topic.BACKEND_EVENTS, Topic.OUTBOUND_MESSAGES, Topic.OUTBOUND_DELIVERIES)


class TimedRecord(NamedTuple):
    """One record to append, with its CreateTime in milliseconds and its event id."""

    timestamp_ms: int
    topic: Topic
    record: Record
    event_id: str


@dataclass(frozen=True)
class Room:
    """A room and the one person who writes in it."""

    room_id: str
    person_id: str
    person_email: str


def make_room(index: int) -> Room:
    """Return room ``index`` and the person who writes in it, the same in every run."""
    name = str(uuid.uuid5(ROOM_NAMESPACE, f"room-{index}"))
    person = str(uuid.uuid5(ROOM_NAMESPACE, f"person-{index}"))
    return Room(rest_id("ROOM", name), rest_id("PEOPLE", person), f"user-{index:04d}@example.com")


def is_alert_chain(index: int) -> bool:
    return index % ALERT_EVERY == ALERT_EVERY - 1


def chain_topics(index: int) -> tuple[Topic, ...]:
    return ALERT_CHAIN if is_alert_chain(index) else WEBHOOK_CHAIN


# --- the log ---------------------------------------------------------------------------


def _envelope(
    event_type: str, source: str, room: Room, timestamp_ms: int, cause: Envelope | None
) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source=source,
        type=event_type,
        time=from_millis(timestamp_ms),
        subject=room.room_id,
        correlationid=(cause.correlationid or cause.id) if cause else None,
        causationid=cause.id if cause else None,
        extensions={SIGNATURE_EXTENSION: "verified"} if source == SOURCE_INGEST else {},
    )


def chain_steps(room: Room, alert: bool) -> list[tuple[str, str, Payload]]:
    """Return the type, source and payload of each event of a chain, in order."""
    steps: list[tuple[str, str, Payload]]
    if alert:
        alert_event = BackendEvent(to=room.room_id, subject="PROBLEM: Disk space is low on db1")
        steps = [(ALERT_RAISED, SOURCE_INGEST, alert_event)]
    else:
        message_id = rest_id("MESSAGE", str(uuid.uuid4()))
        author = {
            "room_id": room.room_id,
            "room_type": "group",
            "person_id": room.person_id,
            "person_email": room.person_email,
        }
        data = WebhookData(id=message_id, **author)
        received = ReceivedMessage(message_id=message_id, text="status db1", **author)
        steps = [
            (
                webhook_type("messages", "created"),
                SOURCE_INGEST,
                WebhookNotification(resource="messages", event="created", data=data),
            ),
            (MESSAGE_RECEIVED, SOURCE_WORKER, received),
        ]

    outbound = OutboundMessage(message_id=str(uuid.uuid4()), room_id=room.room_id, text="ok")
    attempt = DeliveryAttempt(
        message_id=outbound.message_id,
        part_id=outbound.message_id,
        attempt=1,
        outcome="delivered",
        status_code=200,
        latency_ms=180.0,
        webex_message_id=rest_id("MESSAGE", str(uuid.uuid4())),
    )
    steps += [
        (OUTBOUND_REQUESTED, SOURCE_WORKER, outbound),
        (DELIVERY_ATTEMPTED, SOURCE_WORKER, attempt),
    ]
    return steps


def chain_records(room: Room, index: int, times: Sequence[int]) -> Iterator[TimedRecord]:
    """Yield the first ``len(times)`` events of chain ``index`` in ``room``, at ``times``."""
    steps = zip(chain_topics(index), chain_steps(room, is_alert_chain(index)), strict=True)
    cause: Envelope | None = None
    for (topic, (kind, source, payload)), timestamp_ms in zip(steps, times, strict=False):
        envelope = _envelope(kind, source, room, timestamp_ms, cause)
        record = encode_event(envelope, room.room_id, payload)
        yield TimedRecord(timestamp_ms, topic, record, envelope.id)
        cause = envelope


def background_records(count: int, rooms: Sequence[Room], seed: int) -> Iterator[TimedRecord]:
    """Yield ``count`` events of chains in random rooms, evenly spaced over the month."""
    rng = random.Random(seed)
    span = MONTH_END_MS - MONTH_START_MS
    slot = chain = 0
    while slot < count:
        length = min(len(chain_topics(chain)), count - slot)
        times = [MONTH_START_MS + s * span // count for s in range(slot, slot + length)]
        yield from chain_records(rng.choice(rooms), chain, times)
        slot += length
        chain += 1


def target_chain_starts() -> list[int]:
    """Return the start times of the target room's chains: over the month, then its last hour."""
    early = SINCE_MS - MONTH_START_MS
    starts = [
        MONTH_START_MS + (2 * k + 1) * early // (2 * TARGET_CHAINS) for k in range(TARGET_CHAINS)
    ]
    starts += [
        SINCE_MS + (2 * k + 1) * WINDOW_MS // (2 * TARGET_RECENT_CHAINS)
        for k in range(TARGET_RECENT_CHAINS)
    ]
    return starts


def target_records(room: Room) -> list[TimedRecord]:
    """Return every event of the target room, each chain's events ``CHAIN_STEP_MS`` apart."""
    records: list[TimedRecord] = []
    for index, start in enumerate(target_chain_starts()):
        times = [start + step * CHAIN_STEP_MS for step in range(len(chain_topics(index)))]
        records.extend(chain_records(room, index, times))
    return records


def log_records(
    count: int, rooms: Sequence[Room], target: Sequence[TimedRecord], seed: int
) -> Iterator[TimedRecord]:
    """Yield ``count`` events in time order: the target's and the rest from ``rooms``."""
    others = background_records(count - len(target), rooms, seed)
    return heapq.merge(others, target, key=lambda item: item.timestamp_ms)


@dataclass
class Log:
    """A written log: its prefix, and how many records landed in each partition."""

    label: str
    prefix: str
    events: int
    target: list[TimedRecord]
    # Records per (topic, partition, whether at or after SINCE_MS).
    counts: Counter[tuple[Topic, int, bool]] = field(default_factory=Counter)
    target_partitions: set[int] = field(default_factory=set)
    record_bytes: int = 0
    seconds: float = 0.0

    def expected_ids(self, variant: str) -> list[str]:
        since = SINCE_MS if variant == RECENT else MONTH_START_MS
        return [item.event_id for item in self.target if item.timestamp_ms >= since]

    def expected_reads(self, variant: str) -> int:
        """Return how many records the audit must read: its partitions, from ``--since`` on."""
        return sum(
            count
            for (topic, partition, recent), count in self.counts.items()
            if (recent or variant == WHOLE)
            and (topic not in KEY_PARTITIONED_TOPICS or partition in self.target_partitions)
        )


def write_log(stack: Stack, label: str, count: int, rooms: Sequence[Room], seed: int) -> Log:
    """Append a log of ``count`` events under a fresh prefix, counting where each landed."""
    prefix = stack.new_prefix(f"m8-{label}")
    catalog = TopicCatalog(prefix=prefix)
    log = Log(label, prefix, count, target_records(make_room(ROOMS)))
    target_key = log.target[0].record.key_bytes
    errors: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        topic = catalog.topic_of(message.topic() or "")
        if error is not None or topic is None:
            errors.append(str(error or f"unknown topic {message.topic()}"))
            return
        partition = message.partition() or 0
        recent = message.timestamp()[1] >= SINCE_MS
        log.counts[(topic, partition, recent)] += 1
        if message.key() == target_key:
            log.target_partitions.add(partition)

    started = time.monotonic()
    producer = durable_producer(stack.bootstrap)
    for item in log_records(count, rooms, log.target, seed):
        record = item.record
        log.record_bytes += record_size(record)
        produce_one(producer, catalog.name(item.topic), record, on_delivery, item.timestamp_ms)
    remaining = producer.flush(FLUSH_TIMEOUT_SECONDS)
    log.seconds = time.monotonic() - started
    written = sum(log.counts.values())
    if remaining or errors or written != count:
        raise RuntimeError(
            f"writing the {label} log failed: {written} of {count} records acknowledged, "
            f"{remaining} unacknowledged, {len(errors)} delivery errors (first: {errors[:1]})"
        )
    logger.info("M8 %s log: %d events in %.1f s", label, count, log.seconds)
    return log


def record_size(record: Record) -> int:
    """Return the bytes of a record's key, value and headers, without Kafka's framing."""
    headers = sum(len(name) + len(value) for name, value in record.headers)
    return len(record.key_bytes) + len(record.value) + headers


# --- the audit runs -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRun:
    """One ``wxstream audit`` process: its peak RSS, times, reads and reconciled entries."""

    log: str
    variant: str
    peak_rss: int
    wall_seconds: float
    read_seconds: float
    records_read: int | None
    entries: int
    reconciliation: Reconciliation

    @property
    def ok(self) -> bool:
        found = self.reconciliation
        return found.ok and not found.duplicates and not found.unexpected


def audit_command(room_id: str, variant: str) -> list[str]:
    command = [*WXSTREAM, "--log-level", "WARNING", "audit", "--room", room_id, "--format", "jsonl"]
    if variant == RECENT:
        since = from_millis(SINCE_MS).isoformat().replace("+00:00", "Z")
        command += ["--since", since]
    return command


def parse_summary(stderr: str) -> tuple[int | None, float]:
    """Return the records read and the read seconds from the audit's last stderr line."""
    matches = list(SUMMARY.finditer(stderr))
    if not matches:
        return None, float("nan")
    last = matches[-1]
    return int(last["read"].replace(",", "")), float(last["seconds"])


def high_water_mark(pid: int) -> int | None:
    """Return the peak RSS (``VmHWM``) of ``pid`` in bytes, or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def wait_with_peak(process: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for ``process`` and return its peak RSS in bytes: its last ``VmHWM`` before exit.

    ``ru_maxrss`` from ``os.wait4`` is not used, because Linux carries the parent's
    high-water mark into a child across fork and exec. Growth within the last poll
    interval before the exit is missed. Raises TimeoutError, after killing the process,
    when it runs longer than ``timeout``.
    """
    deadline = time.monotonic() + timeout
    peak = 0
    while True:
        mark = high_water_mark(process.pid)
        peak = max(peak, mark or 0)
        if process.poll() is not None:
            return peak
        if time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=30)
            raise TimeoutError(f"wxstream audit ran longer than {timeout:.0f} s; see its stderr")
        time.sleep(WAIT_POLL_SECONDS)


def run_audit(stack: Stack, log: Log, variant: str, name: str) -> AuditRun:
    """Run ``wxstream audit`` on ``log`` as a child process and reconcile what it printed."""
    room_id = make_room(ROOMS).room_id
    out_path: Path = stack.logs / f"{name}.jsonl"
    err_path: Path = stack.logs / f"{name}.err"
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            audit_command(room_id, variant), env=stack.env(log.prefix), stdout=out, stderr=err
        )
        peak_rss = wait_with_peak(process, AUDIT_TIMEOUT_SECONDS)
    wall = time.monotonic() - started
    stderr = err_path.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"wxstream audit exited with {process.returncode}: {stderr[-500:]}")

    lines = out_path.read_text().splitlines()
    # An entry of another room, or from before --since, has an id outside the expected ones.
    observed = [json.loads(line).get("id") for line in lines]
    reconciliation = reconcile(log.expected_ids(variant), observed)
    records_read, read_seconds = parse_summary(stderr)
    run = AuditRun(
        log.label, variant, peak_rss, wall, read_seconds, records_read, len(lines), reconciliation
    )
    logger.info(
        "M8 %s log, %s: %.1f MiB peak, %.2f s, %s records read, %d entries",
        log.label,
        variant,
        peak_rss / MIB,
        wall,
        records_read,
        len(lines),
    )
    return run


def run(bench: Bench, section: Section) -> None:
    stack = bench.stack
    rooms = [make_room(index) for index in range(ROOMS)]
    sizes = {"small": bench.mode.m8_small, "large": bench.mode.m8_large}
    logs = {
        label: write_log(stack, label, count, rooms, bench.seed) for label, count in sizes.items()
    }
    runs = [
        run_audit(stack, log, variant, f"m8-{label}-{variant.replace(' ', '-')}-{repeat}")
        for repeat in range(bench.mode.m8_repeats)
        for label, log in logs.items()
        for variant in VARIANTS
    ]
    _write(bench, section, logs, runs)


# --- the report -----------------------------------------------------------------------------


def ratio(large: float, small: float) -> float:
    return large / small if small > 0 else float("nan")


def _of(runs: Sequence[AuditRun], log: str, variant: str) -> list[AuditRun]:
    return [r for r in runs if r.log == log and r.variant == variant]


def peak(runs: Sequence[AuditRun]) -> int:
    return max(r.peak_rss for r in runs)


def median_wall(runs: Sequence[AuditRun]) -> float:
    return statistics.median(r.wall_seconds for r in runs)


def describe_runs(runs: Sequence[AuditRun]) -> str:
    """Describe the reconciliation of the first failed run, else of the first run."""
    failed = [r for r in runs if not r.ok]
    return (failed or list(runs))[0].reconciliation.describe()


def log_table(log: Log, runs: Sequence[AuditRun]) -> Table:
    table = Table(
        [
            "audit",
            "peak RSS MiB",
            "wall s",
            "read s",
            "records read",
            "records to read",
            "entries",
            "reconciliation",
        ]
    )
    for variant in VARIANTS:
        chosen = _of(runs, log.label, variant)
        reads = {r.records_read for r in chosen}
        table.add(
            variant,
            peak(chosen) / MIB,
            median_wall(chosen),
            statistics.median(r.read_seconds for r in chosen),
            " / ".join(f"{n:,}" if n is not None else "—" for n in sorted(reads, key=str)),
            log.expected_reads(variant),
            chosen[-1].entries,
            describe_runs(chosen),
        )
    return table


def _write(bench: Bench, section: Section, logs: dict[str, Log], runs: list[AuditRun]) -> None:
    small, large = logs["small"], logs["large"]
    for log in (small, large):
        bytes_per_event = log.record_bytes / log.events
        section.add_table(
            f"Log of {log.events:,} events in {ROOMS + 1:,} rooms over a simulated month "
            f"(records of {bytes_per_event:.0f} bytes on average, written in {log.seconds:.0f} s). "
            f"The target room has {len(log.expected_ids(WHOLE))} events, "
            f"{len(log.expected_ids(RECENT))} in the last hour",
            log_table(log, runs),
        )

    growth = {v: ratio(peak(_of(runs, "large", v)), peak(_of(runs, "small", v))) for v in VARIANTS}
    times = {
        v: ratio(median_wall(_of(runs, "large", v)), median_wall(_of(runs, "small", v)))
        for v in VARIANTS
    }
    recent_large = _of(runs, "large", RECENT)
    seeks = all(
        r.records_read == logs[r.log].expected_reads(RECENT) for r in runs if r.variant == RECENT
    )
    summary = Table(["figure", "value", "target"])
    for variant in VARIANTS:
        summary.add(f"peak RSS large / small, {variant}", growth[variant], f"≤ {RSS_GROWTH_TARGET}")
    summary.add(
        "records read by the last-hour audit of the large log",
        f"{recent_large[0].records_read or 0:,} of {large.events:,}",
        "only records at or after --since",
    )
    summary.add("wall time large / small, last hour", times[RECENT], f"≤ {FLAT_TIME_TARGET}")
    summary.add("wall time large / small, whole history", times[WHOLE], "not judged")
    section.add_table("", summary)
    _add_notes(bench, section, small, large)

    failed = [r for r in runs if not r.ok]
    bounded = all(value <= RSS_GROWTH_TARGET for value in growth.values())
    flat = times[RECENT] <= FLAT_TIME_TARGET
    met = bounded and seeks and flat and not failed
    section.verdict = (
        f"{'met' if met else 'not met'}: peak RSS large / small "
        f"{growth[WHOLE]:.2f} (whole history), {growth[RECENT]:.2f} (last hour); "
        f"the last-hour audit read {recent_large[0].records_read or 0:,} of "
        f"{large.events:,} records"
        + ("" if seeks else ", not only those at or after --since")
        + f", wall time large / small {times[RECENT]:.2f}"
        + (f"; {len(failed)} run(s) printed wrong entries and scored zero" if failed else "")
    )


def _add_notes(bench: Bench, section: Section, small: Log, large: Log) -> None:
    repeats = bench.mode.m8_repeats
    section.notes.append(
        f"Peak RSS is the audit process's VmHWM (the kernel's high-water mark of its resident "
        f"memory), read every {WAIT_POLL_SECONDS * 1000:.0f} ms until it exits, the largest "
        f"of {repeats} runs. Wall time is the median from process start to exit, with the "
        "interpreter's start. Read s is the audit's own figure on stderr, from planning the "
        "read to its end."
    )
    section.notes.append(
        "Records to read: the records in the partition of the room's key in each topic and "
        "in every partition of backend.events (which any client may write with any "
        "partitioner, so the audit reads it whole), from --since on, counted from the "
        "producer's delivery reports. The whole-history audit reads more as the log grows, "
        "so its wall time is not judged."
    )
    section.notes.append(
        "The peak of a whole-history audit rises with the records it reads until "
        "librdkafka's prefetch reaches the limits the reader sets (queued.max.messages.kbytes "
        f"= {FETCH_QUEUE_KBYTES:,} KiB, fetch.max.bytes = {FETCH_MAX_BYTES:,}, "
        f"max.partition.fetch.bytes = {PARTITION_FETCH_MAX_BYTES:,}), so an audit that reaches "
        "the end of its partitions sooner, as on a small log, peaks lower. The full run "
        "therefore compares the 1,000,000-event log with one twice its size, where the "
        "prefetch is full in both. "
        "The last-hour audit reads too few records to reach that limit on either log."
    )
    section.notes.append(
        f"No baseline, so no alternating A/B pairs: both logs are audited in turn, the "
        f"small then the large, {repeats} times. Peak RSS within {RSS_GROWTH_TARGET:.2f} x "
        f"counts as not growing with the log, and last-hour wall time within "
        f"{FLAT_TIME_TARGET:.2f} x as flat."
    )
    if large.events < BRIEF_EVENTS:
        section.notes.append(
            f"Scaled down: logs of {small.events:,} and {large.events:,} events instead of "
            f"{BRIEF_EVENTS:,} and {2 * BRIEF_EVENTS:,}, to keep quick mode short."
        )
