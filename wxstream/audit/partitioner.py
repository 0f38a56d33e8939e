"""The partition a record key lands in, as Kafka's default partitioner computes it.

Kafka's Java client, aiokafka (which faust uses) and librdkafka's ``murmur2_random``
partitioner all map a non-null key to ``murmur2(key) & 0x7fffffff`` modulo the partition
count. Knowing it lets a reader for one conversation read one partition per topic.
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Return the 32-bit MurmurHash2 of ``data`` with Kafka's seed, as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    for index in range(0, length - length % 4, 4):
        k = int.from_bytes(data[index : index + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k

    tail = length & ~3
    extra = length % 4
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK

    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for_key(key: bytes, partitions: int) -> int:
    """Return the partition of ``key`` in a topic with ``partitions`` partitions."""
    if partitions < 1:
        raise ValueError(f"partition count {partitions} is invalid; a topic has at least one")
    return (murmur2(key) & 0x7FFFFFFF) % partitions
