"""The log reader seeks by time, reads only the partitions of the wanted keys, and ends."""

from __future__ import annotations

import io
from datetime import timedelta

from confluent_kafka import Producer

from schemas.topics import Topic, TopicCatalog
from tests.audit_support import LogWriter, outbound_request, utc
from tests.kafka_harness import read_topic
from wxstream.audit.logreader import LogReader, ReadStats, StderrProgress
from wxstream.audit.partitioner import murmur2, partition_for_key

DAY = utc(2024, 3, 1)


def test_murmur2_matches_kafka_reference_values() -> None:
    # Values of org.apache.kafka.common.utils.Utils.murmur2 for these inputs.
    assert murmur2(b"21") == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"foobar") == (-790332482) & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == (-985981536) & 0xFFFFFFFF
    assert murmur2(b"") == 275646681


def test_partition_for_key_matches_librdkafka_murmur2(
    kafka_bootstrap: str, catalog: TopicCatalog
) -> None:
    topic = catalog.name(Topic.OUTBOUND_MESSAGES)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})
    keys = [f"room-{index}".encode() for index in range(30)]
    for key in keys:
        producer.produce(topic, key=key, value=b"{}")
    assert producer.flush(30) == 0

    stored = {record.key: record.partition for record in read_topic(kafka_bootstrap, topic)}

    for key in keys:
        assert stored[key] == partition_for_key(key, catalog.partitions), key


def _write_days(kafka_bootstrap: str, catalog: TopicCatalog, room: str, days: int) -> None:
    writer = LogWriter(kafka_bootstrap, catalog)
    for day in range(days):
        for hour in range(4):
            outbound_request(writer, room, DAY + timedelta(days=day, hours=hour))
    writer.flush()


def test_reader_time_range_reads_only_the_range(
    kafka_bootstrap: str, catalog: TopicCatalog
) -> None:
    _write_days(kafka_bootstrap, catalog, "room-seek", days=10)
    reader = LogReader(kafka_bootstrap, catalog)

    records = list(
        reader.read(
            [Topic.OUTBOUND_MESSAGES],
            since_ms=int((DAY + timedelta(days=3)).timestamp() * 1000),
            until_ms=int((DAY + timedelta(days=4, hours=23)).timestamp() * 1000),
        )
    )

    assert len(records) == 8
    assert reader.stats.planned == 8
    assert reader.stats.read == 8
    times = sorted(record.timestamp_ms for record in records)
    assert times[0] == int((DAY + timedelta(days=3)).timestamp() * 1000)


def test_reader_keys_read_only_their_partition(kafka_bootstrap: str, catalog: TopicCatalog) -> None:
    writer = LogWriter(kafka_bootstrap, catalog)
    rooms = [f"room-{index}" for index in range(12)]
    for room in rooms:
        for minute in range(3):
            outbound_request(writer, room, DAY + timedelta(minutes=minute))
    writer.flush()
    wanted = rooms[0].encode()
    same_partition = [
        room
        for room in rooms
        if partition_for_key(room.encode(), catalog.partitions)
        == partition_for_key(wanted, catalog.partitions)
    ]
    reader = LogReader(kafka_bootstrap, catalog)

    records = list(reader.read([Topic.OUTBOUND_MESSAGES], keys=[wanted]))

    assert {record.key for record in records} == {wanted}
    assert len(records) == 3
    assert reader.stats.partitions == 1
    assert reader.stats.read == 3 * len(same_partition)
    assert reader.stats.read < 3 * len(rooms)


def test_reader_stops_at_end_offsets_captured_at_start(
    kafka_bootstrap: str, catalog: TopicCatalog
) -> None:
    _write_days(kafka_bootstrap, catalog, "room-end", days=1)
    reader = LogReader(kafka_bootstrap, catalog)
    records = reader.read([Topic.OUTBOUND_MESSAGES])
    first = next(records)

    _write_days(kafka_bootstrap, catalog, "room-end", days=1)
    rest = list(records)

    assert first is not None
    assert len(rest) == 3
    assert reader.stats.planned == 4


def test_reader_empty_range_reads_nothing(kafka_bootstrap: str, catalog: TopicCatalog) -> None:
    _write_days(kafka_bootstrap, catalog, "room-empty", days=1)
    reader = LogReader(kafka_bootstrap, catalog)

    records = list(
        reader.read(
            [Topic.OUTBOUND_MESSAGES],
            since_ms=int((DAY + timedelta(days=30)).timestamp() * 1000),
        )
    )

    assert records == []
    assert reader.stats.read == 0


def test_progress_prints_only_for_large_reads() -> None:
    stream = io.StringIO()
    progress = StderrProgress("audit", interval=0.0, min_planned=100, stream=stream)

    progress(ReadStats(planned=50, read=10))
    progress(ReadStats(planned=1000, read=250, yielded=3))

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "read 250 of 1,000 records (25%)" in lines[0]
