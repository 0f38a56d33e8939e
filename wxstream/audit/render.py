"""Timeline output: an aligned table for people, JSON Lines for export.

The table shows ids of up to :data:`MAX_WHOLE_ID` characters whole and elides the middle
of longer ones with ``…``, keeping as many characters at each end as it takes to tell
the table's ids apart. When every entry belongs to one conversation, its key is printed
once above the table instead of on every row. JSON Lines keep every field in full.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from wxstream.audit.timeline import TimelineEntry

MAX_WHOLE_ID = 23
# Characters kept at the start and at the end of an elided id, tried in this order until
# the shortened ids are as distinct as the ids.
ELISION_SIZES = ((8, 4), (12, 6), (16, 8))
ELLIPSIS = "…"
TABLE_COLUMNS = ("TIME", "TOPIC", "KIND", "EVENT", "CAUSE", "DETAILS")


def write_jsonl(entries: Iterable[TimelineEntry], stream: TextIO) -> int:
    """Write one JSON object per entry; return the number written."""
    count = 0
    for entry in entries:
        stream.write(json.dumps(entry.to_json(), ensure_ascii=False, default=str) + "\n")
        count += 1
    return count


def _elide(identifier: str, head: int, tail: int) -> str:
    if len(identifier) <= MAX_WHOLE_ID:
        return identifier
    return identifier[:head] + ELLIPSIS + identifier[-tail:]


def short_ids(identifiers: Iterable[str | None]) -> dict[str, str]:
    """Map each id to its table form: whole up to MAX_WHOLE_ID characters, else elided.

    Elided forms are unique among ``identifiers``; an id whose ends match another's at
    every size in ELISION_SIZES is shown whole.
    """
    distinct = {identifier for identifier in identifiers if identifier}
    for head, tail in ELISION_SIZES:
        shown = {identifier: _elide(identifier, head, tail) for identifier in distinct}
        if len(set(shown.values())) == len(distinct):
            return shown
    return {identifier: identifier for identifier in distinct}


def conversation_of(entries: Sequence[TimelineEntry]) -> str | None:
    """Return the conversation key shared by every entry, or None when they differ."""
    keys = {entry.key for entry in entries}
    if len(keys) != 1:
        return None
    return keys.pop()


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def describe(
    entry: TimelineEntry, *, include_bodies: bool = False, conversation: str | None = None
) -> str:
    """Return the details column: key=value pairs, replay provenance, then the body if shown.

    With ``conversation``, the key and a ``roomId`` equal to it are left out, because the
    table prints that key once above its rows.
    """
    parts = [
        f"{name}={_format_value(value)}"
        for name, value in entry.details.items()
        if not (conversation and name == "roomId" and value == conversation)
    ]
    if entry.key and entry.key != conversation:
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
    entries: Sequence[TimelineEntry],
    *,
    include_bodies: bool = False,
    conversation: str | None = None,
) -> list[tuple[str, ...]]:
    shown = short_ids(
        identifier for entry in entries for identifier in (entry.event_id, entry.causation_id)
    )
    return [
        (
            entry.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            f"{entry.topic.value}[{entry.partition}]@{entry.offset}",
            entry.kind,
            shown.get(entry.event_id or "", "-"),
            shown.get(entry.causation_id or "", "-"),
            describe(entry, include_bodies=include_bodies, conversation=conversation),
        )
        for entry in entries
    ]


def write_table(
    entries: Sequence[TimelineEntry], stream: TextIO, *, include_bodies: bool = False
) -> int:
    """Write the entries as a table whose columns line up; the last column is not padded.

    A conversation shared by every entry is written once, on a line above the table.
    """
    conversation = conversation_of(entries)
    if conversation:
        stream.write(f"conversation: {conversation}\n")
    rows = [
        TABLE_COLUMNS,
        *table_rows(entries, include_bodies=include_bodies, conversation=conversation),
    ]
    widths = [max(len(row[index]) for row in rows) for index in range(len(TABLE_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        stream.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    return len(entries)
