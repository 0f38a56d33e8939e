"""Tables that remember which events a worker has already processed.

A key counts as seen for two days after it was recorded. Each table is a plain
changelogged table whose value is the time the key was recorded, so its keys live in
RocksDB and on disk, not in the worker's memory. The broker deletes changelog records
after three days, and RocksDB drops local entries older than three days when it compacts
(a TTL database), so the tables stay bounded at about three days of keys.

:class:`SeenKeys` records a key only once the event's output is in the log, and until
then remembers it in memory, so a duplicate that arrives while the first copy is still
being confirmed is skipped too.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from processors.context import WorkerContext
from processors.pipeline import Outbox

DEDUP_HORIZON = timedelta(days=2)
DEDUP_EXPIRES = timedelta(days=3)


def seen_table(context: WorkerContext, name: str, help: str) -> Any:
    """Create the changelogged table ``name``: key -> epoch seconds it was recorded."""
    expires = int(DEDUP_EXPIRES.total_seconds())
    return context.table(
        name,
        key_type=str,
        value_type=float,
        extra_topic_configs={
            "cleanup.policy": "compact,delete",
            "retention.ms": str(expires * 1000),
        },
        store_options={"ttl": expires},
        help=help,
    )


def already_seen(table: Any, key: str, now: float | None = None) -> bool:
    """Return whether ``key`` was recorded less than :data:`DEDUP_HORIZON` before ``now``."""
    recorded = table.get(key)
    if recorded is None:
        return False
    current = time.time() if now is None else now
    return bool(current - float(recorded) < DEDUP_HORIZON.total_seconds())


class SeenKeys:
    """A seen table, plus the keys of events this process is still confirming."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._claimed: set[str] = set()

    def seen(self, key: str) -> bool:
        return key in self._claimed or already_seen(self.table, key)

    def claim(self, key: str, outbox: Outbox) -> None:
        """Mark ``key`` as handled. The table records it once ``outbox`` is confirmed.

        A claim whose event is abandoned (the worker stops first) is dropped, so the
        event is handled again when it is read again.
        """
        self._claimed.add(key)

        def record() -> None:
            self.table[key] = time.time()

        outbox.after_confirmed(record)
        outbox.on_release(lambda: self._claimed.discard(key))
