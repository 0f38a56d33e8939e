"""The splitter keeps every part within the byte limit, loses nothing and never cuts a grapheme."""

from __future__ import annotations

import re

import grapheme
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.splitting import WEBEX_MAX_BYTES, Part, part_marker, split_text, utf8_size

FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def grapheme_boundaries(text: str) -> set[int]:
    """Character offsets at which ``text`` may be cut without splitting a grapheme."""
    offsets = {0}
    position = 0
    for cluster in grapheme.graphemes(text):
        position += len(cluster)
        offsets.add(position)
    return offsets


def cut_offsets(parts: list[Part]) -> list[int]:
    offsets = []
    position = 0
    for part in parts[:-1]:
        position += len(part.body)
        offsets.append(position)
    return offsets


def max_cluster_bytes(text: str) -> int:
    return max((utf8_size(cluster) for cluster in grapheme.graphemes(text)), default=0)


def open_fence_after(text: str) -> str | None:
    """Return the marker of the fence still open at the end of ``text``, or None."""
    open_marker: str | None = None
    for line in text.split("\n"):
        match = FENCE_LINE.match(line)
        if match is None:
            continue
        marker = match.group(1)
        rest = line[match.end() :]
        if open_marker is None:
            if not (marker[0] == "`" and "`" in rest):
                open_marker = marker
        elif marker[0] == open_marker[0] and len(marker) >= len(open_marker) and not rest.strip():
            open_marker = None
    return open_marker


def long_markdown() -> str:
    paragraph = (
        "Status of the night shift 👩‍👩‍👧‍👦 — café, naïve, e\u0301, 🇫🇷🇩🇪, "
        "and a thumbs-up 👍🏽 for everyone who stayed up.\n\n"
    )
    code = "```python title=check.py\n" + "print('ok 👍🏽')  # e\u0301\n" * 350 + "```\n\n"
    dense_line = "👍🏽e\u0301🇫🇷" * 420 + "\n\n"
    text = paragraph * 40 + code + dense_line + paragraph * 20 + "Last line without newline 🇯🇵"
    while utf8_size(text) < 20_000:
        text += " more 👍🏽"
    return text


def test_split_text_short_content_is_one_unmarked_part() -> None:
    parts = split_text("m1", "hello", markdown=True)

    assert [(part.id, part.text) for part in parts] == [("m1", "hello")]


def test_split_text_content_at_limit_is_one_part() -> None:
    content = "é" * (WEBEX_MAX_BYTES // 2) + "a"

    assert utf8_size(content) == WEBEX_MAX_BYTES
    assert len(split_text("m1", content, markdown=False)) == 1


def test_split_text_long_markdown_fits_limit() -> None:
    content = long_markdown()

    parts = split_text("m1", content, markdown=True)

    assert utf8_size(content) >= 20_000
    assert len(parts) >= 3
    for part in parts:
        assert utf8_size(part.text) <= WEBEX_MAX_BYTES


def test_split_text_long_markdown_keeps_content() -> None:
    content = long_markdown()

    parts = split_text("m1", content, markdown=True)

    assert "".join(part.body for part in parts) == content


def test_split_text_long_markdown_keeps_graphemes() -> None:
    content = long_markdown()

    parts = split_text("m1", content, markdown=True)

    assert set(cut_offsets(parts)) <= grapheme_boundaries(content)


def test_split_text_long_markdown_reopens_fence() -> None:
    content = long_markdown()

    parts = split_text("m1", content, markdown=True)

    inside = [part for part in parts if part.prefix.endswith("```python title=check.py\n")]
    assert inside, "no part starts inside the code block"
    for part in parts:
        assert open_fence_after(part.text) is None, f"part {part.id} leaves a fence open"
    for part in inside:
        assert part.prefix == part_marker(part.index, part.count) + "```python title=check.py\n"


def test_split_text_numbers_parts_with_stable_ids() -> None:
    content = long_markdown()

    first = split_text("m1", content, markdown=True)
    second = split_text("m1", content, markdown=True)

    count = len(first)
    assert [part.id for part in first] == [f"m1#{i}/{count}" for i in range(1, count + 1)]
    assert [part.text for part in first] == [part.text for part in second]
    for part in first:
        assert part.text.startswith(f"({part.index}/{count})\n\n")


def test_split_text_prefers_paragraph_boundaries() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 30 + "\n\n" for i in range(40)]
    content = "".join(paragraphs)

    parts = split_text("m1", content, markdown=True, limit=1000)

    for part in parts[:-1]:
        assert part.body.endswith("\n\n"), f"part {part.id} ends mid-paragraph"


def test_split_text_long_line_cuts_at_spaces() -> None:
    content = "alpha " * 500

    parts = split_text("m1", content, markdown=False, limit=400)

    for part in parts[:-1]:
        assert part.body.endswith(" ")


def test_split_text_dense_line_cuts_between_graphemes() -> None:
    content = "👩‍👩‍👧‍👦e\u0301🇫🇷" * 600

    parts = split_text("m1", content, markdown=False)

    assert len(parts) > 1
    assert set(cut_offsets(parts)) <= grapheme_boundaries(content)


def test_split_text_rejects_limit_without_room() -> None:
    content = "```" + "x" * 150 + "\n" + "y" * 400 + "\n```\n"

    with pytest.raises(ValueError, match="no room for content"):
        split_text("m1", content, markdown=True, limit=120)


text_alphabet = st.sampled_from(
    [
        "a",
        "b",
        " ",
        "\n",
        "\n\n",
        "é",
        "e\u0301",
        "👍🏽",
        "👩‍👩‍👧‍👦",
        "🇫🇷",
        "\r\n",
        "```",
        "~~~",
        "`",
        "한",
        "\u200d",
    ]
)
markdown_text = st.lists(
    st.one_of(text_alphabet, st.sampled_from(["```python\n", "```\n", "~~~~ sh\n", "\n```\n"])),
    max_size=400,
).map("".join)
dense_text = st.lists(
    st.sampled_from(["e\u0301", "👍🏽", "👩‍👩‍👧‍👦", "🇫🇷", "a", "\u0915\u094d\u0937"]),
    min_size=50,
    max_size=600,
).map("".join)
limits = st.integers(min_value=120, max_value=600)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=markdown_text, limit=limits, markdown=st.booleans())
def test_split_text_every_part_within_limit(content: str, limit: int, markdown: bool) -> None:
    for part in split_text("m", content, markdown=markdown, limit=limit):
        assert utf8_size(part.text) <= limit


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=markdown_text, limit=limits, markdown=st.booleans())
def test_split_text_bodies_concatenate_to_content(content: str, limit: int, markdown: bool) -> None:
    parts = split_text("m", content, markdown=markdown, limit=limit)

    assert "".join(part.body for part in parts) == content
    for part in parts:
        assert part.text == part.prefix + part.body + part.suffix


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.one_of(markdown_text, dense_text), limit=limits, markdown=st.booleans())
def test_split_text_never_cuts_a_grapheme(content: str, limit: int, markdown: bool) -> None:
    parts = split_text("m", content, markdown=markdown, limit=limit)

    if max_cluster_bytes(content) <= limit // 4:
        assert set(cut_offsets(parts)) <= grapheme_boundaries(content)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=markdown_text, limit=limits)
def test_split_text_leaves_no_fence_open(content: str, limit: int) -> None:
    parts = split_text("m", content, markdown=True, limit=limit)

    if len(parts) > 1:
        for part in parts:
            assert open_fence_after(part.text) is None


@settings(max_examples=100, deadline=None)
@given(content=st.text(max_size=3000), limit=limits)
def test_split_text_arbitrary_unicode_stays_valid(content: str, limit: int) -> None:
    parts = split_text("m", content, markdown=True, limit=limit)

    assert "".join(part.body for part in parts) == content
    for part in parts:
        assert utf8_size(part.text) <= limit
        part.text.encode("utf-8")
