"""Split text or markdown that exceeds Webex's per-message byte limit into numbered parts.

Webex rejects ``text`` or ``markdown`` over 7439 UTF-8 bytes with 400. :func:`split_text`
cuts such content into parts that each fit, preferring, in order: a paragraph or
code-fence boundary, a line boundary, a space, and last any grapheme cluster boundary.
A cut never falls inside a UTF-8 sequence. It falls inside a grapheme cluster only when
one cluster alone is larger than the room a part has.

A part cut inside a fenced code block gets the fence closed at its end, and the next
part reopens it with the same opening line (fence characters and info string), so every
part renders on its own. Parts of a split message start with a ``(i/n)`` marker line.
Each part keeps the text it was cut from in :attr:`Part.body`: the bodies concatenated
give back the original content exactly.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

import grapheme

WEBEX_MAX_BYTES = 7439

# A fence opening line: up to three spaces, three or more backticks or tildes, and an
# info string. Backtick fences cannot have a backtick in their info string (CommonMark).
_FENCE_OPEN = re.compile(r"^ {0,3}(?P<marker>`{3,}|~{3,})(?P<info>[^\n]*)\n?$")
# An info string longer than this is treated as text, so reopening a fence in every
# part can never eat most of a part's room.
_MAX_INFO_BYTES = 200


@dataclass(frozen=True)
class Fence:
    """An open fenced code block: its opening line and the line that closes it."""

    opening: str
    closing: str


@dataclass(frozen=True)
class Part:
    """One part of a split message.

    ``text`` is what is sent: ``prefix`` (part marker and reopened fence), ``body``
    (a slice of the original content) and ``suffix`` (a fence closing line).
    """

    id: str
    index: int
    count: int
    prefix: str
    body: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + self.body + self.suffix


@dataclass(frozen=True)
class _Line:
    text: str
    size: int
    fence_before: Fence | None
    fence_after: Fence | None


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def part_id(message_id: str, index: int, count: int) -> str:
    """Return the stable id of part ``index`` (1-based) of ``count``; a lone part keeps the id."""
    if count == 1:
        return message_id
    return f"{message_id}#{index}/{count}"


def part_marker(index: int, count: int) -> str:
    return f"({index}/{count})\n\n"


def split_text(
    message_id: str, content: str, *, markdown: bool, limit: int = WEBEX_MAX_BYTES
) -> list[Part]:
    """Split ``content`` into parts of at most ``limit`` UTF-8 bytes each.

    Content within the limit comes back as one part with the message id and no marker.
    Fences are tracked only when ``markdown`` is true. Raises ValueError when ``limit``
    leaves no room for content next to a part marker and a reopened fence.
    """
    if utf8_size(content) <= limit:
        return [Part(message_id, 1, 1, "", content, "")]

    lines = _scan_lines(content, markdown)
    count_digits = 1
    while True:
        marker_size = utf8_size(part_marker(10**count_digits - 1, 10**count_digits - 1))
        bodies = _pack(lines, limit - marker_size)
        if len(str(len(bodies))) <= count_digits:
            break
        count_digits = len(str(len(bodies)))

    count = len(bodies)
    return [
        Part(
            part_id(message_id, index, count),
            index,
            count,
            part_marker(index, count) + prefix,
            body,
            suffix,
        )
        for index, (prefix, body, suffix) in enumerate(bodies, start=1)
    ]


def _scan_lines(content: str, markdown: bool) -> list[_Line]:
    """Cut content after each newline and note the open fence before and after each line."""
    texts = [text + "\n" for text in content.split("\n")]
    texts[-1] = texts[-1].removesuffix("\n")
    lines: list[_Line] = []
    fence: Fence | None = None
    for text in texts:
        if not text:
            continue
        before = fence
        if markdown:
            fence = _next_fence_state(fence, text)
        lines.append(_Line(text, utf8_size(text), before, fence))
    return lines


def _next_fence_state(fence: Fence | None, line: str) -> Fence | None:
    match = _FENCE_OPEN.match(line)
    if fence is None:
        if match is None:
            return None
        marker, info = match["marker"], match["info"]
        if (marker[0] == "`" and "`" in info) or utf8_size(info) > _MAX_INFO_BYTES:
            return None
        return Fence(opening=line if line.endswith("\n") else line + "\n", closing=marker)
    if match is not None and not match["info"].strip():
        marker = match["marker"]
        if marker[0] == fence.closing[0] and len(marker) >= len(fence.closing):
            return None
    return fence


def _prefix_of(first: _Line) -> str:
    return first.fence_before.opening if first.fence_before else ""


def _suffix_of(body_end: str, last: _Line) -> str:
    if last.fence_after is None:
        return ""
    newline = "" if body_end.endswith("\n") else "\n"
    return newline + last.fence_after.closing


def _part_size(lines: list[_Line], body_size: int) -> int:
    prefix = _prefix_of(lines[0])
    suffix = _suffix_of(lines[-1].text, lines[-1])
    return utf8_size(prefix) + body_size + utf8_size(suffix)


def _pack(lines: list[_Line], room: int) -> list[tuple[str, str, str]]:
    """Pack lines greedily into parts of at most ``room`` bytes: (prefix, body, suffix)."""
    parts: list[tuple[str, str, str]] = []
    current: list[_Line] = []
    current_size = 0
    queue = deque(lines)
    while queue:
        line = queue.popleft()
        if _part_size([*current, line], current_size + line.size) <= room:
            current.append(line)
            current_size += line.size
            continue
        if not current:
            queue.extendleft(reversed(_split_line(line, room)))
            continue
        cut = _best_cut(current, room)
        parts.append(_render(current[:cut]))
        queue.appendleft(line)
        queue.extendleft(reversed(current[cut:]))
        current, current_size = [], 0
    if current:
        parts.append(_render(current))
    return parts


def _render(lines: list[_Line]) -> tuple[str, str, str]:
    body = "".join(line.text for line in lines)
    return _prefix_of(lines[0]), body, _suffix_of(body, lines[-1])


def _best_cut(lines: list[_Line], room: int) -> int:
    """Return how many lines the part keeps: up to the last block boundary in its second half.

    A block boundary follows a blank line outside a fence, precedes a fence's opening
    line, or follows its closing line. Without one, the part ends at its last line,
    unless that line opens a fence, which then moves to the next part.
    """
    kept = sum(line.size for line in lines)
    for cut in range(len(lines) - 1, 0, -1):
        kept -= lines[cut].size
        if kept < room // 2:
            break
        if _is_block_boundary(lines[cut - 1], lines[cut]):
            return cut
    last = lines[-1]
    if len(lines) > 1 and last.fence_before is None and last.fence_after is not None:
        return len(lines) - 1
    return len(lines)


def _is_block_boundary(previous: _Line, following: _Line) -> bool:
    if previous.fence_after is not None:
        return False
    if previous.fence_before is not None:
        return True
    if following.fence_before is None and following.fence_after is not None:
        return True
    return not previous.text.strip()


def _split_line(line: _Line, room: int) -> list[_Line]:
    """Cut a line too long for one part into pieces at spaces or grapheme boundaries."""
    fence = line.fence_before if line.fence_before == line.fence_after else None
    overhead = utf8_size(fence.opening) + 1 + utf8_size(fence.closing) if fence else 0
    piece_room = room - overhead
    if piece_room < 1:
        raise ValueError(
            f"a part limit of {room} bytes after the part marker leaves no room for content; "
            "use a limit of at least a few hundred bytes"
        )
    pieces = _cut_at_graphemes(line.text, piece_room)
    return [_Line(piece, utf8_size(piece), fence, fence) for piece in pieces]


def _cut_at_graphemes(text: str, room: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    last_space = -1
    for cluster in grapheme.graphemes(text):
        cluster_size = utf8_size(cluster)
        while size + cluster_size > room and current:
            cut = last_space + 1 if last_space >= len(current) // 2 else len(current)
            pieces.append("".join(current[:cut]))
            current = current[cut:]
            size = sum(utf8_size(kept) for kept in current)
            last_space = -1
        if cluster_size > room:
            pieces.extend(_cut_at_code_points(cluster, room))
            continue
        current.append(cluster)
        size += cluster_size
        if cluster.isspace():
            last_space = len(current) - 1
    if current:
        pieces.append("".join(current))
    return pieces


def _cut_at_code_points(cluster: str, room: int) -> list[str]:
    # NOTE: a grapheme cluster larger than a part (thousands of combining marks) is the
    # one case cut inside a cluster. The cut still falls between code points.
    pieces: list[str] = []
    current = ""
    for char in cluster:
        if utf8_size(current + char) > room:
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces
