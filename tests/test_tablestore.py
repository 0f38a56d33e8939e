"""The worker's RocksDB table store and its deduplication tables."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import faust.stores
import pytest
import rocksdict

from processors.dedup import DEDUP_HORIZON, already_seen
from processors.tablestore import CACHE_BYTES, SharedMemoryOptions, Store, store_url

VALUE = b"v" * 200


@pytest.fixture
def open_databases() -> Iterator[list[rocksdict.Rdict]]:
    databases: list[rocksdict.Rdict] = []
    yield databases
    for database in databases:
        database.close()


def fill(database: rocksdict.Rdict, count: int) -> None:
    for index in range(count):
        database[f"key-{index:06d}".encode()] = VALUE
    database.flush(True)


def test_store_url_maps_rocksdb_setting() -> None:
    assert store_url("rocksdb://") == "wxrocksdb://"
    assert store_url("memory://") == "memory://"
    assert faust.stores.by_url("wxrocksdb://") is Store


def test_databases_share_one_block_cache(
    tmp_path: Path, open_databases: list[rocksdict.Rdict]
) -> None:
    first = SharedMemoryOptions(use_rocksdict=True).open(tmp_path / "first")
    second = SharedMemoryOptions(use_rocksdict=True).open(tmp_path / "second")
    open_databases.extend([first, second])
    fill(first, 20_000)
    fill(second, 200)

    for index in range(0, 20_000, 7):
        assert first[f"key-{index:06d}".encode()] == VALUE

    for database in (first, second):
        assert database.property_int_value("rocksdb.block-cache-capacity") == CACHE_BYTES
    first_usage = first.property_int_value("rocksdb.block-cache-usage")
    # The second database read nothing. A cache of its own would be nearly empty, but
    # the shared cache contains the blocks the first one read.
    assert first_usage > 1024 * 1024
    assert second.property_int_value("rocksdb.block-cache-usage") == first_usage


def test_index_and_filter_blocks_use_the_cache(
    tmp_path: Path, open_databases: list[rocksdict.Rdict]
) -> None:
    database = SharedMemoryOptions(use_rocksdict=True).open(tmp_path / "meta")
    open_databases.append(database)
    before = database.property_int_value("rocksdb.block-cache-usage")

    fill(database, 20_000)

    # Nothing was read, so only the new file's index and filter blocks can be cached.
    assert database.property_int_value("rocksdb.block-cache-usage") > before
    assert database.property_int_value("rocksdb.estimate-table-readers-mem") < 4096


def test_ttl_option_drops_expired_entries(
    tmp_path: Path, open_databases: list[rocksdict.Rdict]
) -> None:
    database = SharedMemoryOptions(use_rocksdict=True, ttl=1).open(tmp_path / "ttl")
    open_databases.append(database)
    database[b"old"] = VALUE
    database.flush(True)
    time.sleep(2.2)

    database.compact_range(None, None)

    assert database.get(b"old") is None


def test_already_seen_within_horizon() -> None:
    now = 1_800_000_000.0
    horizon = DEDUP_HORIZON.total_seconds()
    table = {"recent": now - horizon + 60, "expired": now - horizon - 60}

    assert already_seen(table, "recent", now)
    assert not already_seen(table, "expired", now)
    assert not already_seen(table, "missing", now)
