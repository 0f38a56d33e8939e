"""Windowed tables that remember which events a worker has already processed.

A key is remembered for one to two days: a one-day tumbling window, checked together
with the window before it. The broker drops changelog records after three days and the
worker drops expired windows from its local store, so the tables stay bounded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from processors.context import WorkerContext

DEDUP_WINDOW = timedelta(days=1)
DEDUP_EXPIRES = timedelta(days=3)


def seen_table(context: WorkerContext, name: str, help: str) -> Any:
    """Create the windowed, changelogged table ``name`` of keys already processed."""
    return context.app.Table(
        name,
        default=bool,
        partitions=context.catalog.partitions,
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
