"""Find the bot's own mention in a received message and cut it out of the command text.

In a group room Webex delivers only messages that mention the bot, and the mention can sit
anywhere. The plain ``text`` shows the mention as whatever name the author's client
inserted, often only the first name. So the mention is located by the bot's person id. The
message ``html`` wraps each mention in a ``<spark-mention data-object-id="...">`` element,
whose id is either the base64 REST id or the raw UUID inside it. Aligning the html's text
with ``text`` shows which characters of ``text`` are the bot's mention. Other people's
mentions stay in the command text, where they can be arguments.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser

# Tags after which a browser starts a new line; the plain text has a line break there.
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
)
# Punctuation that may follow the bot's mention and is not part of the command.
MENTION_PUNCTUATION = ",:;"
_AFTER_MENTION = re.compile(r"^\s*[,:;]")


@dataclass(frozen=True)
class Segment:
    """A run of the html's text: plain text, or one mention with the id it carries."""

    text: str
    mention_id: str | None = None


@dataclass(frozen=True)
class Mention:
    """Another person's mention as it appears in the command text, with its span there."""

    person_id: str
    start: int
    end: int


@dataclass(frozen=True)
class CommandText:
    """The text a command is parsed from, and where other people's mentions sit in it."""

    text: str
    bot_mentioned: bool
    mentions: tuple[Mention, ...] = ()

    @property
    def leading_mentions_end(self) -> int:
        """Offset just after the mentions that open the text, or 0 if it opens with words."""
        end = 0
        for mention in self.mentions:
            gap = self.text[end : mention.start]
            if gap.strip(" \t\n" + MENTION_PUNCTUATION):
                break
            end = mention.end
        return end


def person_uuid(person_id: str) -> str | None:
    """Return the lowercase UUID of a person id given as REST id or raw UUID; None if neither.

    A REST id is base64 (URL-safe or not, padding optional) of
    ``ciscospark://<region>/PEOPLE/<uuid>``.
    """
    candidate = person_id.strip()
    try:
        return str(uuid.UUID(candidate))
    except ValueError:
        pass
    padded = candidate + "=" * (-len(candidate) % 4)
    try:
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        uri = decoded.decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    scheme, _, path = uri.partition("://")
    resource, _, tail = path.rpartition("/")
    if scheme != "ciscospark" or not resource.upper().endswith("PEOPLE"):
        return None
    try:
        return str(uuid.UUID(tail))
    except ValueError:
        return None


def same_person(first: str, second: str) -> bool:
    """Tell whether two person ids, each in REST or raw UUID form, name the same person."""
    if first == second:
        return True
    first_uuid, second_uuid = person_uuid(first), person_uuid(second)
    return first_uuid is not None and first_uuid == second_uuid


class _MentionParser(HTMLParser):
    """Split message html into text segments and person mentions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segments: list[Segment] = []
        self._plain: list[str] = []
        self._mention_id: str | None = None
        self._mention_text: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._mention_id is not None:
            self._depth += 1 if tag == "spark-mention" else 0
            return
        if tag == "spark-mention":
            values = dict(attrs)
            if (values.get("data-object-type") or "person") == "person":
                self._flush_plain()
                self._mention_id = values.get("data-object-id") or ""
                self._depth = 1
                return
        if tag in _BLOCK_TAGS:
            self._plain.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._mention_id is not None and tag == "spark-mention":
            self._depth -= 1
            if self._depth == 0:
                self.segments.append(Segment("".join(self._mention_text), self._mention_id))
                self._mention_id, self._mention_text = None, []
        elif self._mention_id is None and tag in _BLOCK_TAGS:
            self._plain.append("\n")

    def handle_data(self, data: str) -> None:
        if self._mention_id is not None:
            self._mention_text.append(data)
        else:
            self._plain.append(data)

    def finish(self) -> list[Segment]:
        self.close()
        if self._mention_id is not None:
            self.segments.append(Segment("".join(self._mention_text), self._mention_id))
            self._mention_id = None
        self._flush_plain()
        return self.segments

    def _flush_plain(self) -> None:
        if self._plain:
            self.segments.append(Segment("".join(self._plain)))
            self._plain = []


def parse_segments(html: str) -> list[Segment]:
    """Split message html into plain text and person mention segments, in order."""
    parser = _MentionParser()
    parser.feed(html)
    return parser.finish()


def _match_forward(text: str, start: int, fragment: str) -> int | None:
    """Match ``fragment`` at ``text[start:]`` ignoring whitespace; return the end offset."""
    position = start
    for char in fragment:
        if char.isspace():
            continue
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text) or text[position] != char:
            return None
        position += 1
    return position


# Alignment tries at most this many steps before falling back to the html's own text.
_ALIGN_STEP_LIMIT = 5000


class _Aligner:
    """Map html segments onto ``text``: which characters of ``text`` each segment covers.

    Plain segments must match exactly, ignoring whitespace. A mention may appear in
    ``text`` as its full name, as its first word, or as anything up to where the next
    segment matches, because clients shorten names. Choices are tried in that order,
    backtracking when a later segment does not fit.
    """

    def __init__(self, text: str, segments: Sequence[Segment]) -> None:
        self.text = text
        self.segments = segments
        self.steps = 0

    def align(self) -> list[tuple[int, int]] | None:
        return self._align(0, 0)

    def _align(self, index: int, position: int) -> list[tuple[int, int]] | None:
        self.steps += 1
        if self.steps > _ALIGN_STEP_LIMIT:
            return None
        if index == len(self.segments):
            return [] if not self.text[position:].strip() else None
        segment = self.segments[index]
        if segment.mention_id is None:
            end = _match_forward(self.text, position, segment.text)
            return self._then(index, position, end)
        for candidate in _shown_names(segment.text):
            end = _match_forward(self.text, position, candidate)
            found = self._then(index, position, end)
            if found is not None:
                return found
        for end in self._free_ends(position):
            found = self._then(index, position, end)
            if found is not None:
                return found
        return None

    def _then(self, index: int, start: int, end: int | None) -> list[tuple[int, int]] | None:
        if end is None:
            return None
        rest = self._align(index + 1, end)
        return None if rest is None else [(start, end), *rest]

    def _free_ends(self, start: int) -> list[int]:
        """Return where a shortened mention may end: word boundaries after ``start``."""
        text = self.text
        ends = [
            end
            for end in range(start + 1, len(text) + 1)
            if end == len(text) or not _is_word(text[end]) or not _is_word(text[end - 1])
        ]
        return ends


def _is_word(char: str) -> bool:
    return not char.isspace() and char not in MENTION_PUNCTUATION


def _shown_names(name: str) -> list[str]:
    """Return the forms a mention's name may take in ``text``: full, then first word."""
    forms = [name.strip()]
    words = name.split()
    if len(words) > 1:
        forms.append(words[0])
    return [form for form in forms if form]


def _bot_spans(
    text: str, segments: Sequence[Segment], bot_id: str
) -> tuple[list[tuple[int, int]], list[Mention]] | None:
    """Locate the bot's mentions and the other mentions in ``text``; None if they do not align."""
    is_bot = [s.mention_id is not None and same_person(s.mention_id, bot_id) for s in segments]
    if not any(is_bot):
        return None
    spans = _Aligner(text, segments).align()
    if spans is None:
        return None
    bot_spans: list[tuple[int, int]] = []
    others: list[Mention] = []
    for segment, bot, (start, end) in zip(segments, is_bot, spans, strict=True):
        if bot:
            bot_spans.append((start, end))
        elif segment.mention_id is not None:
            others.append(Mention(segment.mention_id, *_trimmed(text, start, end)))
    return bot_spans, others


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _removal(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a bot mention's span to the punctuation after it and to one side's whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    punctuation = _AFTER_MENTION.match(text[end:])
    if punctuation is not None:
        end += punctuation.end()
    if start == 0 or text[start - 1].isspace():
        while end < len(text) and text[end].isspace():
            end += 1
    return start, end


def _remove_spans(
    text: str, spans: Sequence[tuple[int, int]], mentions: Sequence[Mention]
) -> tuple[str, list[Mention]]:
    """Cut the bot's mention spans out of ``text`` and shift the other mentions to match."""
    pieces: list[str] = []
    removed: list[tuple[int, int]] = []
    cursor = 0
    for span in sorted(spans):
        start, end = _removal(text, max(span[0], cursor), max(span[1], cursor))
        pieces.append(text[cursor:start])
        removed.append((start, end))
        cursor = end
    pieces.append(text[cursor:])

    def shift(offset: int) -> int:
        return offset - sum(min(end, offset) - start for start, end in removed if start < offset)

    shifted = [Mention(m.person_id, shift(m.start), shift(m.end)) for m in mentions]
    return "".join(pieces), shifted


def _strip(text: str, mentions: Sequence[Mention]) -> CommandText:
    leading = len(text) - len(text.lstrip())
    stripped = text.strip()
    kept = tuple(
        Mention(m.person_id, m.start - leading, m.end - leading)
        for m in mentions
        if m.start >= leading and m.end - leading <= len(stripped)
    )
    return CommandText(stripped, bot_mentioned=True, mentions=kept)


def _strip_leading_name(text: str, names: Sequence[str]) -> str | None:
    """Remove a leading bot name (compared case-insensitively, as literal text) and punctuation."""
    folded = text.lstrip().casefold()
    offset = len(text) - len(text.lstrip())
    for name in sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True):
        if folded.startswith(name.casefold()):
            rest = text[offset + len(name) :]
            if rest[:1].isalnum():
                continue
            punctuation = _AFTER_MENTION.match(rest)
            return rest[punctuation.end() :] if punctuation else rest
    return None


def _from_segments(segments: Sequence[Segment], bot_id: str) -> tuple[str, list[Mention]]:
    """Build the command text from the html itself, for when it does not align with ``text``."""
    pieces: list[str] = []
    others: list[Mention] = []
    length = 0
    skip_punctuation = False
    for segment in segments:
        piece = segment.text
        if segment.mention_id is not None and same_person(segment.mention_id, bot_id):
            skip_punctuation = True
            continue
        if skip_punctuation:
            match = _AFTER_MENTION.match(piece)
            piece = piece[match.end() :] if match else piece
            skip_punctuation = False
        if segment.mention_id is not None:
            others.append(Mention(segment.mention_id, length, length + len(piece)))
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces), others


def extract_command_text(
    *,
    text: str | None,
    html: str | None,
    mentioned_people: Sequence[str],
    bot_id: str,
    room_type: str | None,
    bot_names: Sequence[str] = (),
) -> CommandText:
    """Return the text a command is parsed from.

    In a direct room that is the whole text. In a group room it is the text without the
    bot's own mention(s) and without one ``,`` ``:`` or ``;`` right after each. When the
    html has no mention of the bot, or does not align with the text, the html's own text
    is used, and without html a leading bot name from ``bot_names`` is removed.
    """
    plain = text or ""
    if room_type == "direct":
        return CommandText(plain.strip(), bot_mentioned=False)

    segments = parse_segments(html) if html else []
    located = _bot_spans(plain, segments, bot_id) if segments else None
    if located is not None:
        spans, others = located
        remaining, shifted = _remove_spans(plain, spans, others)
        return _strip(remaining, shifted)

    if any(s.mention_id is not None and same_person(s.mention_id, bot_id) for s in segments):
        remaining, others = _from_segments(segments, bot_id)
        return _strip(remaining, others)

    bot_listed = any(same_person(person, bot_id) for person in mentioned_people)
    stripped_name = _strip_leading_name(plain, bot_names) if bot_listed else None
    if stripped_name is not None:
        return CommandText(stripped_name.strip(), bot_mentioned=True)
    return CommandText(plain.strip(), bot_mentioned=bot_listed)
