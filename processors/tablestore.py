"""RocksDB table storage whose databases share one memory budget.

faust opens one RocksDB database per table and partition, and its own store gives each
database a block cache and write buffers of its own. The worker's memory then grows
with the number of databases and with the data read from them, up to the sum of all
those limits. This store gives every database of the process one LRU block cache of
:data:`CACHE_BYTES`, which also holds the index and filter blocks, and a write buffer
manager that flushes memtables once those of all databases together reach
:data:`MEMTABLE_BYTES`. RocksDB's memory therefore stays near the sum of the two however
many tables, partitions and keys there are.

The store is registered with faust under the URL scheme ``wxrocksdb://`` (an entry point
in the ``faust.stores`` group), and :func:`store_url` maps the ``rocksdb://`` setting to
it.
"""

from __future__ import annotations

import functools
from typing import Any

import rocksdict
from faust.exceptions import ImproperlyConfigured
from faust.stores import rocksdb as faust_rocksdb

MIB = 1024 * 1024
SCHEME = "wxrocksdb"
# One LRU cache for the data, index and filter blocks of every database in the process.
# The worker's reads are mostly misses that bloom filters resolve, or recent keys still
# in a memtable.
CACHE_BYTES = 8 * MIB
# The memtables of all databases together.
MEMTABLE_BYTES = 16 * MIB
# Per database: a memtable is flushed at 1 MiB, or earlier when all memtables together
# reach MEMTABLE_BYTES.
DATABASE_OPTIONS: dict[str, int] = {
    "write_buffer_size": 1 * MIB,
    "max_write_buffer_number": 2,
}


def store_url(setting: str) -> str:
    """Return the faust store URL for the ``worker_store`` setting."""
    return f"{SCHEME}://" if setting == "rocksdb://" else setting


@functools.cache
def shared_cache() -> rocksdict.Cache:
    return rocksdict.Cache(CACHE_BYTES)


@functools.cache
def shared_write_buffers() -> rocksdict.WriteBufferManager:
    return rocksdict.WriteBufferManager(MEMTABLE_BYTES, False)


class SharedMemoryOptions(faust_rocksdb.RocksDBOptions):
    """faust's RocksDB options, with the process-wide cache and write buffer manager."""

    def as_options(self) -> rocksdict.Options:
        options = super().as_options()
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(shared_cache())
        # Otherwise each open table file keeps its index and filter blocks outside the
        # cache, and that memory grew from 0.5 to 4.1 MiB between 100,000 and 1,000,000
        # random keys in each of 3 tables x 12 partitions. With this it stayed at 0.2 MiB.
        table.set_cache_index_and_filter_blocks(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(shared_write_buffers())
        return options


class Store(faust_rocksdb.Store):
    """faust's RocksDB store (rocksdict driver) with :class:`SharedMemoryOptions`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.use_rocksdict:
            raise ImproperlyConfigured(
                f"the {SCHEME} table store requires the rocksdict driver: install rocksdict "
                "(a wxstream dependency) and remove driver=python-rocksdb from the table options"
            )
        self.rocksdb_options = SharedMemoryOptions(
            **{**DATABASE_OPTIONS, **(self.options or {})}, use_rocksdict=True
        )
