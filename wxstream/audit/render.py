"""Timeline output: an aligned table for people, JSON Lines for export."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from wxstream.audit.timeline import TimelineEntry

ID_WIDTH = 8
TABLE_COLUMNS = ("TIME", "TOPIC", "KIND", "EVENT", "CAUSE", "DETAILS")


def write_jsonl(entries: Iterable[TimelineEntry], stream: TextIO) -> int:
    """Write one JSON object per entry; return the number written."""
    count = 0
    for entry in entries:
        stream.write(json.dumps(entry.to_json(), ensure_ascii=False, default=str) + "\n")
        count += 1
    return count


def _short(identifier: str | None) -> str:
    return (identifier or "-")[:ID_WIDTH]


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def describe(entry: TimelineEntry, *, include_bodies: bool = False) -> str:
    """Return the details column: key=value pairs, replay provenance, then the body if shown."""
    parts = [f"{name}={_format_value(value)}" for name, value in entry.details.items()]
    if entry.key:
        parts.insert(0, f"key={entry.key}")
    if entry.replay is not None:
        parts.append(
            f"replayed id={entry.replay['replayId']} by={entry.replay['replayedBy']} "
            f"at={entry.replay['replayedAt']}"
        )
    if include_bodies and isinstance(entry.payload, dict):
        body = {
            name: entry.payload[name]
            for name in ("text", "markdown", "subject", "message", "inputs", "originalValue")
            if name in entry.payload
        }
        if body:
            parts.append("body=" + _format_value(body))
    return " ".join(parts)


def table_rows(
    entries: Iterable[TimelineEntry], *, include_bodies: bool = False
) -> list[tuple[str, ...]]:
    return [
        (
            entry.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            f"{entry.topic.value}[{entry.partition}]@{entry.offset}",
            entry.kind,
            _short(entry.event_id),
            _short(entry.causation_id),
            describe(entry, include_bodies=include_bodies),
        )
        for entry in entries
    ]


def write_table(
    entries: Sequence[TimelineEntry], stream: TextIO, *, include_bodies: bool = False
) -> int:
    """Write the entries as a table whose columns line up; the last column is not padded."""
    rows = [TABLE_COLUMNS, *table_rows(entries, include_bodies=include_bodies)]
    widths = [max(len(row[index]) for row in rows) for index in range(len(TABLE_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        stream.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    return len(entries)
