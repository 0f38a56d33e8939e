"""The audit table: whole or uniquely elided ids, and one conversation header."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from schemas.topics import Topic
from wxstream.audit.render import MAX_WHOLE_ID, short_ids, write_table
from wxstream.audit.timeline import TimelineEntry

ROOM = "Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0" + "x" * 8
OTHER_ROOM = "room-other"


def entry(
    event_id: str | None,
    causation_id: str | None = None,
    *,
    key: str = ROOM,
    offset: int = 0,
    details: dict[str, object] | None = None,
) -> TimelineEntry:
    return TimelineEntry(
        time=datetime(2024, 5, 1, 12, 0, offset, tzinfo=UTC),
        topic=Topic.OUTBOUND_MESSAGES,
        partition=0,
        offset=offset,
        key=key,
        kind="outbound",
        event_type="wxstream.outbound.message.requested.v1",
        event_id=event_id,
        correlation_id=None,
        causation_id=causation_id,
        details=details or {},
    )


def table(*entries: TimelineEntry) -> list[str]:
    stream = io.StringIO()
    write_table(list(entries), stream)
    return stream.getvalue().splitlines()


def test_table_short_ids_shown_whole() -> None:
    lines = table(entry("breakit-key-1", "breakit-key-0"), entry("breakit-key-2", offset=1))

    assert lines[2].split()[3:5] == ["breakit-key-1", "breakit-key-0"]
    assert lines[3].split()[3:5] == ["breakit-key-2", "-"]


def test_table_uuid_elided_in_middle() -> None:
    event_id = "3f2a9c1e-0b7d-4e8d-a6c4-9f1e0b7d2a58"

    lines = table(entry(event_id))

    assert lines[2].split()[3] == "3f2a9c1e…2a58"


def test_short_ids_lengthen_until_unique() -> None:
    first = "3f2a9c1e-0000-4e8d-a6c4-9f1e0b7d2a58"
    second = "3f2a9c1e-1111-4e8d-a6c4-9f1e0b7d2a58"

    shown = short_ids([first, second])

    assert shown[first] != shown[second]
    assert shown[first] == "3f2a9c1e-000…7d2a58"


def test_table_one_conversation_key_printed_once() -> None:
    lines = table(
        entry("a-1", details={"roomId": ROOM, "messageId": "m-1"}),
        entry("a-2", "a-1", offset=1),
    )

    assert lines[0] == f"conversation: {ROOM}"
    assert lines[1].split() == ["TIME", "TOPIC", "KIND", "EVENT", "CAUSE", "DETAILS"]
    assert sum(ROOM in line for line in lines) == 1
    assert lines[2].endswith("messageId=m-1")


def test_table_several_conversations_keep_key_per_row() -> None:
    lines = table(entry("a-1"), entry("a-2", key=OTHER_ROOM, offset=1))

    assert lines[0].split()[0] == "TIME"
    assert lines[1].endswith(f"key={ROOM}")
    assert lines[2].endswith(f"key={OTHER_ROOM}")


@given(
    st.lists(
        st.one_of(
            st.uuids().map(str),
            st.text(alphabet="abcdef0123456789-", min_size=1, max_size=60),
        ),
        max_size=40,
    )
)
def test_short_ids_are_unique_and_bounded(identifiers: list[str]) -> None:
    shown = short_ids(identifiers)

    assert len(set(shown.values())) == len(set(identifiers))
    for identifier, text in shown.items():
        assert text == identifier or len(text) < len(identifier)
        if len(identifier) <= MAX_WHOLE_ID:
            assert text == identifier


def test_short_ids_uuids_stay_short() -> None:
    identifiers = [str(uuid.uuid4()) for _ in range(200)]

    shown = short_ids(identifiers)

    assert max(len(text) for text in shown.values()) <= 19
