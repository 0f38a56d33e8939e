"""M8's log layout, expected reads and parsing of the audit's summary line."""

from __future__ import annotations

import math
import os

from bench.m8_audit import (
    MONTH_END_MS,
    MONTH_START_MS,
    RECENT,
    ROOMS,
    SINCE_MS,
    TARGET_CHAINS,
    TARGET_RECENT_CHAINS,
    WHOLE,
    Log,
    chain_records,
    high_water_mark,
    log_records,
    make_room,
    parse_summary,
    target_records,
)
from schemas.events import decode_event
from schemas.topics import Topic


def test_target_records_fall_inside_the_month() -> None:
    records = target_records(make_room(ROOMS))

    assert min(r.timestamp_ms for r in records) >= MONTH_START_MS
    assert max(r.timestamp_ms for r in records) < MONTH_END_MS


def test_target_records_have_recent_chains_in_last_hour() -> None:
    records = target_records(make_room(ROOMS))
    first_topics = (Topic.WEBEX_WEBHOOKS, Topic.BACKEND_EVENTS)
    recent_starts = [r for r in records if r.timestamp_ms >= SINCE_MS and r.topic in first_topics]

    assert len(recent_starts) == TARGET_RECENT_CHAINS
    assert len([r for r in records if r.topic in first_topics]) == TARGET_CHAINS + len(
        recent_starts
    )


def test_log_records_count_and_time_order() -> None:
    rooms = [make_room(index) for index in range(20)]
    target = target_records(make_room(ROOMS))

    records = list(log_records(3_000, rooms, target, seed=1))
    times = [r.timestamp_ms for r in records]

    assert len(records) == 3_000
    assert times == sorted(times)
    assert {r.event_id for r in target} <= {r.event_id for r in records}


def test_chain_records_decode_and_link_causes() -> None:
    room = make_room(3)
    records = list(chain_records(room, 0, [MONTH_START_MS + step for step in range(4)]))
    envelopes = [decode_event(r.record.headers, r.record.value)[0] for r in records]

    assert records[0].topic is Topic.WEBEX_WEBHOOKS
    assert all(r.record.key == room.room_id for r in records)
    assert [e.causationid for e in envelopes[1:]] == [e.id for e in envelopes[:-1]]
    assert {e.correlationid for e in envelopes[1:]} == {envelopes[0].id}


def test_chain_records_truncate_to_given_times() -> None:
    records = list(chain_records(make_room(3), 0, [MONTH_START_MS, MONTH_START_MS + 1]))

    assert [r.topic for r in records] == [Topic.WEBEX_WEBHOOKS, Topic.WEBEX_MESSAGES]


def test_log_expected_reads_follow_partitions_and_since() -> None:
    log = Log("small", "p.", 0, [], target_partitions={2})
    log.counts.update(
        {
            (Topic.WEBEX_MESSAGES, 2, False): 10,
            (Topic.WEBEX_MESSAGES, 2, True): 3,
            (Topic.WEBEX_MESSAGES, 5, True): 7,
            (Topic.BACKEND_EVENTS, 5, False): 20,
            (Topic.BACKEND_EVENTS, 7, True): 4,
        }
    )

    assert log.expected_reads(WHOLE) == 10 + 3 + 20 + 4
    assert log.expected_reads(RECENT) == 3 + 4


def test_parse_summary_reads_audit_line() -> None:
    stderr = (
        "audit: read 1 of 2 records (50%), 0 matched, 2 s\n"
        "audit: 563 entries from 15,558 records read (19 partitions, 0.7 s)\n"
    )

    assert parse_summary(stderr) == (15_558, 0.7)


def test_parse_summary_without_line() -> None:
    records_read, seconds = parse_summary("Traceback (most recent call last):\n")

    assert records_read is None
    assert math.isnan(seconds)


def test_high_water_mark_of_running_process() -> None:
    mark = high_water_mark(os.getpid())

    assert mark is not None
    assert mark > 0
