"""Windowed tables that remember which events a worker has already processed.

A key is remembered for one to two days: a one-day tumbling window, checked together
with the window before it. The broker drops changelog records after three days and the
worker drops expired windows from its local store, so the tables stay bounded.

:class:`SeenKeys` records a key only once the event's output is in the log, and until
then remembers it in memory, so a duplicate that arrives while the first copy is still
being confirmed is skipped too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from processors.context import WorkerContext
from processors.pipeline import Outbox

DEDUP_WINDOW = timedelta(days=1)
DEDUP_EXPIRES = timedelta(days=3)


def seen_table(context: WorkerContext, name: str, help: str) -> Any:
    """Create the windowed, changelogged table ``name`` of keys already processed."""
    return context.table(
        name,
        default=bool,
        extra_topic_configs={
            "cleanup.policy": "compact,delete",
            "retention.ms": str(int(DEDUP_EXPIRES.total_seconds() * 1000)),
        },
        help=help,
    ).tumbling(DEDUP_WINDOW, expires=DEDUP_EXPIRES)


def already_seen(table: Any, key: str) -> bool:
    """Return whether ``key`` was marked in the current window or the one before it."""
    window = table[key]
    return bool(window.current()) or bool(window.delta(DEDUP_WINDOW))


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
            self.table[key] = True

        outbox.after_confirmed(record)
        outbox.on_release(lambda: self._claimed.discard(key))
